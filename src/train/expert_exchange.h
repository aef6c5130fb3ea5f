// Expert parallelism's token exchange (model::ExpertExchange) over a communicator of the expert group.
#pragma once

#include <memory>

#include "dist/comm.h"
#include "model/ffn/moe.h"

namespace zt::train {

// `comm` (the expert group's ranks) must outlive the result. Tensors not on the communicator's device (the
// per-expert counts, kept on the host) are staged through it.
std::shared_ptr<model::ExpertExchange> expert_exchange(dist::Communicator& comm);

// The groups of expert parallelism of size `expert_parallel` over `world`: consecutive ranks form an expert
// group (rank / N), and the ranks holding the same experts (rank % N) reduce those experts' gradients.
struct ExpertGroups {
  std::unique_ptr<dist::Communicator> experts;       // this rank's expert group (N ranks)
  std::unique_ptr<dist::Communicator> data_parallel; // the ranks with this rank's experts (world / N ranks)
};
ExpertGroups split_expert_groups(dist::Communicator& world, int expert_parallel);

}  // namespace zt::train
