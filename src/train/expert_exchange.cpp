#include "train/expert_exchange.h"

#include "core/torch_api.h"

#include "core/check.h"

namespace zt::train {
namespace {

class CommunicatorExchange final : public model::ExpertExchange {
 public:
  explicit CommunicatorExchange(dist::Communicator& comm) : comm_(comm) {}
  int size() const override { return comm_.size(); }
  int rank() const override { return comm_.rank(); }
  void all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                  const std::vector<int64_t>& recv_counts) override {
    const c10::Device device = comm_.device();
    if (input.device() == device && output.device() == device) {
      comm_.all_to_all(input, output, send_counts, recv_counts)->wait();
      return;
    }
    at::Tensor staged_out = at::empty(output.sizes(), output.options().device(device));
    comm_.all_to_all(input.to(device).contiguous(), staged_out, send_counts, recv_counts)->wait();
    output.copy_(staged_out);
  }

 private:
  dist::Communicator& comm_;
};

}  // namespace

std::shared_ptr<model::ExpertExchange> expert_exchange(dist::Communicator& comm) {
  return std::make_shared<CommunicatorExchange>(comm);
}

std::unique_ptr<dist::Communicator> split_expert_group(dist::Communicator& world, int expert_parallel) {
  ZT_REQUIRE(expert_parallel >= 1 && world.size() % expert_parallel == 0,
             "--expert_model_parallel_size " << expert_parallel << " does not divide the " << world.size() << " ranks");
  return world.split(world.rank() / expert_parallel, world.rank());
}

}  // namespace zt::train
