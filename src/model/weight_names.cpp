#include "model/weight_names.h"

#include <cctype>

namespace zt::model {
namespace {

constexpr const char* kLayersPrefix = "model.layers.";

}  // namespace

std::string layer_prefix(int64_t layer) { return kLayersPrefix + std::to_string(layer) + "."; }

std::string module_path(int64_t layer, const std::string& block, const std::string& name) {
  return layer_prefix(layer) + block + "." + name;
}

bool is_peft_name(const std::string& name) { return name.rfind(kPeftPrefix, 0) == 0; }

std::string without_peft_prefix(const std::string& name) {
  return is_peft_name(name) ? name.substr(std::char_traits<char>::length(kPeftPrefix)) : name;
}

int64_t layer_of(const std::string& name) {
  const std::string hf = without_peft_prefix(name);
  const std::string prefix = kLayersPrefix;
  if (hf.rfind(prefix, 0) != 0) return -1;
  int64_t layer = 0;
  size_t i = prefix.size();
  if (i >= hf.size() || !std::isdigit(static_cast<unsigned char>(hf[i]))) return -1;
  for (; i < hf.size() && std::isdigit(static_cast<unsigned char>(hf[i])); ++i) layer = layer * 10 + (hf[i] - '0');
  return i < hf.size() && hf[i] == '.' ? layer : -1;
}

}  // namespace zt::model
