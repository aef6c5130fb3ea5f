#include "checkpoint/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/fs.h"
#include "core/log.h"

namespace zt::checkpoint {
namespace {

struct Holder {
  std::string host;
  long pid = 0;
  std::string since;
};

Holder read_holder(const std::string& path) {
  Holder holder;
  std::ifstream in(path);
  std::string key;
  while (in >> key) {
    if (key == "host") in >> holder.host;
    else if (key == "pid") in >> holder.pid;
    else if (key == "since") in >> holder.since;
    else in.ignore(1 << 20, '\n');
  }
  return holder;
}

// Seconds since the lock file was last refreshed; a large number when it cannot be read.
double age_s(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return 1e18;
  return std::difftime(std::time(nullptr), info.st_mtime);
}

// Creates the file only when it does not exist; false when it does.
bool create_exclusive(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    const int error = errno;
    ZT_SYSTEM_THROW(path << ": cannot create the run folder's lock (" << std::strerror(error) << "); "
                         << fs_util::write_advice(error));
  }
  const ssize_t written = ::write(fd, content.data(), content.size());
  const int error = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(content.size())) {
    ::unlink(path.c_str());
    ZT_SYSTEM_THROW(path << ": cannot write the run folder's lock (" << std::strerror(error) << "); "
                         << fs_util::write_advice(error));
  }
  return true;
}

}  // namespace

RunLock::RunLock(const std::string& run_dir, bool force, double stale_after_s) {
  path_ = run_dir + "/" + file_name();
  const ProcessIdentity& me = process_identity();
  char since[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%S", std::localtime(&now));
  std::ostringstream content;
  content << "host " << me.host << "\npid " << ::getpid() << "\nsince " << since << "\n";
  content_ = content.str();
  for (int attempt = 0; !create_exclusive(path_, content_); ++attempt) {
    ZT_CHECK(attempt < 5, path_ << ": the lock keeps coming back while it is being taken over");
    const Holder holder = read_holder(path_);
    const bool here = holder.host == me.host;
    const bool gone = here ? holder.pid > 0 && ::kill(static_cast<pid_t>(holder.pid), 0) != 0 && errno == ESRCH
                           : age_s(path_) > stale_after_s;
    if (!force && !gone)
      ZT_THROW(run_dir << " is in use by another ztune run (pid " << holder.pid << " on " << holder.host << ", since "
                       << holder.since << "): two runs in one folder would overwrite each other's checkpoints and "
                       << "logs. Wait for it to end, choose another --output_dir (or --add_version true), or, if that "
                       << "run is gone, pass --ignore_run_lock true");
    ZT_LOG_WARN(run_dir << ": taking over the lock of " << (force ? "" : "a run that has ended, ") << "pid "
                        << holder.pid << " on " << holder.host << " (since " << holder.since << ")"
                        << (force ? " (--ignore_run_lock true)" : ""));
    ::unlink(path_.c_str());
  }
  // The heartbeat: a holder on another host is alive while the file's time moves.
  heartbeat_ = std::thread([this] {
    for (int tick = 1; !stop_; ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (tick % 75 == 0) ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);
    }
  });
}

RunLock::~RunLock() {
  stop_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  std::ifstream in(path_);
  std::stringstream held;
  held << in.rdbuf();
  if (held.str() == content_) ::unlink(path_.c_str());
}

}  // namespace zt::checkpoint
