// Run with two ranks (mpirun, or RANK/WORLD_SIZE/MASTER_ADDR without MPI): rank 1 fails a check while
// rank 0 waits in a barrier. The job must end with a non-zero status and a message naming rank 1,
// instead of rank 0 hanging forever.
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/check.h"
#include "dist/run_context.h"

int main() {
  zt::dist::RunContext context = zt::dist::RunContext::start();
  const int rank = context.launch().rank;
  if (rank == 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ZT_CHECK(rank != 1, "probe failure injected on rank " << rank);
  }
  try {
    context.comm().barrier();
  } catch (const zt::Error& error) {
    std::fprintf(stderr, "[rank %d] error: %s\n", rank, error.what());
    zt::abort_job(zt::kExitSystemError);
  }
  std::printf("rank %d passed the barrier: the failing rank did not stop the job\n", rank);
  return 0;
}
