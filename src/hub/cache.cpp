#include "hub/cache.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/log.h"
#include "hub/cache_layout.h"
#include "hub/download.h"

namespace zt::hub {
namespace {

namespace fs = std::filesystem;

// ModelScope: modelscope_cache_root()/{models,datasets}/org/name; older
// versions stored models at hub/org/name with dots in the name written as "___".
std::vector<fs::path> modelscope_candidates(const std::string& id, RepoKind kind) {
  const fs::path root = modelscope_cache_root();
  const std::string escaped = modelscope_escaped(id);
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

bool is_commit(const std::string& text) {
  return text.size() == 40 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Hugging Face: huggingface_cache_root()/models--org--name/
// snapshots/<commit>, the commit named by refs/<revision> (main by default; else the only snapshot), or the
// revision itself when it is a commit.
std::vector<fs::path> huggingface_candidates(const std::string& id, RepoKind kind, const std::string& wanted,
                                             std::vector<std::string>& looked) {
  const fs::path repo = huggingface_cache_root() / huggingface_repo_folder(kind, id);
  looked.push_back(repo.string());
  if (is_commit(wanted)) return {repo / "snapshots" / wanted};
  std::string revision;
  std::ifstream(repo / "refs" / (wanted.empty() ? "main" : wanted)) >> revision;
  if (!revision.empty()) return {repo / "snapshots" / revision};
  if (!wanted.empty()) return {};
  std::vector<fs::path> snapshots;
  std::error_code ignored;
  if (fs::is_directory(repo / "snapshots", ignored))
    for (const auto& entry : fs::directory_iterator(repo / "snapshots")) snapshots.push_back(entry.path());
  return snapshots.size() == 1 ? snapshots : std::vector<fs::path>{};
}

// The cached folders that may hold the id; with a revision asked for (--model_revision), only those recorded
// at that revision.
std::vector<fs::path> candidates(const std::string& id, RepoKind kind, bool use_hf, std::vector<std::string>& looked,
                                 const std::string& revision = "") {
  if (use_hf) return huggingface_candidates(id, kind, revision, looked);
  std::vector<fs::path> out;
  for (const fs::path& p : modelscope_candidates(id, kind)) {
    looked.push_back(p.string() + (revision.empty() ? "" : " at revision " + revision));
    if (revision.empty() || modelscope_revision(p.string()) == revision) out.push_back(p);
  }
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

// A folder holding `marker`, a cached snapshot of the hub id, or one downloaded now.
std::string resolve_repo_dir(const std::string& spec, const std::string& flag, const std::string& marker,
                             const HubAccess& access) {
  if (fs::exists(fs::path(spec) / marker)) return spec;
  ZT_REQUIRE(!fs::is_directory(spec), flag << " " << spec << ": the folder has no " << marker);
  ZT_REQUIRE(!is_explicit_path(spec) && spec.find('/') != std::string::npos && spec.find('/') == spec.rfind('/'),
             flag << " " << spec << ": no such folder (" << flag << " takes a folder with " << marker
                  << ", or a hub id such as Qwen/Qwen2.5-7B-Instruct)");
  const bool use_hf = access.use_hf;
  std::vector<std::string> looked;
  // A download in progress creates its marker before the first file and removes it after the last, so a
  // file seen before the marker is checked comes from a finished download.
  for (const fs::path& candidate : candidates(spec, RepoKind::model, use_hf, looked, access.revision))
    if (fs::exists(candidate / marker) && !download_unfinished(RepoKind::model, spec, use_hf)) return candidate.string();
  const std::string hub = use_hf ? "Hugging Face" : "ModelScope";
  ZT_REQUIRE(!hub_offline(use_hf), flag << " " << spec << ": not a local folder, and not in the " << hub << " cache (looked in "
                                        << joined(looked) << "); downloads are off (" << (use_hf ? "HF_HUB_OFFLINE" : "MODELSCOPE_OFFLINE")
                                        << "): fetch it first (" << (use_hf ? "hf download " : "modelscope download --model ")
                                        << spec << ") or pass a local folder");
  std::string folder;
  try {
    folder = download_snapshot(RepoKind::model, spec, access);
  } catch (const SystemError& error) {
    ZT_SYSTEM_THROW(flag << " " << spec << ": not a local folder, not in the " << hub << " cache (looked in " << joined(looked)
                         << "), and the download failed: " << error.what());
  } catch (const Error& error) {
    ZT_THROW(flag << " " << spec << ": not a local folder, and not a repository ztune can download: " << error.what());
  }
  ZT_REQUIRE(fs::exists(fs::path(folder) / marker),
             flag << " " << spec << ": the " << hub << " repository has no " << marker << " (downloaded to " << folder << ")");
  return folder;
}

// The data files of a dataset folder, `subset` choosing a subfolder or file stem.
std::vector<std::string> data_files(const fs::path& folder, const std::string& subset) {
  std::vector<std::string> files;
  std::error_code ignored;
  if (!fs::is_directory(folder, ignored)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file() || !is_data_file(entry.path())) continue;
    const std::string relative = entry.path().lexically_relative(folder).string();  // not through links
    if (relative.rfind(".", 0) == 0) continue;  // hidden metadata folders
    if (!subset.empty() && subset != "default" && entry.path().stem() != subset && relative.rfind(subset + "/", 0) != 0)
      continue;
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string resolve_model_dir(const std::string& model, const HubAccess& access) {
  return resolve_repo_dir(model, "--model", "config.json", access);
}

std::string resolve_model_dir(const std::string& model, bool use_hf) {
  HubAccess access;
  access.use_hf = use_hf;
  return resolve_model_dir(model, access);
}

std::string resolve_adapter_dir(const std::string& adapter, const HubAccess& access) {
  return resolve_repo_dir(adapter, "--adapters", "adapter_config.json", access);
}

std::vector<std::string> cached_dataset_files(const std::string& id, const std::string& subset, bool use_hf,
                                              std::vector<std::string>& looked) {
  for (const fs::path& candidate : candidates(id, RepoKind::dataset, use_hf, looked)) {
    std::vector<std::string> files = data_files(candidate, subset);
    if (!files.empty()) return download_unfinished(RepoKind::dataset, id, use_hf) ? std::vector<std::string>{} : files;
  }
  return {};
}

std::vector<std::string> dataset_files(const std::string& id, const std::string& subset, const HubAccess& access) {
  std::vector<std::string> looked;
  std::vector<std::string> files = cached_dataset_files(id, subset, access.use_hf, looked);
  if (!files.empty()) return files;
  const std::string hub = access.use_hf ? "Hugging Face" : "ModelScope";
  const std::string spec = id + (subset.empty() ? "" : ":" + subset);
  ZT_REQUIRE(!hub_offline(access.use_hf),
             "--dataset " << spec << ": no such file, and no cached " << hub << " dataset '" << id
                          << "' with .jsonl/.json/.csv files (looked in " << joined(looked) << "); downloads are off ("
                          << (access.use_hf ? "HF_HUB_OFFLINE" : "MODELSCOPE_OFFLINE") << "): fetch it first or pass a file");
  std::string folder;
  try {
    folder = download_snapshot(RepoKind::dataset, id, access);
  } catch (const SystemError& error) {
    ZT_SYSTEM_THROW("--dataset " << spec << ": no such file, not in the " << hub << " cache (looked in " << joined(looked)
                                 << "), and the download failed: " << error.what());
  }
  files = data_files(folder, subset);
  ZT_REQUIRE(!files.empty(), "--dataset " << spec << ": the " << hub << " dataset has no .jsonl/.json/.csv files"
                                          << (subset.empty() ? "" : " in subset '" + subset + "'") << " (downloaded to "
                                          << folder << ")");
  return files;
}

}  // namespace zt::hub
