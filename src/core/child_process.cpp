#include "core/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/check.h"

extern char** environ;

namespace zt {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int decode_status(int raw) { return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw); }

}  // namespace

std::string python_program() {
  const char* python = std::getenv("ZTUNE_PYTHON");
  return python != nullptr && *python != '\0' ? python : "python3";
}

namespace {

// Folders that may hold ztune's environments, nearest first.
std::vector<std::filesystem::path> venv_homes() {
  std::vector<std::filesystem::path> homes;
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path dir = exe.parent_path();
    homes.push_back(dir.parent_path());                    // BUILD/ztune in the source tree
    homes.push_back(dir.parent_path().parent_path());      // BUILD/sub/ztune
    homes.push_back(dir.parent_path() / "share" / "ztune");  // PREFIX/bin/ztune
  }
#ifdef ZTUNE_SOURCE_DIR
  homes.push_back(ZTUNE_SOURCE_DIR);  // a build folder outside the source tree
#endif
  return homes;
}

}  // namespace

std::string venv_python(const std::string& venv) {
  const char* python = std::getenv("ZTUNE_PYTHON");
  if (python != nullptr && *python != '\0') return python;
  for (const std::filesystem::path& home : venv_homes()) {
    const std::filesystem::path candidate = home / venv / "bin" / "python";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string venv_home(const std::string& venv) {
#ifdef ZTUNE_SOURCE_DIR
  return (std::filesystem::path(ZTUNE_SOURCE_DIR) / venv).string();
#else
  return venv;
#endif
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  ZT_REQUIRE(!argv.empty(), "ChildProcess: no program given");
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) ZT_SYSTEM_THROW("cannot create a pipe for " << argv[0] << ": " << std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]), ::close(in_pipe[1]);
    ZT_SYSTEM_THROW("cannot create a pipe for " << argv[0] << ": " << std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);

  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    if (!env.count(text.substr(0, text.find('=')))) environment.push_back(text);
  }
  for (const auto& [key, value] : env) environment.push_back(key + "=" + value);
  std::vector<char*> env_pointers, arg_pointers;
  for (std::string& entry : environment) env_pointers.push_back(entry.data());
  env_pointers.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  arg_pointers.push_back(nullptr);

  const int failed = ::posix_spawnp(&pid_, args[0].c_str(), &actions, nullptr, arg_pointers.data(), env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  to_child_ = in_pipe[1];
  from_child_ = out_pipe[0];
  if (failed != 0) {
    close_fd(to_child_);
    close_fd(from_child_);
    pid_ = -1;
    ZT_SYSTEM_THROW("cannot start '" << argv[0] << "': " << std::strerror(failed) << "; is it installed and on PATH?");
  }
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits early is seen as a failed write, not a dead parent
}

ChildProcess::~ChildProcess() {
  if (pid_ < 0 || status_.has_value()) {
    close_fd(to_child_);
    close_fd(from_child_);
    return;
  }
  close_fd(to_child_);
  close_fd(from_child_);
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 50) {
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  int raw = 0;
  ::waitpid(pid_, &raw, 0);
}

bool ChildProcess::write_line(const std::string& line) {
  if (to_child_ < 0) return false;
  const std::string text = line + "\n";
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(to_child_, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> ChildProcess::read_line() {
  while (true) {
    const size_t end = buffer_.find('\n');
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return line;
    }
    if (from_child_ < 0) return std::nullopt;
    char chunk[65536];
    const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close_fd(from_child_);
      if (buffer_.empty()) return std::nullopt;
      std::string rest;
      rest.swap(buffer_);
      return rest;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::optional<std::string> ChildProcess::read_line(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (buffer_.find('\n') == std::string::npos && from_child_ >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd ready{from_child_, POLLIN, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char chunk[65536];
    const ssize_t got = ::read(from_child_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      close_fd(from_child_);
      break;
    }
    buffer_.append(chunk, static_cast<size_t>(got));
  }
  return read_line();  // a whole line is buffered, or the output ended
}

void ChildProcess::close_input() { close_fd(to_child_); }

std::optional<int> ChildProcess::wait(int timeout_ms) {
  if (status_.has_value()) return status_;
  close_fd(to_child_);
  for (int waited_ms = 0;; waited_ms += 20) {
    int raw = 0;
    const pid_t done = ::waitpid(pid_, &raw, WNOHANG);
    if (done == pid_) {
      close_fd(from_child_);
      status_ = decode_status(raw);
      return status_;
    }
    if (done < 0 && errno != EINTR) ZT_SYSTEM_THROW("waitpid(" << pid_ << "): " << std::strerror(errno));
    if (waited_ms >= timeout_ms) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int ChildProcess::kill() {
  if (status_.has_value()) return *status_;
  ::kill(pid_, SIGKILL);
  return wait();
}

int ChildProcess::wait() {
  if (status_.has_value()) return *status_;
  close_fd(to_child_);
  int raw = 0;
  while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
  }
  close_fd(from_child_);
  status_ = decode_status(raw);
  return *status_;
}

}  // namespace zt
