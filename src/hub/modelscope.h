// A ModelScope hub client (REFERENCE.md section 7) over libcurl: login, repository creation, LFS batch
// upload and commits. Requests that fail with a 5xx status or a connection error are retried with
// exponential backoff; LFS objects the hub already has are not sent again, so a failed upload resumes by
// running it again. The token travels only in the m_session_id cookie and is never logged.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace zt::hub {

struct HubOptions {
  std::string endpoint;  // default: $MODELSCOPE_DOMAIN, else https://www.modelscope.cn
  std::string token;
  int max_attempts = 5;
  double first_backoff_seconds = 0.5;
};

// The token to use: the flag, else $MODELSCOPE_API_TOKEN, else the one `ztune login` saved; a zt::Error
// says how to provide one when there is none.
std::string resolve_hub_token(const std::optional<std::string>& flag);
std::string default_hub_endpoint();
// The message of a hub's error answer: ModelScope's envelope {"Code","Success","Message","Data"} or Hugging
// Face's {"error"}; else the start of the body.
std::string hub_message(const std::string& body);

struct UploadItem {
  std::string local_path;    // a file
  std::string path_in_repo;  // where it goes
};

class HubClient {
 public:
  explicit HubClient(HubOptions options);
  ~HubClient();
  HubClient(const HubClient&) = delete;
  HubClient& operator=(const HubClient&) = delete;

  // Checks the token with the hub; returns the user name the hub reports (may be empty).
  std::string login();
  // Creates the repository when it does not exist. `kind`: "model" or "dataset".
  void ensure_repo(const std::string& kind, const std::string& repo_id, bool is_private);
  // Uploads the files (LFS for large or binary ones, inline for small text) in one commit.
  void upload(const std::string& kind, const std::string& repo_id, const std::vector<UploadItem>& files,
              const std::string& commit_message, const std::string& revision = "master");

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  Response request(const std::string& method, const std::string& url, const std::string& body,
                   const std::vector<std::string>& headers, const std::string& upload_file = "");
  Response call(const std::string& method, const std::string& path, const std::string& body,
                const std::string& content_type = "application/json");
  HubOptions options_;
};

// Saves the token for later commands (~/.modelscope/credentials/ztune_token, mode 0600).
void save_hub_token(const std::string& token);

// Every file under `local` (a file or a folder), as items under `path_in_repo` (folder-relative paths).
std::vector<UploadItem> upload_items(const std::string& local, const std::string& path_in_repo);

// What of a checkpoint or model folder goes to the hub: the adapter or model files, configs, tokenizer
// and args.json, without the optimizer shards, their manifest and trainer_state.json.
std::vector<UploadItem> publishable_items(const std::string& folder);

// --push_to_hub: creates the model repository if needed and commits the folder's publishable files.
void push_folder(const std::string& folder, const std::string& repo_id, const std::optional<std::string>& token,
                 bool is_private, const std::string& commit_message);

}  // namespace zt::hub
