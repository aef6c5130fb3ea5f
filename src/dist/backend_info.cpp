#include "dist/backend_info.h"

#include <mpi.h>

#include "dist/cuda_runtime.h"

namespace zt::dist {

BackendInfo backend_info() {
  BackendInfo info;
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  MPI_Get_library_version(version, &length);
  info.mpi_library = std::string(version, static_cast<size_t>(length));
  if (size_t newline = info.mpi_library.find_first_of("\r\n,"); newline != std::string::npos)
    info.mpi_library.resize(newline);
#ifdef ZTUNE_WITH_CUDA
  info.cuda_built = true;
  CudaStatus status = cuda_status();
  info.cuda_runtime_version = status.runtime_version;
  info.cuda_device_count = status.device_count;
  info.cuda_error = status.error;
  info.nccl_version = status.nccl_version;
#endif
  return info;
}

}  // namespace zt::dist
