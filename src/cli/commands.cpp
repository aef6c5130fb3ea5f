#include "cli/commands.h"

#include <cstdio>
#include <filesystem>

#include "cli/infer_export_args.h"
#include "cli/sft_args.h"
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
  SftArgs args;
  if (!parse_command(sft_table(), argv, args)) return 0;
  if (args.deepspeed.has_value()) {
    // Checked now so that a bad preset or file is reported before anything loads. "auto" sizes come from
    // the model's hidden size when the model folder is at hand.
    dist::ZeroAutoValues autos;
    autos.max_grad_norm = args.max_grad_norm;
    std::error_code ignored;
    if (std::filesystem::exists(std::filesystem::path(args.model) / "config.json", ignored))
      autos.hidden_size = model::read_model_config(args.model).hidden_size;
    else
      autos.hidden_size = 1;  // hub id: resolved when the trainer has the model; only the syntax is checked here
    dist::load_zero_config(*args.deepspeed, autos);
  }
  return train::run_sft(train_config(args, sft_table().to_json(args)));
}

}  // namespace zt::cli
