// CUDA runtime and NCCL queries, compiled only with ZTUNE_CUDA (src/dist/*_cuda.cpp).
#pragma once

#include <string>

namespace zt::dist {

struct CudaStatus {
  int runtime_version = 0;
  int device_count = 0;
  std::string error;         // set when the driver or device query failed (e.g. no GPU here)
  std::string nccl_version;  // "major.minor.patch"
};

CudaStatus cuda_status();

// Makes cuda:index the current device of this thread (and so of torch's allocations and streams).
void use_cuda_device(int index);

}  // namespace zt::dist
