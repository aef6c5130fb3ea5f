#include "cli/commands.h"

#include <cstdio>
#include <filesystem>

#include "cli/infer_export_args.h"
#include "cli/sft_command.h"
#include "core/check.h"
#include "dist/zero_config.h"
#include "model/config.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace zt::cli {

bool help_requested(const std::vector<std::string>& argv) {
  for (const std::string& arg : argv)
    if (arg == "--help" || arg == "-h") return true;
  return false;
}

void print_help(const std::string& text) { std::fputs(text.c_str(), stdout); }

int run_sft(const std::vector<std::string>& argv) {
  SftCommand command;
  if (!parse_command(sft_table(), argv, command)) return 0;
  nlohmann::json args_json = sft_table().to_json(command);
  train::TrainConfig config = resolve_sft(std::move(command), std::move(args_json));
  if (config.optim.deepspeed.has_value()) {
    // Checked now (from the text read once) so that a bad preset or file is reported before anything loads;
    // the "auto" sizes are the model's, filled in when the run is resolved.
    dist::ZeroAutoValues autos;
    autos.max_grad_norm = config.optim.max_grad_norm;
    autos.hidden_size = 1;
    dist::parse_zero_config(config.optim.deepspeed->text, config.optim.deepspeed->origin, autos);
  }
  return train::run_sft(config);
}

}  // namespace zt::cli
