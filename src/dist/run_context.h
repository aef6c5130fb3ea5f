// Everything distributed about this process, made once at start-up (llm.c's multi-GPU config): the
// launch environment, the device ranks compute on, and the communicator. Commands and tools make one,
// pass its parts down, and let it go last: the communicator is released before MPI is finalised.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "dist/comm.h"
#include "dist/launch.h"

namespace zt::dist {

class RunContext {
 public:
  // Reads the launch environment (mpirun, srun, torchrun-style variables, or none), records the rank
  // for error messages, chooses the device (choose_device with ZTUNE_DEVICE), starts MPI when launched by
  // one and makes the communicator: NCCL on a GPU, else MPI, else the rendezvous store, else none.
  static RunContext start();
  RunContext(RunContext&& other) noexcept;
  RunContext& operator=(RunContext&&) = delete;
  ~RunContext();

  const LaunchEnv& launch() const { return launch_; }
  c10::Device device() const { return device_; }
  Communicator& comm() { return *comm_; }
  // One line for the start-up log: "cuda:1 (4 GPUs visible), nccl, 8 ranks launched by srun".
  std::string summary() const;

 private:
  RunContext() = default;
  LaunchEnv launch_;
  c10::Device device_ = c10::kCPU;
  int visible_gpus_ = 0;
  bool shared_gpu_ = false;
  std::unique_ptr<Communicator> comm_;
  bool owns_mpi_ = false;
};

// The device of this rank. `request` is ZTUNE_DEVICE: "cpu" (forced, e.g. for tests), "cuda" (a GPU is
// required) or "auto"/empty (the GPU when one is visible). A GPU rank takes cuda:LOCAL_RANK among the
// `visible_gpus` this process sees (CUDA_VISIBLE_DEVICES already applied); more ranks on the node than
// visible GPUs is an error naming both numbers, never two ranks on one GPU, except where Slurm gave each
// task its own GPU (`one_gpu_per_task`: SLURM_GPUS_PER_TASK, a single visible GPU), which is then cuda:0.
// `why_none` is the driver's reason when no GPU could be counted, for the error of "cuda".
// `shared_gpu` (ZTUNE_SHARED_GPU=1, validation only): ranks share the visible GPUs, cuda:(LOCAL_RANK mod
// visible), and their collectives are staged through host memory (make_staged_communicator).
c10::Device choose_device(const LaunchEnv& env, const std::string& request, int visible_gpus,
                          bool one_gpu_per_task = false, const std::string& why_none = "", bool shared_gpu = false);

}  // namespace zt::dist
