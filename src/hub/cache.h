// Hub ids (Qwen/Qwen2.5-7B-Instruct) resolved from the local caches, since ztune never downloads while
// training: ModelScope's cache by default, Hugging Face's with --use_hf.
#pragma once

#include <string>
#include <vector>

namespace zt::hub {

enum class RepoKind { model, dataset };

// A local folder is returned as is. Otherwise the cached snapshot of the id; a zt::Error lists the
// places looked in and what to do when it is in none.
std::string resolve_model_dir(const std::string& model, bool use_hf);

// The data files (.jsonl, .json, .csv, sorted) of a cached dataset id, `subset` choosing a subfolder or
// file stem when given; empty when the id is not cached. `looked` receives the places tried.
std::vector<std::string> cached_dataset_files(const std::string& id, const std::string& subset, bool use_hf,
                                              std::vector<std::string>& looked);

}  // namespace zt::hub
