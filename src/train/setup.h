// Start-up steps of a training run that need no trainer state: where the data and the run folder are,
// the training dtype, and the CPU random state a checkpoint carries.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>
#include <vector>

#include "data/shard_reader.h"
#include "dist/comm.h"
#include "dist/run_context.h"
#include "dist/zero_config.h"
#include "hub/download.h"
#include "model/config.h"
#include "train/estimate.h"
#include "train/train_config.h"

namespace zt::train {

// How the run reaches the hub: --use_hf, --hub_token and (for --model) --model_revision.
hub::HubAccess hub_access(const TrainConfig& config);
// Each --dataset entry as the files to read: a local file, or the data files of a hub dataset (downloaded when
// not cached); `hf::` before an id asks the Hugging Face hub, `ms::` ModelScope, as ms-swift reads them.
std::vector<data::DatasetSource> resolve_datasets(const std::vector<std::string>& specs, const hub::HubAccess& access);
// Rank 0 picks parent/vN-YYYYMMDD-HHMMSS (N = 1 + the largest existing), creates it, and every rank gets it.
std::string choose_run_dir(const std::string& parent, dist::Communicator& comm);
// Before step 1 of a multi-rank run: the bus bandwidth within and between nodes, and a warning when the links
// between nodes will hold the run back (ZTUNE_LINK_PROBE_MB=0 skips it).
void check_links(dist::RunContext& context, int64_t trainable_numel);
// --dry_run true: the estimate of this run on this launch's cluster shape, printed by rank 0; nothing loads.
int dry_run(const TrainConfig& config, dist::RunContext& context, ClusterShape cluster);
// The CPU generator (LoRA dropout seeds) as bytes, and back.
std::string cpu_rng_state();
void set_cpu_rng_state(const std::string& bytes);

}  // namespace zt::train
