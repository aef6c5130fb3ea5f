#include "hub/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "hub/cache_layout.h"
#include "hub/modelscope.h"
#include "hub/sha1.h"
#include "hub/sha256.h"

namespace zt::hub {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kAttempts = 5;          // per request, on a connection error or a 5xx answer
constexpr int kHashAttempts = 3;      // downloads of a file whose bytes do not match the hub's hash
constexpr double kFirstBackoff = 0.5;  // seconds, doubled at every retry

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

bool truthy(const std::string& value) {
  std::string lower = value;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "1" || lower == "true" || lower == "yes" || lower == "on";
}

std::string url_escape(const std::string& text, bool keep_slash, bool space_as_plus) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else if (c == ' ' && space_as_plus) {
      out += '+';
    } else {
      out += '%', out += hex[c >> 4], out += hex[c & 15];
    }
  }
  return out;
}

// ---- HTTP ----------------------------------------------------------------------------------------

struct Reply {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names, last value wins
};

size_t append_body(char* data, size_t size, size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

size_t keep_header(char* data, size_t size, size_t count, void* target) {
  std::string line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    (*static_cast<std::map<std::string, std::string>*>(target))[name] = value;
  }
  return size * count;
}

// Where a file's bytes go: appended to `file` while the answer is 200/206 (a 200 to a ranged request starts the
// file over), into `error_body` otherwise.
struct Sink {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  uint64_t offset = 0;  // bytes in the file before this request
  uint64_t written = 0;
  bool decided = false, to_file = false;
  std::string error_body;
  std::function<void(uint64_t)> progress;  // bytes now in the file
};

size_t sink_write(char* data, size_t size, size_t count, void* target) {
  Sink& sink = *static_cast<Sink*>(target);
  const size_t bytes = size * count;
  if (!sink.decided) {
    sink.decided = true;
    long status = 0;
    curl_easy_getinfo(sink.curl, CURLINFO_RESPONSE_CODE, &status);
    sink.to_file = status == 200 || status == 206;
    if (status == 200 && sink.offset > 0) {  // the server sent the whole file: start it over
      if (::ftruncate(fileno(sink.file), 0) != 0) return 0;
      std::fseek(sink.file, 0, SEEK_SET);
      sink.offset = 0;
    }
  }
  if (!sink.to_file) {
    if (sink.error_body.size() < 4096) sink.error_body.append(data, std::min<size_t>(bytes, 4096));
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, sink.file) != bytes) return 0;  // curl reports a write error
  sink.written += bytes;
  if (sink.progress) sink.progress(sink.offset + sink.written);
  return bytes;
}

class Http {
 public:
  // `cookie`: "name=value", sent to the endpoint's host only (not to a storage host a download is redirected to).
  Http(std::string endpoint, std::vector<std::string> headers, const std::string& cookie)
      : host_(std::move(endpoint)), headers_(std::move(headers)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const size_t equals = cookie.find('=');
    if (equals != std::string::npos) {
      std::string host = host_.substr(host_.find("://") == std::string::npos ? 0 : host_.find("://") + 3);
      host = host.substr(0, host.find_first_of(":/"));
      // Netscape cookie-file fields: host, include subdomains, path, secure only, expiry, name, value.
      cookie_ = host + "\tFALSE\t/\tFALSE\t0\t" + cookie.substr(0, equals) + "\t" + cookie.substr(equals + 1);
    }
  }
  ~Http() { curl_global_cleanup(); }

