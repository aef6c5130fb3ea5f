// Hub ids downloaded as ms-swift downloads them: from ModelScope by default (its public file API as
// `modelscope download` uses it), from the Hugging Face hub with --use_hf, into the same cache layouts their
// own tools read, so a later `swift`, `modelscope` or transformers run finds the files.
//
// Every file is fetched into a temporary file that a later run resumes with a ranged request (an interrupted
// download, a killed process), checked against the hub's sha256 (git's blob sha1 for Hugging Face files kept
// outside LFS) and only then moved into place; a file that does not match is fetched again. One process per
// cache folder downloads (a lock file in the cache: the ranks of a node, and nodes that share the file
// system), the others wait for it and use what it wrote. The token travels only in the request (ModelScope's
// m_session_id cookie, Hugging Face's Authorization header), never in a log line or a file.
#pragma once

#include <optional>
#include <string>

#include "hub/cache.h"

namespace zt::hub {

struct HubAccess {
  bool use_hf = false;
  std::optional<std::string> token;  // --hub_token; else MODELSCOPE_API_TOKEN or the saved login, HF_TOKEN
  std::string revision;              // empty: master (ModelScope, as ms-swift asks), main (Hugging Face)
};

// Downloads are off: MODELSCOPE_OFFLINE (ModelScope) or HF_HUB_OFFLINE (Hugging Face) is 1, true, yes or on.
bool hub_offline(bool use_hf);

// The local folder of the repository `id` ("owner/name"), downloaded or completed now. A zt::Error when the
// hub has no such repository or refuses the token; a zt::SystemError when the network or the hub fails.
std::string download_snapshot(RepoKind kind, const std::string& id, const HubAccess& access);

// A ModelScope cache folder's revision as its .mv records it ("Revision:master,CreatedAt:..." for models, the
// bare revision for datasets); empty when it records none.
std::string modelscope_revision(const std::string& folder);

// Whether a download of this folder was started and not finished (its files may be partial).
bool download_unfinished(RepoKind kind, const std::string& id, bool use_hf);

}  // namespace zt::hub
