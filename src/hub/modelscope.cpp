#include "hub/modelscope.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/check.h"
#include "core/log.h"
#include "hub/cache_layout.h"
#include "hub/sha256.h"

namespace zt::hub {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kLfsThreshold = 1 << 20;

fs::path credentials_file() {
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr ? home : "/root") / ".modelscope" / "credentials" / "ztune_token";
}

bool is_lfs(const std::string& path, uint64_t size) {
  static const char* suffixes[] = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".jsonl", ".parquet",
                                   ".arrow", ".zip", ".tar", ".gz", ".npy", ".onnx", ".gguf", ".msgpack", ".model"};
  if (size > kLfsThreshold) return true;
  for (const char* suffix : suffixes) {
    const std::string s(suffix);
    if (path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    out += table[v >> 18], out += table[(v >> 12) & 63], out += table[(v >> 6) & 63], out += table[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += table[v >> 18], out += table[(v >> 12) & 63], out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += table[v >> 18], out += table[(v >> 12) & 63], out += table[(v >> 6) & 63], out += '=';
  }
  return out;
}

size_t collect(char* data, size_t size, size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

std::string plural(const std::string& kind) {
  ZT_REQUIRE(kind == "model" || kind == "dataset", "repository type '" << kind << "': expected model or dataset");
  return kind + "s";
}

}  // namespace

std::string hub_message(const std::string& body) {
  const json value = json::parse(body, nullptr, false);
  if (value.is_object())
    for (const char* key : {"Message", "error"})
      if (value.contains(key) && value[key].is_string()) return value[key];
  return body.substr(0, 200);
}

std::string default_hub_endpoint() {
  const char* domain = std::getenv("MODELSCOPE_DOMAIN");
  std::string endpoint = domain != nullptr && *domain != '\0' ? domain : "https://www.modelscope.cn";
  if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) endpoint = "https://" + endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

std::string resolve_hub_token(const std::optional<std::string>& flag) {
  if (flag.has_value() && !flag->empty()) return *flag;
  if (const char* env = std::getenv("MODELSCOPE_API_TOKEN"); env != nullptr && *env != '\0') return env;
  std::ifstream saved(credentials_file());
  std::string token;
  if (saved >> token && !token.empty()) return token;
  ZT_THROW("no hub token: pass --hub_token (or --token), set MODELSCOPE_API_TOKEN, or run 'ztune login --token T' once");
}

void save_hub_token(const std::string& token) {
  const fs::path path = credentials_file();
  fs::create_directories(path.parent_path());
  {
    std::ofstream out(path, std::ios::trunc);
    out << token << "\n";
    ZT_REQUIRE(out.good(), path.string() << ": cannot save the token");
  }
  ::chmod(path.c_str(), 0600);
}

std::vector<UploadItem> upload_items(const std::string& local, const std::string& path_in_repo) {
  ZT_REQUIRE(fs::exists(local), local << ": no such file or folder to upload");
  std::string prefix = path_in_repo;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::vector<UploadItem> items;
  if (fs::is_regular_file(local)) {
    items.push_back({local, prefix.empty() ? fs::path(local).filename().string() : prefix});
    return items;
  }
  for (const auto& entry : fs::recursive_directory_iterator(local)) {
    if (!entry.is_regular_file()) continue;
    const std::string relative = fs::relative(entry.path(), local).string();
    if (relative.rfind(".", 0) == 0) continue;  // hidden files and folders (.git, temporaries)
    items.push_back({entry.path().string(), prefix.empty() ? relative : prefix + "/" + relative});
  }
  std::sort(items.begin(), items.end(), [](const UploadItem& a, const UploadItem& b) { return a.path_in_repo < b.path_in_repo; });
  ZT_REQUIRE(!items.empty(), local << ": the folder holds no files to upload");
  return items;
}

HubClient::HubClient(HubOptions options) : options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = default_hub_endpoint();
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

HubClient::~HubClient() { curl_global_cleanup(); }

HubClient::Response HubClient::request(const std::string& method, const std::string& url, const std::string& body,
                                       const std::vector<std::string>& headers, const std::string& upload_file) {
  for (int attempt = 1;; ++attempt) {
    CURL* curl = curl_easy_init();
    ZT_CHECK(curl != nullptr, "curl_easy_init failed");
    Response response;
    curl_slist* list = nullptr;
    for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a transfer stalled for a minute fails (and is retried)
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    const std::string cookie = "m_session_id=" + options_.token;
    curl_easy_setopt(curl, CURLOPT_COOKIE, cookie.c_str());
    FILE* file = nullptr;
    if (!upload_file.empty()) {
      file = std::fopen(upload_file.c_str(), "rb");
      ZT_REQUIRE(file != nullptr, upload_file << ": cannot open for upload");
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_READDATA, file);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(fs::file_size(upload_file)));
    } else if (method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    } else if (method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    }
    const CURLcode code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    if (file != nullptr) std::fclose(file);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    const bool transient = code != CURLE_OK || response.status >= 500;
    // The URL is logged without its query (a signed upload URL may carry credentials in it).
    const std::string where = method + " " + url.substr(0, url.find('?'));
    if (!transient) return response;
    const std::string reason = code != CURLE_OK ? curl_easy_strerror(code) : "HTTP " + std::to_string(response.status);
    // The network or the hub failed, not the user's input: an environment error (exit 1).
    if (attempt >= options_.max_attempts)
      ZT_SYSTEM_THROW(where << " failed " << attempt << " times (" << reason
                            << "); check the network and the endpoint, or the hub may be down: try again later");
    const double wait = options_.first_backoff_seconds * double(1 << (attempt - 1));
    ZT_LOG_WARN(where << ": " << reason << "; retrying in " << wait << " s (attempt " << attempt + 1 << " of "
                      << options_.max_attempts << ")");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }
}

