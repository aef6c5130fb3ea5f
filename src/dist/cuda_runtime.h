// CUDA runtime and NCCL queries, compiled only with ZTUNE_CUDA (src/dist/*_cuda.cpp).
#pragma once

#include <cstdint>
#include <string>

namespace zt::dist {

struct CudaStatus {
  int runtime_version = 0;
  int device_count = 0;
  std::string error;         // set when the driver or device query failed (e.g. no GPU here)
  std::string nccl_version;  // "major.minor.patch"
};

CudaStatus cuda_status();

// Peak bytes of torch's CUDA caching allocator on cuda:index since the process started: `allocated` (held
// by tensors) and `reserved` (taken from the driver; what ms-swift's memory(GiB) reports).
struct CudaMemoryPeak {
  int64_t allocated = 0, reserved = 0;
};
CudaMemoryPeak cuda_memory_peak(int index);

// Makes cuda:index the current device of this thread (and so of torch's allocations and streams).
void use_cuda_device(int index);

}  // namespace zt::dist
