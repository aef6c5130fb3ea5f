#include "hub/cache.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace zt::hub {
namespace {

namespace fs = std::filesystem;

fs::path home() {
  const char* value = std::getenv("HOME");
  return value != nullptr ? fs::path(value) : fs::path("/root");
}

fs::path env_or(const char* name, const fs::path& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? fs::path(value) : fallback;
}

// ModelScope: $MODELSCOPE_CACHE (default ~/.cache/modelscope/hub)/{models,datasets}/org/name; older
// versions stored models at hub/org/name with dots in the name written as "___".
std::vector<fs::path> modelscope_candidates(const std::string& id, RepoKind kind) {
  const fs::path root = env_or("MODELSCOPE_CACHE", home() / ".cache/modelscope/hub");
  std::string escaped = id;
  for (size_t at = escaped.find('.'); at != std::string::npos; at = escaped.find('.', at + 3))
    escaped.replace(at, 1, "___");
  const fs::path sub = kind == RepoKind::model ? "models" : "datasets";
  std::vector<fs::path> out;
  for (const fs::path& candidate : {root / sub / id, root / sub / escaped, root / id, root / escaped})
    if (std::find(out.begin(), out.end(), candidate) == out.end()) out.push_back(candidate);
  return out;
}

// A hub id is "owner/name"; a path written as one (absolute, ./ or ../) is never looked up in a cache.
bool is_explicit_path(const std::string& text) {
  return !text.empty() && (text[0] == '/' || text[0] == '~' || text.rfind("./", 0) == 0 || text.rfind("../", 0) == 0);
}

// Hugging Face: $HF_HUB_CACHE (default $HF_HOME/hub, ~/.cache/huggingface/hub)/models--org--name/
// snapshots/<revision>, the revision named by refs/main (else the only snapshot).
std::vector<fs::path> huggingface_candidates(const std::string& id, RepoKind kind, std::vector<std::string>& looked) {
  const fs::path root = env_or("HF_HUB_CACHE", env_or("HF_HOME", home() / ".cache/huggingface") / "hub");
  std::string folder = (kind == RepoKind::model ? "models--" : "datasets--") + id;
  for (size_t at = folder.find('/'); at != std::string::npos; at = folder.find('/', at)) folder.replace(at, 1, "--");
  const fs::path repo = root / folder;
  looked.push_back(repo.string());
  std::string revision;
  std::ifstream(repo / "refs" / "main") >> revision;
  if (!revision.empty()) return {repo / "snapshots" / revision};
  std::vector<fs::path> snapshots;
  std::error_code ignored;
  if (fs::is_directory(repo / "snapshots", ignored))
    for (const auto& entry : fs::directory_iterator(repo / "snapshots")) snapshots.push_back(entry.path());
  return snapshots.size() == 1 ? snapshots : std::vector<fs::path>{};
}

std::vector<fs::path> candidates(const std::string& id, RepoKind kind, bool use_hf, std::vector<std::string>& looked) {
  if (use_hf) return huggingface_candidates(id, kind, looked);
  std::vector<fs::path> out = modelscope_candidates(id, kind);
  for (const fs::path& p : out) looked.push_back(p.string());
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i) out << (i ? ", " : "") << items[i];
  return out.str();
}

bool is_data_file(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".jsonl" || ext == ".json" || ext == ".csv";
}

}  // namespace

std::string resolve_model_dir(const std::string& model, bool use_hf) {
  if (fs::exists(fs::path(model) / "config.json")) return model;
  ZT_REQUIRE(!fs::is_directory(model), "--model " << model << ": the folder has no config.json");
  ZT_REQUIRE(!is_explicit_path(model), "--model " << model << ": no such folder (--model takes a model folder with "
                                                  "config.json, or a hub id such as Qwen/Qwen2.5-7B-Instruct in the cache)");
  std::vector<std::string> looked;
  for (const fs::path& candidate : candidates(model, RepoKind::model, use_hf, looked))
    if (fs::exists(candidate / "config.json")) return candidate.string();
  ZT_THROW("--model " << model << ": not a local folder, and not in the " << (use_hf ? "Hugging Face" : "ModelScope")
                      << " cache (looked in " << joined(looked) << "); ztune does not download while training: "
                      << "fetch it first (modelscope download --model " << model << ") or pass a local folder");
}

std::vector<std::string> cached_dataset_files(const std::string& id, const std::string& subset, bool use_hf,
                                              std::vector<std::string>& looked) {
  for (const fs::path& candidate : candidates(id, RepoKind::dataset, use_hf, looked)) {
    std::error_code ignored;
    if (!fs::is_directory(candidate, ignored)) continue;
    std::vector<std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(candidate)) {
      if (!entry.is_regular_file() || !is_data_file(entry.path())) continue;
      const std::string relative = fs::relative(entry.path(), candidate).string();
      if (relative.rfind(".", 0) == 0) continue;  // hidden metadata folders
      if (!subset.empty() && subset != "default" && entry.path().stem() != subset &&
          relative.rfind(subset + "/", 0) != 0)
        continue;
      files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) return files;
  }
  return {};
}

}  // namespace zt::hub