  // A GET whose body is kept; retried on connection errors and 5xx answers.
  Reply get(const std::string& url) {
    Reply reply;
    retry(url, [&](CURL* curl) {
      reply = Reply{};
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
      curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, keep_header);
      curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
      return &reply.status;
    });
    return reply;
  }

  // Fetches `url` into `partial`, resuming from the bytes already there with a ranged request (and after
  // every dropped connection), until it holds `size` bytes. Returns the final HTTP status (200/206 when the file
  // is whole) and, otherwise, the answer's body in `error_body`.
  long fetch(const std::string& url, const fs::path& partial, uint64_t size, const std::function<void(uint64_t)>& progress,
             std::string& error_body) {
    for (int attempt = 1;; ++attempt) {
      std::error_code ignored;
      uint64_t have = fs::exists(partial, ignored) ? fs::file_size(partial, ignored) : 0;
      if (have > size) fs::remove(partial, ignored), have = 0;
      if (size == 0) std::ofstream(partial, std::ios::binary | std::ios::trunc);  // nothing to ask for
      if (have == size) return 200;
      std::FILE* file = std::fopen(partial.c_str(), "ab");
      ZT_REQUIRE(file != nullptr, partial.string() << ": cannot write (" << std::strerror(errno) << ")");
      Sink sink;
      sink.file = file;
      sink.offset = have;
      sink.progress = progress;
      long status = 0;
      const CURLcode code = perform(url, [&](CURL* curl) {
        sink.curl = curl;
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        const std::string range = std::to_string(have) + "-" + std::to_string(size - 1);
        curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
        return &status;
      });
      const bool flushed = std::fclose(file) == 0;
      ZT_REQUIRE(flushed && code != CURLE_WRITE_ERROR,
                 partial.string() << ": cannot write (" << std::strerror(errno) << "; is the disk full?)");
      if (status == 416) {  // the range does not fit the file the hub has now: start over
        fs::remove(partial, ignored);
        backoff(attempt, "GET " + without_query(url), "HTTP 416 (range not satisfiable)");
        continue;
      }
      const bool transient = code != CURLE_OK || status >= 500;
      if (!transient && (status == 200 || status == 206)) {
        // A dropped connection can still end in CURLE_OK with fewer bytes; the loop resumes it.
        if (fs::file_size(partial, ignored) == size) return status;
      } else if (!transient) {
        error_body = sink.error_body;
        return status;
      }
      backoff(attempt, "GET " + without_query(url),
              code != CURLE_OK ? std::string(curl_easy_strerror(code)) : "HTTP " + std::to_string(status));
    }
  }

 private:
  static std::string without_query(const std::string& url) { return url.substr(0, url.find('?')); }

  void backoff(int attempt, const std::string& where, const std::string& reason) {
    // The network or the hub failed, not the user's input: an environment error (exit 1).
    if (attempt >= kAttempts)
      ZT_SYSTEM_THROW(where << " failed " << attempt << " times (" << reason << "); check the network and " << host_
                            << ", or the hub may be down: try again later (the download resumes where it stopped)");
    const double wait = kFirstBackoff * double(1 << (attempt - 1));
    ZT_LOG_WARN(where << ": " << reason << "; retrying in " << wait << " s (attempt " << attempt + 1 << " of " << kAttempts << ")");
    std::this_thread::sleep_for(std::chrono::duration<double>(wait));
  }

  template <typename Setup>
  CURLcode perform(const std::string& url, Setup setup) {
    CURL* curl = curl_easy_init();
    ZT_CHECK(curl != nullptr, "curl_easy_init failed");
    curl_slist* list = nullptr;
    for (const std::string& header : headers_) list = curl_slist_append(list, header.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ztune/" ZTUNE_VERSION);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a transfer stalled for a minute fails (and resumes)
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (!cookie_.empty()) {
      curl_easy_setopt(curl, CURLOPT_COOKIEFILE, "");  // the cookie engine, which scopes the cookie to its host
      curl_easy_setopt(curl, CURLOPT_COOKIELIST, cookie_.c_str());
    }
    long* status = setup(curl);
    const CURLcode code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return code;
  }

  template <typename Setup>
  void retry(const std::string& url, Setup setup) {
    for (int attempt = 1;; ++attempt) {
      long* status = nullptr;
      const CURLcode code = perform(url, [&](CURL* curl) { return status = setup(curl); });
      if (code == CURLE_OK && *status < 500) return;
      backoff(attempt, "GET " + without_query(url),
              code != CURLE_OK ? std::string(curl_easy_strerror(code)) : "HTTP " + std::to_string(*status));
    }
  }

  std::string host_;
  std::vector<std::string> headers_;
  std::string cookie_;
};

