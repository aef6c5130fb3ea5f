#include "train/run_folder.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "checkpoint/folder.h"
#include "core/check.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "train/setup.h"
#include "train/swanlab.h"

namespace zt::train {

namespace fs = std::filesystem;

RunFolder open_run_folder(const TrainConfig& config, dist::Communicator& comm, const std::string& parent,
                          SwiftRunFacts facts, const std::vector<data::RawRow>& held_out, int cuda_device) {
  RunFolder run;
  const bool rank0 = comm.rank() == 0;
  if (config.loop.add_version) {
    run.dir = choose_run_dir(parent, comm);
  } else {  // --add_version false: the folder itself, as ms-swift
    if (rank0) fs_util::make_directories(parent, "run folder (--output_dir)");
    run.dir = parent;
  }
  // One run at a time in a folder; then what interrupted saves of an earlier run left there goes.
  if (rank0) {
    run.lock = std::make_unique<checkpoint::RunLock>(run.dir, config.loop.ignore_run_lock);
    if (const int removed = checkpoint::remove_leftovers(run.dir))
      ZT_LOG_INFO("removed " << removed << " unfinished checkpoint folder(s) an interrupted save left in " << run.dir);
  }
  comm.barrier();
  // args.json as ms-swift writes it (every one of its keys), so that its tools open this run's checkpoints.
  facts.run_dir = fs::absolute(run.dir).lexically_normal().string();
  run.args_json = swift_args_json(config.args_json, facts);
  if (!rank0) return run;
  write_json_file((fs::path(run.dir) / "args.json").string(), run.args_json);
  if (!held_out.empty()) {
    std::ofstream val(fs::path(run.dir) / "val_dataset.jsonl");
    for (const data::RawRow& row : held_out) val << row.text << "\n";
    if (!val.good()) ZT_SYSTEM_THROW(run.dir << "/val_dataset.jsonl: write failed (" << std::strerror(errno) << ")");
  }
  std::unique_ptr<SwanLab> swanlab;
  if (config.loop.swanlab.has_value())
    swanlab = std::make_unique<SwanLab>(*config.loop.swanlab, swanlab_python(), run.dir, run.args_json);
  run.log = std::make_unique<RunLog>(run.dir, config.loop.tensorboard, cuda_device, std::move(swanlab));
  return run;
}

}  // namespace zt::train
