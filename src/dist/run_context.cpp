#include "dist/run_context.h"

#include <utility>

#include "core/check.h"

namespace zt::dist {

RunContext RunContext::start() {
  RunContext context;
  context.launch_ = detect_launch_env();
  set_process_identity({context.launch_.rank, context.launch_.world_size, ""});
  init_mpi(context.launch_);
  context.owns_mpi_ = true;
  context.comm_ = make_communicator(context.launch_, context.device_.is_cuda() ? "cuda" : "cpu");
  return context;
}

RunContext::RunContext(RunContext&& other) noexcept
    : launch_(std::move(other.launch_)),
      device_(other.device_),
      comm_(std::move(other.comm_)),
      owns_mpi_(std::exchange(other.owns_mpi_, false)) {}

RunContext::~RunContext() {
  if (!owns_mpi_) return;  // moved from
  comm_.reset();
  finalize_mpi();
}

}  // namespace zt::dist
