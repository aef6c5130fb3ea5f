#include "hub/cache_layout.h"

#include <cstdlib>

#include "core/check.h"

namespace zt::hub {
namespace {

namespace fs = std::filesystem;

std::string environment_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

fs::path user_home() {
  const std::string value = environment_value("HOME");
  return value.empty() ? fs::path("/root") : fs::path(value);
}

}  // namespace

fs::path modelscope_cache_root() {
  const std::string value = environment_value("MODELSCOPE_CACHE");
  return value.empty() ? user_home() / ".cache/modelscope/hub" : fs::path(value);
}

std::string modelscope_escaped(std::string name) {
  for (size_t at = name.find('.'); at != std::string::npos; at = name.find('.', at + 3)) name.replace(at, 1, "___");
  return name;
}

fs::path huggingface_home() {
  const std::string value = environment_value("HF_HOME");
  return value.empty() ? user_home() / ".cache/huggingface" : fs::path(value);
}

fs::path huggingface_cache_root() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})
    if (const std::string value = environment_value(name); !value.empty()) return value;
  return huggingface_home() / "hub";
}

std::string huggingface_repo_folder(RepoKind kind, const std::string& id) {
  std::string folder = (kind == RepoKind::model ? "models--" : "datasets--") + id;
  for (size_t at = folder.find('/'); at != std::string::npos; at = folder.find('/', at)) folder.replace(at, 1, "--");
  return folder;
}

void split_repo_id(const std::string& id, std::string& owner, std::string& name) {
  const size_t slash = id.find('/');
  ZT_REQUIRE(slash != std::string::npos && slash > 0 && slash + 1 < id.size() && id.find('/', slash + 1) == std::string::npos,
             "hub repository '" << id << "': expected OWNER/NAME");
  owner = id.substr(0, slash);
  name = id.substr(slash + 1);
}

}  // namespace zt::hub
