#include "dist/launch.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/check.h"

namespace zt::dist {
namespace {

// Returns -1 when the variable is unset.
int int_from_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return -1;
  char* end = nullptr;
  long parsed = std::strtol(value, &end, 10);
  ZT_REQUIRE(end != value && *end == '\0' && parsed >= 0 && parsed < (1L << 30),
             "environment variable " << name << "='" << value << "' is not a non-negative integer");
  return static_cast<int>(parsed);
}

void mpi_abort_hook(int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
}

bool g_mpi_started = false;

}  // namespace

LaunchEnv detect_launch_env() {
  LaunchEnv env;
  if (int size = int_from_env("OMPI_COMM_WORLD_SIZE"); size > 0) {
    env.launcher = "mpirun";
    env.world_size = size;
    env.rank = int_from_env("OMPI_COMM_WORLD_RANK");
    env.local_rank = std::max(0, int_from_env("OMPI_COMM_WORLD_LOCAL_RANK"));
    env.local_world_size = std::max(1, int_from_env("OMPI_COMM_WORLD_LOCAL_SIZE"));
    env.node_rank = std::max(0, int_from_env("OMPI_COMM_WORLD_NODE_RANK"));
  } else if (int ntasks = int_from_env("SLURM_NTASKS"); ntasks > 0 && int_from_env("SLURM_PROCID") >= 0) {
    env.launcher = "srun";
    env.world_size = ntasks;
    env.rank = int_from_env("SLURM_PROCID");
    env.local_rank = std::max(0, int_from_env("SLURM_LOCALID"));
    env.node_rank = std::max(0, int_from_env("SLURM_NODEID"));
    int tasks_per_node = int_from_env("SLURM_NTASKS_PER_NODE");
    env.local_world_size = tasks_per_node > 0 ? tasks_per_node : 1;
  } else if (int size = int_from_env("WORLD_SIZE"); size > 0) {
    env.launcher = "env";
    env.world_size = size;
    env.rank = std::max(0, int_from_env("RANK"));
    env.local_rank = std::max(0, int_from_env("LOCAL_RANK"));
    env.local_world_size = std::max(1, int_from_env("LOCAL_WORLD_SIZE"));
    env.node_rank = std::max(0, int_from_env("GROUP_RANK"));
  }
  ZT_REQUIRE(env.rank >= 0 && env.rank < env.world_size,
             "launcher " << env.launcher << " reports rank " << env.rank << " outside world size "
                         << env.world_size);
  return env;
}

bool init_mpi(const LaunchEnv& env, bool from_any_thread) {
  if (g_mpi_started) return true;
  // srun can start MPI through PMI as well; mpirun always does.
  bool under_mpi = env.launcher == "mpirun" || std::getenv("PMI_RANK") != nullptr ||
                   std::getenv("PMIX_RANK") != nullptr;
  if (!under_mpi) return false;
  int provided = 0;
  const int wanted = from_any_thread ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
  int rc = MPI_Init_thread(nullptr, nullptr, wanted, &provided);
  ZT_CHECK(rc == MPI_SUCCESS, "MPI_Init_thread failed with code " << rc);
  // On the CPU every MPI call comes from the main thread: CPU autograd runs backward, and so the gradient
  // hooks that start bucket reductions, on the thread that called backward(). CUDA autograd does not.
  ZT_REQUIRE(provided >= wanted, "this MPI library does not provide "
                                     << (from_any_thread ? "MPI_THREAD_MULTIPLE, which ranks sharing a GPU need"
                                                         : "MPI_THREAD_FUNNELED"));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ZT_CHECK(rank == env.rank && size == env.world_size,
           "MPI says rank " << rank << "/" << size << " but the launcher said " << env.rank << "/"
                            << env.world_size);
  set_abort_hook(&mpi_abort_hook);
  g_mpi_started = true;
  return true;
}

void finalize_mpi() {
  if (!g_mpi_started) return;
  set_abort_hook(nullptr);
  MPI_Finalize();
  g_mpi_started = false;
}

}  // namespace zt::dist
