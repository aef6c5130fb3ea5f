// Errors and check macros.
//
// Three kinds of failure, each with its exit code (docs/ARCHITECTURE.md):
//  - zt::Error: a user mistake (bad flag, bad file, bad line). The message names the thing and says
//    what to do; main() prints it and exits 2 (aborting the whole job when launched by mpirun).
//  - zt::SystemError: the environment failed (a folder that cannot be written, a full disk, a peer that
//    stopped answering). The message names the path or peer and what to do; exit 1, no bug banner.
//  - ZT_CHECK: a broken invariant inside ztune. It prints the failed expression, file:line, rank and
//    host, then aborts the whole job so that no other rank hangs waiting for this one.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace zt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SystemError : public Error {
 public:
  using Error::Error;
};

// Exit codes of the ztune binary.
inline constexpr int kExitSystemError = 1;
inline constexpr int kExitUserError = 2;
inline constexpr int kExitBug = 70;  // EX_SOFTWARE

// Who this process is; set once at start-up from the launch environment (src/dist/launch.cpp).
struct ProcessIdentity {
  int rank = 0;
  int world_size = 1;
  std::string host;
};
const ProcessIdentity& process_identity();
void set_process_identity(const ProcessIdentity& identity);

// Ends the whole job. The distributed layer installs a hook (MPI_Abort) once MPI is up; without it the
// process exits. Never returns.
using AbortHook = void (*)(int exit_code);
void set_abort_hook(AbortHook hook);
[[noreturn]] void abort_job(int exit_code);

[[noreturn]] void check_failed(const char* expression, const char* file, int line, const std::string& message);

}  // namespace zt

// ZT_CHECK(cond, "message " << value): message parts are streamed, evaluated only on failure.
#define ZT_CHECK(cond, ...)                                                            \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::ostringstream zt_check_stream_;                                             \
      zt_check_stream_ << __VA_ARGS__;                                                 \
      ::zt::check_failed(#cond, __FILE__, __LINE__, zt_check_stream_.str());           \
    }                                                                                  \
  } while (0)

// ZT_THROW("message " << value): raise a user-facing zt::Error; ZT_SYSTEM_THROW: a zt::SystemError.
#define ZT_THROW_AS(type, ...)                                                         \
  do {                                                                                 \
    std::ostringstream zt_throw_stream_;                                               \
    zt_throw_stream_ << __VA_ARGS__;                                                   \
    throw type(zt_throw_stream_.str());                                                \
  } while (0)
#define ZT_THROW(...) ZT_THROW_AS(::zt::Error, __VA_ARGS__)
#define ZT_SYSTEM_THROW(...) ZT_THROW_AS(::zt::SystemError, __VA_ARGS__)

// ZT_REQUIRE(cond, "message"): a user-facing precondition; throws zt::Error when false.
#define ZT_REQUIRE(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) ZT_THROW(__VA_ARGS__);                                                \
  } while (0)
// ZT_SYSTEM_REQUIRE(cond, "message"): the same for what the environment (network, disk, a service) broke.
#define ZT_SYSTEM_REQUIRE(cond, ...)                                                   \
  do {                                                                                 \
    if (!(cond)) ZT_SYSTEM_THROW(__VA_ARGS__);                                         \
  } while (0)
