#include "train/expert_exchange.h"

#include "core/torch_api.h"

#include <chrono>

#include "core/check.h"

namespace zt::train {
void CommunicatorExchange::all_to_all(const at::Tensor& input, at::Tensor& output,
                                      const std::vector<int64_t>& send_counts, const std::vector<int64_t>& recv_counts) {
  const auto start = std::chrono::steady_clock::now();
  const c10::Device device = comm_.device();
  if (input.device() == device && output.device() == device) {
    comm_.all_to_all(input, output, send_counts, recv_counts)->wait();
  } else {
    at::Tensor staged_out = at::empty(output.sizes(), output.options().device(device));
    comm_.all_to_all(input.to(device).contiguous(), staged_out, send_counts, recv_counts)->wait();
    output.copy_(staged_out);
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::shared_ptr<CommunicatorExchange> expert_exchange(dist::Communicator& comm) {
  return std::make_shared<CommunicatorExchange>(comm);
}

std::unique_ptr<dist::Communicator> split_expert_group(dist::Communicator& world, int expert_parallel) {
  ZT_REQUIRE(expert_parallel >= 1 && world.size() % expert_parallel == 0,
             "--expert_model_parallel_size " << expert_parallel << " does not divide the " << world.size() << " ranks");
  return world.split(world.rank() / expert_parallel, world.rank());
}

}  // namespace zt::train
