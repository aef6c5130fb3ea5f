// What the communication backends of this build and machine are: for `ztune env` and start-up logs.
#pragma once

#include <string>

namespace zt::dist {

struct BackendInfo {
  std::string mpi_library;      // MPI_Get_library_version, first line
  bool cuda_built = false;      // built with ZTUNE_CUDA
  int cuda_runtime_version = 0; // e.g. 13000
  int cuda_device_count = 0;    // 0 on a machine without a GPU
  std::string cuda_error;       // why no device could be counted, if so
  std::string nccl_version;     // "2.28.9", empty without CUDA
};

BackendInfo backend_info();

}  // namespace zt::dist
