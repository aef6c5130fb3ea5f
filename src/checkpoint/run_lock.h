// One process at a time in a run folder: rank 0 holds run_dir/.ztune-run.lock (host, pid, start time) while it
// trains, so that a second `ztune sft` with --add_version false on the same folder (a resubmitted Slurm job while
// the first still runs, two users) is refused instead of overwriting the first run's checkpoints and logs.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace zt::checkpoint {

class RunLock {
 public:
  // Takes the lock, or throws a zt::Error naming the holder (host, pid, since when) and how to proceed. A lock
  // left by a process that is gone is taken over with a warning: on this host, its pid no longer runs; on another
  // host, its holder stopped refreshing it (every 15 s) over `stale_after_s` seconds ago. `force` takes it in any
  // case (--ignore_run_lock true).
  RunLock(const std::string& run_dir, bool force, double stale_after_s = 60);
  ~RunLock();  // removes the file when it is still this process's
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  static const char* file_name() { return ".ztune-run.lock"; }

 private:
  std::string path_, content_;
  std::atomic<bool> stop_{false};
  std::thread heartbeat_;
};

}  // namespace zt::checkpoint
