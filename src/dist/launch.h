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
  int local_rank = 0;        // index among the ranks of this node
  int local_world_size = 1;  // ranks on this node
  // This node's index among the job's nodes and their number. mpirun exports neither (its NODE_RANK is the
  // rank within the node): under mpirun they are -1 until init_mpi finds them from the nodes' ranks.
  int node_rank = 0;
  int num_nodes = 1;
  std::string host;          // this machine's host name
};

// Reads the launcher's variables; a malformed value is an error naming the variable.
LaunchEnv detect_launch_env();

// Slurm's compressed per-node task counts (SLURM_STEP_TASKS_PER_NODE, SLURM_TASKS_PER_NODE: "2(x3),1" is
// 2, 2, 2, 1): the count of node `node_index`; an error naming `variable` when the text is malformed or
// lists fewer nodes.
int slurm_tasks_on_node(const std::string& variable, const std::string& text, int node_index);

// Starts MPI when the process was started by an MPI launcher and installs MPI_Abort as the job-wide
// abort hook. Idempotent. Returns false when MPI is not in use (single process or srun without PMI).
// Under MPI it also sets env.node_rank and env.num_nodes from which ranks share a node (MPI's own view).
// `from_any_thread`: MPI will be called from threads other than the main one (CUDA autograd runs the
// gradient hooks on its device threads; the NCCL watchdog aborts), so MPI_THREAD_MULTIPLE is required.
bool init_mpi(LaunchEnv& env, bool from_any_thread = false);
void finalize_mpi();

}  // namespace zt::dist
