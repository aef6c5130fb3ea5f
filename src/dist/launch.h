// Who launched us and where this process sits: rank, world size, local rank, node.
// Read from the environment of mpirun (OpenMPI), srun (Slurm), torchrun-style RANK/WORLD_SIZE,
// or nothing at all (a single process).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zt::dist {

struct LaunchEnv {
  std::string launcher = "single";  // "mpirun", "srun", "env" (RANK/WORLD_SIZE) or "single"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
};

// Reads the launcher's variables; a malformed value is an error naming the variable.
LaunchEnv detect_launch_env();

// Starts MPI when the process was started by an MPI launcher and installs MPI_Abort as the job-wide
// abort hook. Idempotent. Returns false when MPI is not in use (single process or srun without PMI).
// `from_any_thread`: MPI will be called from threads other than the main one (CUDA autograd runs the
// gradient hooks on its device threads; the NCCL watchdog aborts), so MPI_THREAD_MULTIPLE is required.
bool init_mpi(const LaunchEnv& env, bool from_any_thread = false);
void finalize_mpi();

}  // namespace zt::dist
