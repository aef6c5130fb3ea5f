#include "dist/launch.h"

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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
    env.node_rank = -1;  // OMPI_COMM_WORLD_NODE_RANK is the rank within the node, not the node: init_mpi finds it
    env.num_nodes = -1;
  } else if (int ntasks = int_from_env("SLURM_NTASKS"); ntasks > 0 && int_from_env("SLURM_PROCID") >= 0) {
    env.launcher = "srun";
    env.world_size = ntasks;
    env.rank = int_from_env("SLURM_PROCID");
    env.local_rank = std::max(0, int_from_env("SLURM_LOCALID"));
    env.node_rank = std::max(0, int_from_env("SLURM_NODEID"));
    const int step_nodes = int_from_env("SLURM_STEP_NUM_NODES");
    env.num_nodes = step_nodes > 0 ? step_nodes : std::max(1, int_from_env("SLURM_NNODES"));
    // --ntasks-per-node when given; else the step's (then the job's) per-node counts, which also cover
    // uneven layouts such as 3 tasks on 2 nodes.
    if (int tasks_per_node = int_from_env("SLURM_NTASKS_PER_NODE"); tasks_per_node > 0) {
      env.local_world_size = tasks_per_node;
    } else {
      env.local_world_size = 1;
      for (const char* variable : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"})
        if (const char* text = std::getenv(variable); text != nullptr && *text != '\0') {
          env.local_world_size = slurm_tasks_on_node(variable, text, env.node_rank);
          break;
        }
    }
  } else if (int size = int_from_env("WORLD_SIZE"); size > 0) {
    env.launcher = "env";
    env.world_size = size;
    env.rank = std::max(0, int_from_env("RANK"));
    env.local_rank = std::max(0, int_from_env("LOCAL_RANK"));
    env.local_world_size = std::max(1, int_from_env("LOCAL_WORLD_SIZE"));
    env.node_rank = std::max(0, int_from_env("GROUP_RANK"));
    const int groups = int_from_env("GROUP_WORLD_SIZE");
    env.num_nodes = groups > 0 ? groups : std::max(1, size / env.local_world_size);
  }
  env.host = process_identity().host;  // core reads the host name once for every error message
  ZT_REQUIRE(env.rank >= 0 && env.rank < env.world_size,
             "launcher " << env.launcher << " reports rank " << env.rank << " outside world size "
                         << env.world_size);
  return env;
}

int slurm_tasks_on_node(const std::string& variable, const std::string& text, int node_index) {
  // Entries "N" or "N(xK)", comma-separated; the whole list is checked before one is picked.
  std::vector<int> per_node;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    const std::string entry = text.substr(at, end - at);
    int tasks = 0, repeat = 1;
    char tail = 0;
    const int fields = std::sscanf(entry.c_str(), "%d(x%d)%c", &tasks, &repeat, &tail);
    const bool plain = !entry.empty() && entry.find_first_not_of("0123456789") == std::string::npos;
    const bool repeated = fields == 2 && entry.back() == ')';
    ZT_REQUIRE(tasks > 0 && repeat > 0 && repeat <= (1 << 20) && (plain || repeated),
               "environment variable " << variable << "='" << text << "' is not Slurm's per-node task list "
                                       << "(entries N or N(xK), comma-separated)");
    per_node.insert(per_node.end(), static_cast<size_t>(repeat), tasks);
    at = end + 1;
  }
  ZT_REQUIRE(node_index >= 0 && node_index < static_cast<int>(per_node.size()),
             "environment variable " << variable << "='" << text << "' lists " << per_node.size()
                                     << " nodes, but this is node " << node_index << " (SLURM_NODEID)");
  return per_node[static_cast<size_t>(node_index)];
}

bool init_mpi(LaunchEnv& env, bool from_any_thread) {
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

  // The node of each rank, as MPI groups them (ranks sharing memory); nodes numbered by their lowest rank.
  MPI_Comm node_comm;
  ZT_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_comm) == MPI_SUCCESS,
           "MPI_Comm_split_type failed");
  int leader = rank;
  MPI_Bcast(&leader, 1, MPI_INT, 0, node_comm);
  MPI_Comm_free(&node_comm);
  std::vector<int> leaders(static_cast<size_t>(size));
  MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::sort(leaders.begin(), leaders.end());
  leaders.erase(std::unique(leaders.begin(), leaders.end()), leaders.end());
  env.num_nodes = static_cast<int>(leaders.size());
  env.node_rank = static_cast<int>(std::lower_bound(leaders.begin(), leaders.end(), leader) - leaders.begin());
  return true;
}

void finalize_mpi() {
  if (!g_mpi_started) return;
  set_abort_hook(nullptr);
  MPI_Finalize();
  g_mpi_started = false;
}

}  // namespace zt::dist
