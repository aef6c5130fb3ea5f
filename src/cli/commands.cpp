#include "cli/commands.h"

#include <cstdio>

#include "cli/infer_export_args.h"
#include "cli/sft_args.h"
#include "core/check.h"

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
  ZT_THROW("'ztune sft' cannot train yet: the trainer lands with issue #6 (this build parses and checks the command line only)");
}

int run_infer(const std::vector<std::string>& argv) {
  InferArgs args;
  if (!parse_command(infer_table(), argv, args)) return 0;
  ZT_THROW("'ztune infer' is not available yet: inference lands with issue #7");
}

int run_export(const std::vector<std::string>& argv) {
  ExportArgs args;
  if (!parse_command(export_table(), argv, args)) return 0;
  ZT_THROW("'ztune export' is not available yet: export lands with issue #7");
}

int run_upload(const std::vector<std::string>& argv) {
  UploadArgs args;
  if (!parse_command(upload_table(), argv, args)) return 0;
  ZT_THROW("'ztune upload' is not available yet: the hub client lands with issue #7");
}

int run_login(const std::vector<std::string>& argv) {
  LoginArgs args;
  if (!parse_command(login_table(), argv, args)) return 0;
  ZT_THROW("'ztune login' is not available yet: the hub client lands with issue #7");
}

}  // namespace zt::cli
