#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "core/check.h"
#include "dist/cuda_runtime.h"

namespace zt::dist {

CudaStatus cuda_status() {
  CudaStatus status;
  cudaRuntimeGetVersion(&status.runtime_version);
  cudaError_t error = cudaGetDeviceCount(&status.device_count);
  if (error != cudaSuccess) {
    status.device_count = 0;
    status.error = cudaGetErrorString(error);
  }
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
    status.nccl_version = std::to_string(nccl / 10000) + "." + std::to_string(nccl % 10000 / 100) + "." +
                          std::to_string(nccl % 100);
  }
  return status;
}

CudaMemoryPeak cuda_memory_peak(int index) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  const size_t all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  return {stats.allocated_bytes[all].peak, stats.reserved_bytes[all].peak};
}

void use_cuda_device(int index) {
  cudaError_t error = cudaSetDevice(index);
  ZT_CHECK(error == cudaSuccess, "cudaSetDevice(" << index << "): " << cudaGetErrorString(error));
}

}  // namespace zt::dist
