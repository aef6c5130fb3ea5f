// Expert parallelism's token exchange (model::ExpertExchange) over a communicator of the expert group.
#pragma once

#include <memory>

#include "dist/comm.h"
#include "model/ffn/moe.h"

namespace zt::train {

// The exchange over `comm` (the expert group's ranks), which must outlive it. Tensors not on the communicator's
// device (the per-expert counts, kept on the host) are staged through it. It times its all-to-alls; the bytes
// are in comm's stats (Collective::kAllToAll).
class CommunicatorExchange final : public model::ExpertExchange {
 public:
  explicit CommunicatorExchange(dist::Communicator& comm) : comm_(comm) {}
  int size() const override { return comm_.size(); }
  int rank() const override { return comm_.rank(); }
  void all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                  const std::vector<int64_t>& recv_counts) override;
  double seconds() const { return seconds_; }  // spent in all_to_all, waiting included

 private:
  dist::Communicator& comm_;
  double seconds_ = 0;
};
std::shared_ptr<CommunicatorExchange> expert_exchange(dist::Communicator& comm);

// This rank's expert group under expert parallelism of size `expert_parallel` (collective on `world`):
// consecutive ranks, rank / N. The adapters stay whole on every rank, so their gradients are reduced over the
// world as the data-parallel engine does; only the frozen experts and the tokens are split.
std::unique_ptr<dist::Communicator> split_expert_group(dist::Communicator& world, int expert_parallel);

}  // namespace zt::train
