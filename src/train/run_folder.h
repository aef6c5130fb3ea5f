// The run folder: --output_dir/vN-DATE-TIME (or --output_dir itself with --add_version false), held by one
// run at a time, cleared of what interrupted saves left, with args.json as ms-swift writes it,
// val_dataset.jsonl (the rows --split_dataset_ratio held out) and, on rank 0, the run log (logging.jsonl,
// TensorBoard, SwanLab).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/run_lock.h"
#include "data/shard_reader.h"
#include "dist/comm.h"
#include "train/run_log.h"
#include "train/swift_args.h"
#include "train/train_config.h"

namespace zt::train {

struct RunFolder {
  std::string dir;
  nlohmann::json args_json;                // what args.json holds (every rank has it)
  std::unique_ptr<checkpoint::RunLock> lock;  // rank 0's hold on the folder
  std::unique_ptr<RunLog> log;             // rank 0's
};

// Collective. `parent`: the run folder's parent (with --add_version false, the folder). `facts` (run_dir aside)
// complete config.args_json into ms-swift's args.json. `cuda_device` >= 0: the run log reports that GPU's memory.
RunFolder open_run_folder(const TrainConfig& config, dist::Communicator& comm, const std::string& parent,
                          SwiftRunFacts facts, const std::vector<data::RawRow>& held_out, int cuda_device);

}  // namespace zt::train