HubClient::Response HubClient::call(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& content_type) {
  Response response = request(method, options_.endpoint + path, body, {"Content-Type: " + content_type});
  ZT_REQUIRE(response.status != 401 && response.status != 403,
             "the hub refused the token (HTTP " << response.status << ": " << hub_message(response.body)
                                                << "); check --hub_token / MODELSCOPE_API_TOKEN or run 'ztune login'");
  return response;
}

std::string HubClient::login() {
  const Response response = call("POST", "/api/v1/login", json{{"AccessToken", options_.token}}.dump());
  ZT_REQUIRE(response.status == 200, "login failed (HTTP " << response.status << ": " << hub_message(response.body) << ")");
  const json value = json::parse(response.body, nullptr, false);
  ZT_REQUIRE(value.is_object() && value.value("Success", true), "login failed: " << hub_message(response.body));
  if (value.contains("Data") && value["Data"].is_object()) return value["Data"].value("Username", std::string());
  return "";
}

void HubClient::ensure_repo(const std::string& kind, const std::string& repo_id, bool is_private) {
  std::string owner, name;
  split_repo_id(repo_id, owner, name);
  const Response found = call("GET", "/api/v1/" + plural(kind) + "/" + owner + "/" + name, "");
  if (found.status == 200) return;
  ZT_REQUIRE(found.status == 404, "looking up " << kind << " " << repo_id << " failed (HTTP " << found.status << ": "
                                                << hub_message(found.body) << ")");
  const int visibility = is_private ? 1 : 5;
  Response created;
  if (kind == "model") {
    created = call("POST", "/api/v1/models",
                   json{{"Path", owner}, {"Name", name}, {"ChineseName", name}, {"Visibility", visibility},
                        {"License", "Apache License 2.0"}}.dump());
  } else {
    const std::string boundary = "ztune-form-boundary-7f3a9c";
    std::ostringstream form;
    for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
             {"Name", name}, {"Owner", owner}, {"ChineseName", name}, {"Visibility", std::to_string(visibility)},
             {"License", "Apache License 2.0"}})
      form << "--" << boundary << "\r\nContent-Disposition: form-data; name=\"" << field << "\"\r\n\r\n" << value << "\r\n";
    form << "--" << boundary << "--\r\n";
    created = call("POST", "/api/v1/datasets", form.str(), "multipart/form-data; boundary=" + boundary);
  }
  ZT_REQUIRE(created.status == 200 || created.status == 201,
             "creating " << kind << " " << repo_id << " failed (HTTP " << created.status << ": " << hub_message(created.body) << ")");
  ZT_LOG_INFO("created " << kind << " repository " << repo_id);
}

