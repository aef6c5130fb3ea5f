// Hub ids (Qwen/Qwen2.5-7B-Instruct) resolved as ms-swift resolves them: a complete snapshot in the local cache
// (ModelScope's by default, Hugging Face's with --use_hf) is used as it is, without the network; otherwise it
// is downloaded (download.h) unless downloads are off.
#pragma once

#include <string>
#include <vector>

namespace zt::hub {

enum class RepoKind { model, dataset };
struct HubAccess;

// A local folder with config.json is returned as is; otherwise the snapshot of the hub id, downloaded when
// it is not cached. A zt::Error lists the places looked in and what to do.
std::string resolve_model_dir(const std::string& model, const HubAccess& access);
std::string resolve_model_dir(const std::string& model, bool use_hf);
// The same for an adapter (a folder or repository with adapter_config.json).
std::string resolve_adapter_dir(const std::string& adapter, const HubAccess& access);

// The data files (.jsonl, .json, .csv, sorted) of a cached dataset id, `subset` choosing a subfolder or
// file stem when given; empty when the id is not cached. `looked` receives the places tried.
std::vector<std::string> cached_dataset_files(const std::string& id, const std::string& subset, bool use_hf,
                                              std::vector<std::string>& looked);
// The data files of a dataset id, downloaded when not cached; a zt::Error when there are none.
std::vector<std::string> dataset_files(const std::string& id, const std::string& subset, const HubAccess& access);

}  // namespace zt::hub
