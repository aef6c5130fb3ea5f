// `ztune env`: what this build links and what this machine offers, for bug reports.
#include <torch/torch.h>

#include <cstdio>

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
  std::printf("launch     %s: rank %d of %d, local rank %d, node %d\n", launch.launcher.c_str(), launch.rank,
              launch.world_size, launch.local_rank, launch.node_rank);
  return 0;
}

}  // namespace zt::cli
