// A child process spoken to over pipes, one line at a time (the vLLM bridge of `ztune infer`).
//
// The child's stdin and stdout are pipes held by the parent; its stderr is the parent's, so what the child
// logs reaches the user. Arguments go to the child's argv as given; secrets must travel through `env`
// or the pipe, never argv (visible in `ps`).
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace zt {

// The Python that ztune's Python bridges run in: $ZTUNE_PYTHON, else python3 on PATH.
std::string python_program();
// The Python of the virtual environment `venv` (".venv-swanlab") that scripts/setup.sh makes at the top of the
// source tree, found from the running binary (BUILD/ztune -> BUILD/../venv, its parent's, and
// PREFIX/share/ztune/venv) and from the source folder this binary was built from; "" when there is none.
// $ZTUNE_PYTHON, when set, wins.
std::string venv_python(const std::string& venv);
// Where setup.sh would make `venv`: beside the binary's source tree (for "run this" messages).
std::string venv_home(const std::string& venv);

class ChildProcess {
 public:
  // Starts argv[0] (looked up in PATH) with `env` added to the parent's environment. A program that cannot
  // be started is a zt::SystemError naming it.
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // closes the pipes, then waits for the child (killing it after a grace period)
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Writes `line` and a newline to the child's stdin; false when the child has closed it.
  bool write_line(const std::string& line);
  // The next line of the child's stdout without its newline; nullopt at end of output (the child ended).
  std::optional<std::string> read_line();
  // The same, waiting at most `timeout_ms`: nullopt when no whole line came in time, or at end of output
  // (then output_ended() is true).
  std::optional<std::string> read_line(int timeout_ms);
  bool output_ended() const { return from_child_ < 0 && buffer_.empty(); }
  // Closes the child's stdin (it sees end of input; its output can still be read).
  void close_input();
  // Closes the child's stdin and waits for it; its exit status (128 + signal when killed).
  int wait();
  // The same, waiting at most `timeout_ms`: nullopt while it still runs.
  std::optional<int> wait(int timeout_ms);
  // SIGKILL, then its status.
  int kill();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;  // read but not yet returned
  std::optional<int> status_;
};

}  // namespace zt
