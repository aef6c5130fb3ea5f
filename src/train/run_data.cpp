#include "train/run_data.h"

#include "hub/cache.h"
#include "train/model_files.h"
#include "train/setup.h"

namespace zt::train {

RunData open_run_data(const TrainConfig& config, dist::Communicator& comm, ClusterShape cluster, ResolvedRun& resolved) {
  RunData run;
  run.model_dir = hub::resolve_model_dir(config.model.model, hub_access(config));
  ModelFiles files =
      open_model_files(run.model_dir, config.data.template_name, config.data.system, config.data.chat_template_kwargs.value_or("{}"));
  resolved = resolve_run(config, std::move(files.config), cluster);
  run.weights = std::make_shared<const st::Checkpoint>(st::Checkpoint::open(run.model_dir));
  run.tokenizer = std::move(files.tokenizer);
  run.chat = std::move(files.chat);
  run.template_name = files.template_name;

  // The data index all-gather of the shard readers, over the communicator.
  const data::ExchangeFn exchange = [&comm](const std::vector<uint64_t>& mine) { return comm.all_gather_values(mine); };
  data::ReaderOptions reader_options = config.data.reader;
  reader_options.rank = comm.rank();
  reader_options.world_size = comm.size();
  reader_options.split_ratio = config.data.val_dataset.empty() ? config.data.split_dataset_ratio : 0.0;
  run.reader = std::make_unique<data::ShardReader>(resolve_datasets(config.data.dataset, hub_access(config)),
                                                   reader_options, exchange);
  data::PipelineOptions options = config.data.pipeline;
  options.max_length = static_cast<int32_t>(resolved.max_length);
  run.pipeline = std::make_unique<data::DataPipeline>(*run.reader, *run.chat, options);

  // The validation rows: --val_dataset files, or the part --split_dataset_ratio held out; this rank's share.
  if (!config.data.val_dataset.empty()) {
    reader_options.shuffle = false;
    reader_options.split_ratio = 0;
    data::ShardReader val_reader(resolve_datasets(config.data.val_dataset, hub_access(config)), reader_options, exchange);
    val_reader.start_epoch(0);
    while (std::optional<data::RawRow> row = val_reader.next()) run.eval_rows.push_back(std::move(*row));
  } else if (config.data.split_dataset_ratio > 0) {
    run.held_out = run.reader->read_validation_rows();
    for (size_t i = static_cast<size_t>(comm.rank()); i < run.held_out.size(); i += static_cast<size_t>(comm.size()))
      run.eval_rows.push_back(run.held_out[i]);
  }
  return run;
}

}  // namespace zt::train
