// `ztune env`: what this build links and what this machine offers, for bug reports.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "core/torch_api.h"

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "dist/backend_info.h"
#include "dist/launch.h"

namespace zt::cli {

int run_env(const std::vector<std::string>& argv) {
  if (help_requested(argv)) {
    print_help("usage: ztune env\n\nPrint the versions of ztune, libtorch, MPI, CUDA and NCCL, and the launch environment.\n");
    return 0;
  }
  dist::BackendInfo info = dist::backend_info();
  dist::LaunchEnv launch = dist::detect_launch_env();
  const bool mpi = dist::init_mpi(launch);  // under mpirun, MPI's view of the nodes gives the node index
  std::printf("ztune      %s\n", ZTUNE_VERSION);
  std::printf("libtorch   %s (threads: %d)\n", TORCH_VERSION, at::get_num_threads());
  std::printf("MPI        %s\n", info.mpi_library.c_str());
  if (info.cuda_built) {
    std::printf("CUDA       built; runtime %d; devices: %d%s%s\n", info.cuda_runtime_version, info.cuda_device_count,
                info.cuda_error.empty() ? "" : " (", info.cuda_error.empty() ? "" : (info.cuda_error + ")").c_str());
    std::printf("NCCL       %s\n", info.nccl_version.c_str());
  } else {
    std::printf("CUDA       not built (configure with -DZTUNE_CUDA=ON)\n");
  }
  std::printf("launch     %s: rank %d of %d, local rank %d of %d, node %d of %d, host %s\n", launch.launcher.c_str(),
              launch.rank, launch.world_size, launch.local_rank, launch.local_world_size, launch.node_rank,
              launch.num_nodes, launch.host.c_str());
  // The same in the names torchrun exports, which other tools read.
  std::printf("torch-style RANK=%d LOCAL_RANK=%d WORLD_SIZE=%d LOCAL_WORLD_SIZE=%d GROUP_RANK=%d GROUP_WORLD_SIZE=%d",
              launch.rank, launch.local_rank, launch.world_size, launch.local_world_size, launch.node_rank,
              launch.num_nodes);
  for (const char* name : {"MASTER_ADDR", "MASTER_PORT"})
    if (const char* value = std::getenv(name)) std::printf(" %s=%s", name, value);
  std::printf("\n");
  if (mpi) dist::finalize_mpi();
  return 0;
}

}  // namespace zt::cli
