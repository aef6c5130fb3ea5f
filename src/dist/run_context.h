// Everything distributed about this process, made once at start-up (llm.c's multi-GPU config): the
// launch environment, the device ranks compute on, and the communicator. Commands and tools make one,
// pass its parts down, and let it go last: the communicator is released before MPI is finalised.
#pragma once

#include <c10/core/Device.h>

#include <memory>

#include "dist/comm.h"
#include "dist/launch.h"

namespace zt::dist {

class RunContext {
 public:
  // Reads the launch environment (mpirun, srun, or none), records the rank for error messages, starts
  // MPI when launched by one and makes the communicator. Computation runs on the CPU for now.
  static RunContext start();
  RunContext(RunContext&& other) noexcept;
  RunContext& operator=(RunContext&&) = delete;
  ~RunContext();

  const LaunchEnv& launch() const { return launch_; }
  c10::Device device() const { return device_; }
  Communicator& comm() { return *comm_; }

 private:
  RunContext() = default;
  LaunchEnv launch_;
  c10::Device device_ = c10::kCPU;
  std::unique_ptr<Communicator> comm_;
  bool owns_mpi_ = false;
};

}  // namespace zt::dist
