// Where the hubs' own tools keep what they download (ModelScope's SDK, huggingface_hub), shared by the cache lookup
// (cache.cpp) and the downloader (download.cpp), so both read the same environment the same way.
#pragma once

#include <filesystem>
#include <string>

#include "hub/cache.h"

namespace zt::hub {

// $MODELSCOPE_CACHE, else ~/.cache/modelscope/hub.
std::filesystem::path modelscope_cache_root();
// A name as ModelScope's cache spells it: every "." written "___".
std::string modelscope_escaped(std::string name);
// $HF_HOME, else ~/.cache/huggingface (where the saved token is).
std::filesystem::path huggingface_home();
// $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub.
std::filesystem::path huggingface_cache_root();
// models--OWNER--NAME or datasets--OWNER--NAME.
std::string huggingface_repo_folder(RepoKind kind, const std::string& id);
// "OWNER/NAME" split in two; a zt::Error when the id has another shape.
void split_repo_id(const std::string& id, std::string& owner, std::string& name);

}  // namespace zt::hub
