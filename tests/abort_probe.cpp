// Run under `mpirun -np 2`: rank 1 fails a check while rank 0 waits in a barrier. The job must end with a
// non-zero status and a message naming rank 1, instead of rank 0 hanging forever.
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/check.h"
#include "dist/launch.h"

int main() {
  zt::dist::LaunchEnv env = zt::dist::detect_launch_env();
  zt::set_process_identity({env.rank, env.world_size, ""});
  zt::dist::init_mpi(env);
  if (env.rank == 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ZT_CHECK(env.rank != 1, "probe failure injected on rank " << env.rank);
  }
  zt::dist::barrier();
  std::printf("rank %d passed the barrier: the failing rank did not stop the job\n", env.rank);
  zt::dist::finalize_mpi();
  return 0;
}
