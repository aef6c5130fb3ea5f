#include "dist/run_context.h"

#include <cstdlib>
#include <exception>
#include <sstream>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/log.h"
#include "dist/cuda_runtime.h"

namespace zt::dist {

#ifndef ZTUNE_WITH_CUDA
CudaStatus cuda_status() {
  CudaStatus status;
  status.error = "this ztune was built without CUDA (ZTUNE_CUDA=OFF)";
  return status;
}
void use_cuda_device(int) { ZT_THROW("this ztune was built without CUDA (ZTUNE_CUDA=OFF)"); }
CudaMemoryPeak cuda_memory_peak(int) { return {}; }
#endif

c10::Device choose_device(const LaunchEnv& env, const std::string& request, int visible_gpus, bool one_gpu_per_task,
                          const std::string& why_none, bool shared_gpu) {
  ZT_REQUIRE(request.empty() || request == "auto" || request == "cpu" || request == "cuda",
             "ZTUNE_DEVICE=" << request << " is not one of auto, cpu, cuda");
  if (request == "cpu") return c10::kCPU;
  if (visible_gpus <= 0) {
    ZT_REQUIRE(request != "cuda", "ZTUNE_DEVICE=cuda but rank " << env.rank << " sees no GPU"
                                      << (why_none.empty() ? "" : " (" + why_none + ")")
                                      << "; check CUDA_VISIBLE_DEVICES and the driver, or use ZTUNE_DEVICE=cpu");
    return c10::kCPU;
  }
  if (one_gpu_per_task && visible_gpus == 1) return c10::Device(c10::kCUDA, 0);
  if (shared_gpu) return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % visible_gpus));
  ZT_REQUIRE(env.local_world_size <= visible_gpus && env.local_rank < visible_gpus,
             env.local_world_size << " ranks run on this node (" << env.launcher << ") but only " << visible_gpus
                                  << " GPU" << (visible_gpus == 1 ? " is" : "s are")
                                  << " visible (CUDA_VISIBLE_DEVICES="
                                  << (std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "unset")
                                  << "); ztune puts one rank on each GPU: launch at most " << visible_gpus
                                  << " ranks per node, or ZTUNE_DEVICE=cpu to train on the CPU");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
}

RunContext RunContext::start() {
  RunContext context;
  context.launch_ = detect_launch_env();
  set_process_identity({context.launch_.rank, context.launch_.world_size, ""});
  const char* request = std::getenv("ZTUNE_DEVICE");
  const std::string wanted = request != nullptr ? request : "";
  CudaStatus cuda;
  if (wanted != "cpu") cuda = cuda_status();
  context.visible_gpus_ = cuda.device_count;
  const char* per_task = std::getenv("SLURM_GPUS_PER_TASK");
  const char* shared = std::getenv("ZTUNE_SHARED_GPU");
  context.shared_gpu_ = shared != nullptr && std::string(shared) == "1";
  context.device_ = choose_device(context.launch_, wanted, cuda.device_count, per_task != nullptr && *per_task != '\0',
                                  cuda.error, context.shared_gpu_);
  if (context.device_.is_cuda()) use_cuda_device(context.device_.index());
  // On a GPU, MPI may be called from other threads: CUDA autograd's (staged collectives in gradient
  // hooks) and the NCCL watchdog's (MPI_Abort when a collective times out).
  init_mpi(context.launch_, context.device_.is_cuda());
  context.owns_mpi_ = true;
  context.comm_ = make_communicator(context.launch_, context.device_, context.shared_gpu_);
  if (context.shared_gpu_ && context.launch_.rank == 0)
    ZT_LOG_WARN("ZTUNE_SHARED_GPU=1: " << context.launch_.local_world_size << " ranks share "
                                      << std::max(1, context.visible_gpus_) << " device(s); collectives go through "
                                      << "host memory. For validating ZeRO on one GPU only, never for training");
  return context;
}

std::string RunContext::summary() const {
  std::ostringstream out;
  out << device_.str();
  if (device_.is_cuda()) out << " (" << visible_gpus_ << " GPU" << (visible_gpus_ == 1 ? "" : "s") << " visible)";
  out << ", " << comm_->backend() << ", " << launch_.world_size << " rank" << (launch_.world_size == 1 ? "" : "s");
  if (launch_.launcher != "single") out << " launched by " << launch_.launcher;
  return out.str();
}

RunContext::RunContext(RunContext&& other) noexcept
    : launch_(std::move(other.launch_)),
      device_(other.device_),
      visible_gpus_(other.visible_gpus_),
      shared_gpu_(other.shared_gpu_),
      comm_(std::move(other.comm_)),
      owns_mpi_(std::exchange(other.owns_mpi_, false)) {}

RunContext::~RunContext() {
  if (!owns_mpi_) return;  // moved from
  // Leaving on an error: main() prints it and aborts the job (MPI_Abort, the store's abort key). Finalising
  // here would wait for the other ranks, which wait for this one, and the error would never be printed.
  if (std::uncaught_exceptions() > 0) {
    static std::vector<std::unique_ptr<Communicator>> abandoned;
    abandoned.push_back(std::move(comm_));
    return;
  }
  comm_.reset();
  finalize_mpi();
}

}  // namespace zt::dist