void HubClient::upload(const std::string& kind, const std::string& repo_id, const std::vector<UploadItem>& files,
                       const std::string& commit_message, const std::string& revision) {
  std::string owner, name;
  split_repo_id(repo_id, owner, name);
  const std::string repo_path = "/api/v1/repos/" + plural(kind) + "/" + owner + "/" + name;
  json actions = json::array(), objects = json::array();
  std::map<std::string, std::string> file_of_oid;
  for (const UploadItem& item : files) {
    const uint64_t size = fs::file_size(item.local_path);
    if (is_lfs(item.path_in_repo, size)) {
      const std::string oid = sha256_file_hex(item.local_path);
      objects.push_back({{"oid", oid}, {"size", size}});
      file_of_oid[oid] = item.local_path;
      actions.push_back({{"action", "create"}, {"path", item.path_in_repo}, {"type", "lfs"}, {"size", size}, {"sha256", oid}});
    } else {
      std::ifstream in(item.local_path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      actions.push_back({{"action", "create"}, {"path", item.path_in_repo}, {"type", "normal"}, {"encoding", "base64"},
                         {"content", base64(bytes)}});
    }
  }
  if (!objects.empty()) {
    const Response batch = call("POST", repo_path + "/info/lfs/objects/batch",
                                json{{"operation", "upload"}, {"objects", objects}}.dump());
    ZT_REQUIRE(batch.status == 200, "the LFS batch request for " << repo_id << " failed (HTTP " << batch.status << ": "
                                                                 << hub_message(batch.body) << ")");
    const json answer = json::parse(batch.body, nullptr, false);
    ZT_REQUIRE(answer.is_object() && answer.contains("objects"), "the hub's LFS batch answer is not understood");
    int sent = 0;
    for (const json& object : answer["objects"]) {
      if (!object.contains("actions") || !object["actions"].contains("upload")) continue;  // the hub has it already
      const std::string oid = object.value("oid", std::string());
      ZT_REQUIRE(file_of_oid.count(oid), "the hub asked for an object we did not offer");
      const json& upload = object["actions"]["upload"];
      std::vector<std::string> headers = {"Content-Type: application/octet-stream"};
      if (upload.contains("header"))
        for (const auto& [key, value] : upload["header"].items()) headers.push_back(key + ": " + value.get<std::string>());
      const Response put = request("PUT", upload.at("href").get<std::string>(), "", headers, file_of_oid[oid]);
      ZT_REQUIRE(put.status == 200 || put.status == 201, "uploading " << file_of_oid[oid] << " failed (HTTP " << put.status
                                                                      << ": " << hub_message(put.body) << ")");
      ++sent;
    }
    ZT_LOG_INFO(repo_id << ": " << sent << " of " << objects.size() << " large files sent (the hub had the rest)");
  }
  const Response commit = call("POST", repo_path + "/commit/" + revision,
                               json{{"commit_message", commit_message}, {"actions", actions}}.dump());
  ZT_REQUIRE(commit.status == 200 || commit.status == 201,
             "the commit to " << repo_id << " failed (HTTP " << commit.status << ": " << hub_message(commit.body) << ")");
  ZT_LOG_INFO("committed " << files.size() << " files to " << kind << " " << repo_id << " (" << revision << ")");
}

std::vector<UploadItem> publishable_items(const std::string& folder) {
  std::vector<UploadItem> items;
  for (const UploadItem& item : upload_items(folder, "")) {
    const std::string name = fs::path(item.path_in_repo).filename().string();
    if (name.rfind("zero_rank_", 0) == 0 || name == "zero_manifest.json" || name == "trainer_state.json" ||
        item.path_in_repo.find('/') != std::string::npos)
      continue;
    items.push_back(item);
  }
  ZT_REQUIRE(!items.empty(), folder << ": nothing to push");
  return items;
}

void push_folder(const std::string& folder, const std::string& repo_id, const std::optional<std::string>& token,
                 bool is_private, const std::string& commit_message) {
  ZT_REQUIRE(!repo_id.empty(), "--push_to_hub true needs --hub_model_id OWNER/NAME");
  const std::vector<UploadItem> items = publishable_items(folder);
  HubClient hub({"", resolve_hub_token(token)});
  hub.ensure_repo("model", repo_id, is_private);
  hub.upload("model", repo_id, items, commit_message);
}

}  // namespace zt::hub