// ---- the lock: one downloader per cache folder ------------------------------------------------------

class FileLock {
 public:
  FileLock(const fs::path& path, const std::string& what) {
    std::error_code ignored;
    fs::create_directories(path.parent_path(), ignored);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ZT_REQUIRE(fd_ >= 0, path.string() << ": cannot create the download lock (" << std::strerror(errno)
                                       << "); check that the hub cache folder is writable");
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    ZT_LOG_INFO("another process is downloading " << what << "; waiting for it (" << path.string() << ")");
    while (::flock(fd_, LOCK_EX) != 0) ZT_REQUIRE(errno == EINTR, path.string() << ": cannot lock (" << std::strerror(errno) << ")");
  }
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN), ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// ---- what a hub lists ----------------------------------------------------------------------------

struct RemoteFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;    // ModelScope's Sha256; Hugging Face's lfs.oid
  std::string git_sha1;  // Hugging Face files outside LFS
  std::string revision;  // ModelScope: the file's commit, recorded in .msc
};

json envelope_data(const Reply& reply, const std::string& what) {
  const json value = json::parse(reply.body, nullptr, false);
  ZT_SYSTEM_REQUIRE(value.is_object() && value.contains("Data"),
                    what << ": the hub's answer is not the JSON envelope it should be (HTTP " << reply.status << ")");
  return value["Data"];
}

// The answer to a metadata request, or the error a user can act on.
void require_found(const Reply& reply, const std::string& kind, const std::string& id, bool use_hf) {
  if (reply.status == 200) return;
  const std::string hub = use_hf ? "the Hugging Face hub" : "ModelScope";
  ZT_REQUIRE(reply.status != 401 && reply.status != 403,
             kind << " " << id << ": " << hub << " refused access (HTTP " << reply.status << ": " << hub_message(reply.body)
                  << "); for a private or gated repository pass --hub_token or set "
                  << (use_hf ? "HF_TOKEN" : "MODELSCOPE_API_TOKEN (or run 'ztune login')"));
  ZT_REQUIRE(reply.status != 404, kind << " " << id << ": " << hub << " has no such repository (HTTP 404); check the id"
                                       << (use_hf ? "" : ", or pass --use_hf true for a Hugging Face id"));
  ZT_SYSTEM_THROW(kind << " " << id << ": " << hub << " answered HTTP " << reply.status << " (" << hub_message(reply.body) << ")");
}

// ---- a Python pickle (protocol 2) of strings, lists and dicts: ModelScope's .msc and .mdl ----------

void pickle_string(std::string& out, const std::string& text) {
  out += 'X';
  const uint32_t size = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>((size >> (8 * i)) & 0xff);
  out += text;
}

std::string pickle_msc(const std::vector<RemoteFile>& files) {
  std::string out = "\x80\x02]";
  if (!files.empty()) {
    out += '(';
    for (const RemoteFile& file : files) {
      out += "}(";
      pickle_string(out, "Path"), pickle_string(out, file.path);
      pickle_string(out, "Revision"), pickle_string(out, file.revision);
      out += 'u';
    }
    out += 'e';
  }
  return out + '.';
}

std::string pickle_id(const std::string& id) {
  std::string out = "\x80\x02}(";
  pickle_string(out, "id"), pickle_string(out, id);
  return out + "u.";
}

// ---- one repository's download -------------------------------------------------------------------

// Where a hub's files go, and what it takes to fetch them.
struct Layout {
  std::string hub;         // "ModelScope", "the Hugging Face hub"
  fs::path folder;         // what callers get
  fs::path lock;           // the download lock
  fs::path marker;         // exists while a download is unfinished
  std::function<fs::path(const RemoteFile&)> partial;  // the temporary file of a file
  std::function<fs::path(const RemoteFile&)> target;   // where the verified file goes
  std::function<std::string(const RemoteFile&)> url;
};

