#include "core/check.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace zt {
namespace {

ProcessIdentity& identity_storage() {
  static ProcessIdentity identity = [] {
    ProcessIdentity id;
    char host[256] = {0};
    if (gethostname(host, sizeof(host) - 1) == 0) id.host = host;
    return id;
  }();
  return identity;
}

AbortHook g_abort_hook = nullptr;

}  // namespace

const ProcessIdentity& process_identity() { return identity_storage(); }

void set_process_identity(const ProcessIdentity& identity) {
  ProcessIdentity& stored = identity_storage();
  std::string host = identity.host.empty() ? stored.host : identity.host;
  stored = identity;
  stored.host = host;
}

void set_abort_hook(AbortHook hook) { g_abort_hook = hook; }

void abort_job(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  // Launchers forward a rank's output through their own daemons (srun's slurmstepd, mpirun's orted), which stop
  // forwarding once the job is aborted: half a second lets the error just written reach the job's log first.
  if (g_abort_hook != nullptr && identity_storage().world_size > 1) ::usleep(500 * 1000);
  if (g_abort_hook != nullptr) g_abort_hook(exit_code);
  std::_Exit(exit_code);
}

void check_failed(const char* expression, const char* file, int line, const std::string& message) {
  const ProcessIdentity& id = process_identity();
  std::fprintf(stderr, "[rank %d on %s] ztune internal check failed: %s\n  at %s:%d\n  %s\n", id.rank,
               id.host.c_str(), expression, file, line, message.c_str());
  abort_job(kExitBug);
}

}  // namespace zt
