// Expert parallelism's token exchange (model::ExpertExchange) over a communicator of the expert group.
#pragma once

#include <memory>

#include "dist/comm.h"
#include "model/ffn/moe.h"

namespace zt::train {

// `comm` (the expert group's ranks) must outlive the result. Tensors not on the communicator's device (the
// per-expert counts, kept on the host) are staged through it.
std::shared_ptr<model::ExpertExchange> expert_exchange(dist::Communicator& comm);

// This rank's expert group under expert parallelism of size `expert_parallel` (collective on `world`):
// consecutive ranks, rank / N. The adapters stay whole on every rank, so their gradients are reduced over the
// world as the data-parallel engine does; only the frozen experts and the tokens are split.
std::unique_ptr<dist::Communicator> split_expert_group(dist::Communicator& world, int expert_parallel);

}  // namespace zt::train