// Fetches every listed file that is not in place yet; the progress line counts the bytes of the repository.
void fetch_files(Http& http, const Layout& layout, const std::vector<RemoteFile>& files, const std::string& id) {
  uint64_t total = 0;
  for (const RemoteFile& file : files) total += file.size;
  std::vector<const RemoteFile*> missing;
  uint64_t present = 0;
  for (const RemoteFile& file : files) {
    std::error_code ignored;
    const fs::path target = layout.target(file);
    if (fs::is_regular_file(target, ignored) && fs::file_size(target, ignored) == file.size)
      present += file.size;
    else
      missing.push_back(&file);
  }
  ZT_LOG_INFO("downloading " << id << " from " << layout.hub << ": " << missing.size() << " of " << files.size()
                             << " files, " << Progress::bytes_text(double(total - present)) << " of "
                             << Progress::bytes_text(double(total)) << " -> " << layout.folder.string());
  Progress progress("downloading " + id, total);
  progress.update(present);
  uint64_t done = present;
  const auto started = std::chrono::steady_clock::now();
  for (const RemoteFile* file : missing) {
    const fs::path partial = layout.partial(*file);
    const fs::path target = layout.target(*file);
    std::error_code ignored;
    fs::create_directories(partial.parent_path(), ignored);
    fs::create_directories(target.parent_path(), ignored);
    for (int attempt = 1;; ++attempt) {
      std::string error_body;
      const long status = http.fetch(layout.url(*file), partial, file->size,
                                     [&](uint64_t bytes) { progress.update(done + bytes); }, error_body);
      if (status != 200 && status != 206) {
        Reply reply;
        reply.status = status;
        reply.body = error_body;
        require_found(reply, "file " + file->path + " of", id, layout.hub != "ModelScope");
      }
      std::string actual, expected;
      if (!file->sha256.empty()) expected = file->sha256, actual = sha256_file_hex(partial.string());
      else if (!file->git_sha1.empty()) expected = file->git_sha1, actual = git_blob_sha1_file_hex(partial.string());
      if (actual == expected) break;
      fs::remove(partial, ignored);
      ZT_SYSTEM_REQUIRE(attempt < kHashAttempts,
                        id << ": " << file->path << " arrived " << kHashAttempts << " times with other bytes than the hub lists ("
                           << (file->sha256.empty() ? "git sha1 " : "sha256 ") << actual << ", expected " << expected
                           << "); the hub or a proxy corrupts it: try again later");
      ZT_LOG_WARN(id << ": " << file->path << " does not match the hub's " << (file->sha256.empty() ? "git sha1" : "sha256")
                     << " (got " << actual << ", expected " << expected << "); fetching it again");
    }
    fs::rename(partial, target);
    done += file->size;
    progress.update(done);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  progress.finish("downloaded " + id + " (" + Progress::bytes_text(double(done - present)) + " in " +
                  Progress::duration_text(seconds) + ") -> " + layout.folder.string());
}

// ---- ModelScope ----------------------------------------------------------------------------------

std::string modelscope_token(const HubAccess& access) {
  try {
    return resolve_hub_token(access.token);
  } catch (const Error&) {
    return "";  // public repositories need none
  }
}

struct ModelScopePaths {
  fs::path folder, temp, lock;
};

ModelScopePaths modelscope_paths(RepoKind kind, const std::string& owner, const std::string& name) {
  const fs::path root = modelscope_cache_root();
  const fs::path sub = root / (kind == RepoKind::model ? "models" : "datasets");
  return {sub / owner / modelscope_escaped(name), sub / "._____temp" / owner / name, root / ".lock" / (owner + "___" + name)};
}

std::vector<RemoteFile> modelscope_files(const json& entries) {
  std::vector<RemoteFile> files;
  ZT_SYSTEM_REQUIRE(entries.is_array(), "ModelScope's file list is not a list");
  for (const json& entry : entries) {
    if (entry.value("Type", std::string("blob")) != "blob") continue;
    RemoteFile file;
    file.path = entry.value("Path", std::string());
    if (file.path.empty() || file.path == ".gitignore" || file.path == ".gitattributes") continue;
    file.size = entry.value("Size", uint64_t{0});
    if (entry.contains("Sha256") && entry["Sha256"].is_string()) file.sha256 = entry["Sha256"];
    file.revision = entry.value("Revision", std::string());
    files.push_back(file);
  }
  return files;
}

// A path from the hub never leaves the folder it is written into.
void require_relative(const std::vector<RemoteFile>& files, const std::string& id) {
  for (const RemoteFile& file : files) {
    const fs::path path(file.path);
    bool escapes = path.is_absolute();
    for (const auto& part : path) escapes = escapes || part == "..";
    ZT_SYSTEM_REQUIRE(!escapes, id << ": the hub lists a file outside the repository ('" << file.path << "'); refusing it");
  }
}

std::string download_modelscope(RepoKind kind, const std::string& id, const HubAccess& access) {
  std::string owner, name;
  split_repo_id(id, owner, name);
  const std::string endpoint = default_hub_endpoint();
  const std::string token = modelscope_token(access);
  Http http(endpoint, {}, token.empty() ? "" : "m_session_id=" + token);
  const std::string revision = access.revision.empty() ? "master" : access.revision;
  const ModelScopePaths paths = modelscope_paths(kind, owner, name);
  const std::string noun = kind == RepoKind::model ? "model" : "dataset";

  FileLock lock(paths.lock, id);
  const fs::path marker = paths.temp / ".ztune-incomplete";
  if (fs::is_directory(paths.folder) && !fs::exists(marker) && fs::exists(paths.folder / ".msc") &&
      modelscope_revision(paths.folder.string()) == revision)
    return paths.folder.string();  // another process has just downloaded it

  const std::string plural = kind == RepoKind::model ? "models" : "datasets";
  const Reply repo = http.get(endpoint + "/api/v1/" + plural + "/" + owner + "/" + name);
  require_found(repo, noun, id, false);
  std::vector<RemoteFile> files;
  if (kind == RepoKind::model) {
    const Reply listing = http.get(endpoint + "/api/v1/models/" + owner + "/" + name + "/repo/files?Revision=" +
                                   url_escape(revision, false, true) + "&Recursive=True");
    require_found(listing, noun, id, false);
    files = modelscope_files(envelope_data(listing, id).value("Files", json::array()));
  } else {
    const json data = envelope_data(repo, id);
    ZT_SYSTEM_REQUIRE(data.is_object() && data.contains("Id"), id << ": ModelScope's dataset answer has no Id");
    const std::string numeric = data["Id"].is_string() ? data["Id"].get<std::string>() : data["Id"].dump();
    constexpr int kPage = 150;
    for (int page = 1;; ++page) {
      const Reply listing = http.get(endpoint + "/api/v1/datasets/" + numeric + "/repo/tree?Revision=" +
                                     url_escape(revision, false, true) + "&Root=/&Recursive=True&PageNumber=" +
                                     std::to_string(page) + "&PageSize=" + std::to_string(kPage));
      require_found(listing, noun, id, false);
      const json entries = envelope_data(listing, id).value("Files", json::array());
      const std::vector<RemoteFile> more = modelscope_files(entries);
      files.insert(files.end(), more.begin(), more.end());
      if (!entries.is_array() || entries.size() < static_cast<size_t>(kPage)) break;
    }
  }
  ZT_REQUIRE(!files.empty(), noun << " " << id << ": ModelScope lists no files at revision " << revision);
  require_relative(files, id);
  std::error_code ignored;
  fs::create_directories(paths.temp, ignored);
  fs::create_directories(paths.folder, ignored);
  std::ofstream(marker) << "ztune download of " << id << " at " << revision << "\n";

  Layout layout;
  layout.hub = "ModelScope";
  layout.folder = paths.folder;
  layout.partial = [&](const RemoteFile& file) { return paths.temp / file.path; };
  layout.target = [&](const RemoteFile& file) { return paths.folder / file.path; };
  layout.url = [&](const RemoteFile& file) {
    const std::string path = url_escape(file.path, false, true), rev = url_escape(revision, false, true);
    return kind == RepoKind::model
               ? endpoint + "/api/v1/models/" + owner + "/" + name + "/repo?Revision=" + rev + "&FilePath=" + path
               : endpoint + "/api/v1/datasets/" + owner + "/" + name + "/repo?Source=SDK&Revision=" + rev +
                     "&FilePath=" + path + "&View=False";
  };
  fetch_files(http, layout, files, id);

  // What the SDK's cache keeps beside the files: .msc (the files and their revisions, a pickle), .mdl (the id),
  // .mv (the revision); a dotted model name also gets the unescaped link the SDK makes.
  fs_util::write_file_atomically((paths.folder / ".msc").string(), pickle_msc(files));
  fs_util::write_file_atomically((paths.folder / ".mdl").string(), pickle_id(owner + "/" + modelscope_escaped(name)));
  fs_util::write_file_atomically((paths.folder / ".mv").string(), kind == RepoKind::model
                                                  ? "Revision:" + revision + ",CreatedAt:" + std::to_string(std::time(nullptr))
                                                  : revision);
  if (kind == RepoKind::model && modelscope_escaped(name) != name) {
    const fs::path link = paths.folder.parent_path() / name;
    if (!fs::exists(fs::symlink_status(link, ignored))) fs::create_directory_symlink(fs::absolute(paths.folder), link, ignored);
  }
  fs::remove_all(paths.temp, ignored);
  return paths.folder.string();
}

// ---- the Hugging Face hub ------------------------------------------------------------------------

std::string huggingface_token(const HubAccess& access) {
  if (access.token.has_value() && !access.token->empty()) return *access.token;
  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})
    if (const std::string value = env(name); !value.empty()) return value;
  fs::path saved = env("HF_TOKEN_PATH");
  if (saved.empty()) saved = huggingface_home() / "token";
  std::string token;
  std::ifstream(saved) >> token;
  return token;
}

