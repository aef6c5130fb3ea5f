#include "model/family/family.h"

#include "core/check.h"

namespace zt::model {

const std::vector<const Family*>& families() {
  static const std::vector<const Family*> all = {&qwen2_family(), &llama_family(), &qwen3_family()};
  return all;
}

const Family& family_of(const std::string& architecture, const std::string& path) {
  std::string known;
  for (const Family* family : families()) {
    if (family->architecture == architecture) return *family;
    known += (known.empty() ? "" : ", ") + family->architecture;
  }
  ZT_THROW(path << ": architecture '" << architecture << "' is not supported; ztune trains " << known);
}

}  // namespace zt::model
