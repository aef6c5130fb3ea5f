// What a training run reads: the model folder (a hub id resolved to its cache or downloaded), its config,
// tokenizer and chat template, this rank's share of the training rows through the pipeline, and the
// validation rows (--val_dataset, or what --split_dataset_ratio held out).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"
#include "dist/comm.h"
#include "train/resolved_run.h"
#include "train/train_config.h"

namespace zt::train {

struct RunData {
  std::string model_dir;
  std::shared_ptr<const st::Checkpoint> weights;  // the folder's safetensors (index read once); the trainer
                                                  // drops it once the model and its partition are built
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::unique_ptr<data::ChatTemplate> chat;
  std::string template_name;            // ms-swift's name of the template in use
  std::unique_ptr<data::ShardReader> reader;
  std::unique_ptr<data::DataPipeline> pipeline;
  std::vector<data::RawRow> held_out;   // --split_dataset_ratio rows (all ranks), for val_dataset.jsonl
  std::vector<data::RawRow> eval_rows;  // this rank's validation rows
};

// Collective: the shard readers index the files over every rank. `run` is resolved on the way (from the
// model's config.json, read here once, and `cluster`), since the pipeline needs its max_length.
RunData open_run_data(const TrainConfig& config, dist::Communicator& comm, ClusterShape cluster, ResolvedRun& run);

}  // namespace zt::train