// The next page of a listing, from the Link header (<url>; rel="next").
std::string next_link(const Reply& reply) {
  const auto found = reply.headers.find("link");
  if (found == reply.headers.end()) return "";
  const std::string& link = found->second;
  const size_t rel = link.find("rel=\"next\"");
  if (rel == std::string::npos) return "";
  const size_t open = link.rfind('<', rel), close = link.find('>', open);
  return open == std::string::npos || close == std::string::npos ? "" : link.substr(open + 1, close - open - 1);
}

std::string download_huggingface(RepoKind kind, const std::string& id, const HubAccess& access) {
  std::string owner, name;
  split_repo_id(id, owner, name);
  std::string endpoint = env("HF_ENDPOINT").empty() ? "https://huggingface.co" : env("HF_ENDPOINT");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const std::string token = huggingface_token(access);
  Http http(endpoint, token.empty() ? std::vector<std::string>{} : std::vector<std::string>{"Authorization: Bearer " + token}, "");
  const std::string revision = access.revision.empty() ? "main" : access.revision;
  const std::string folder_name = huggingface_repo_folder(kind, id);
  const fs::path repo = huggingface_cache_root() / folder_name;
  const fs::path locks = huggingface_cache_root() / ".locks" / folder_name;
  const std::string api = endpoint + "/api/" + (kind == RepoKind::model ? "models/" : "datasets/") + id;
  const std::string noun = kind == RepoKind::model ? "model" : "dataset";

  FileLock lock(locks / "ztune-snapshot.lock", id);
  const fs::path marker = locks / "ztune.incomplete";
  const Reply info = http.get(api + "/revision/" + url_escape(revision, false, false));
  require_found(info, noun, id, true);
  const json info_json = json::parse(info.body, nullptr, false);
  ZT_SYSTEM_REQUIRE(info_json.is_object() && info_json.contains("sha") && info_json["sha"].is_string(),
                    id << ": the Hugging Face hub's repository answer has no commit (sha)");
  const std::string commit = info_json["sha"];
  const fs::path snapshot = repo / "snapshots" / commit;
  std::string current;
  std::ifstream(repo / "refs" / revision) >> current;
  if (current == commit && fs::is_directory(snapshot) && !fs::exists(marker)) return snapshot.string();

  std::vector<RemoteFile> files;
  for (std::string url = api + "/tree/" + commit + "?recursive=true&expand=false"; !url.empty();) {
    const Reply page = http.get(url);
    require_found(page, noun, id, true);
    const json entries = json::parse(page.body, nullptr, false);
    ZT_SYSTEM_REQUIRE(entries.is_array(), id << ": the Hugging Face hub's file list is not a list");
    for (const json& entry : entries) {
      if (entry.value("type", std::string()) != "file") continue;
      RemoteFile file;
      file.path = entry.value("path", std::string());
      file.size = entry.value("size", uint64_t{0});
      if (entry.contains("lfs") && entry["lfs"].is_object()) {
        file.sha256 = entry["lfs"].value("oid", std::string());
        file.size = entry["lfs"].value("size", file.size);
      } else {
        file.git_sha1 = entry.value("oid", std::string());
      }
      if (!file.path.empty() && file.path != ".gitattributes") files.push_back(file);
    }
    url = next_link(page);
  }
  ZT_REQUIRE(!files.empty(), noun << " " << id << ": the Hugging Face hub lists no files at " << revision);
  require_relative(files, id);
  std::error_code ignored;
  fs::create_directories(repo / "blobs", ignored);
  fs::create_directories(locks, ignored);
  std::ofstream(marker) << "ztune download of " << id << " at " << commit << "\n";

  const auto etag = [](const RemoteFile& file) { return file.sha256.empty() ? file.git_sha1 : file.sha256; };
  Layout layout;
  layout.hub = "the Hugging Face hub";
  layout.folder = snapshot;
  layout.partial = [&](const RemoteFile& file) { return repo / "blobs" / (etag(file) + ".incomplete"); };
  layout.target = [&](const RemoteFile& file) { return repo / "blobs" / etag(file); };
  layout.url = [&](const RemoteFile& file) {
    return endpoint + (kind == RepoKind::model ? "/" : "/datasets/") + id + "/resolve/" + commit + "/" +
           url_escape(file.path, true, false);
  };
  fetch_files(http, layout, files, id);

  // snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder level), then refs/<revision>.
  for (const RemoteFile& file : files) {
    const fs::path link = snapshot / file.path;
    fs::create_directories(link.parent_path(), ignored);
    // From snapshots/<commit>/<dir...>/ up to the repository folder: the folders of the path plus two.
    const fs::path relative(file.path);
    const auto parts = static_cast<size_t>(std::distance(relative.begin(), relative.end()));
    fs::path up;
    for (size_t level = 0; level < parts + 1; ++level) up /= "..";
    fs::remove(link, ignored);
    fs::create_symlink(up / "blobs" / etag(file), link);
  }
  fs::create_directories(repo / "refs", ignored);
  if (commit != revision) fs_util::write_file_atomically((repo / "refs" / revision).string(), commit);
  fs::remove(marker, ignored);
  return snapshot.string();
}

}  // namespace

bool hub_offline(bool use_hf) {
  if (use_hf) return truthy(env("HF_HUB_OFFLINE")) || truthy(env("TRANSFORMERS_OFFLINE"));
  return truthy(env("MODELSCOPE_OFFLINE"));
}

std::string modelscope_revision(const std::string& folder) {
  std::string text;
  std::ifstream in(fs::path(folder) / ".mv");
  std::getline(in, text);
  if (text.rfind("Revision:", 0) == 0) text = text.substr(9, text.find(',') == std::string::npos ? std::string::npos : text.find(',') - 9);
  return text;
}

bool download_unfinished(RepoKind kind, const std::string& id, bool use_hf) {
  std::string owner, name;
  if (id.find('/') == std::string::npos) return false;
  split_repo_id(id, owner, name);
  std::error_code ignored;
  if (use_hf) return fs::exists(huggingface_cache_root() / ".locks" / huggingface_repo_folder(kind, id) / "ztune.incomplete", ignored);
  return fs::exists(modelscope_paths(kind, owner, name).temp / ".ztune-incomplete", ignored);
}

std::string download_snapshot(RepoKind kind, const std::string& id, const HubAccess& access) {
  return access.use_hf ? download_huggingface(kind, id, access) : download_modelscope(kind, id, access);
}

}  // namespace zt::hub
