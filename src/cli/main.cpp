// ztune: one binary, ms-swift's subcommands.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/infer_export_args.h"
#include "cli/sft_command.h"
#include "core/check.h"
#include "core/log.h"
#include "dist/launch.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* summary;
};

const Command kCommands[] = {
    {"sft", zt::cli::run_sft, "fine-tune with LoRA or in full (single process, mpirun or srun)"},
    {"infer", zt::cli::run_infer, "chat with a model or adapter; batch inference over a dataset"},
    {"export", zt::cli::run_export, "consolidate checkpoints, merge LoRA, push to the hub"},
    {"upload", zt::cli::run_upload, "upload files to a ModelScope repository"},
    {"login", zt::cli::run_login, "save a ModelScope token"},
    {"env", zt::cli::run_env, "print library versions and the launch environment"},
    {"estimate", zt::cli::run_estimate, "memory, traffic and step time of an sft command line on a cluster"},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: ztune <command> [CONFIG.yaml] [--flag value ...]\n\n"
                    "ztune fine-tunes Qwen2/Llama/Qwen3 models with LoRA, taking ms-swift's command lines.\n\n"
                    "commands:\n");
  for (const Command& command : kCommands) std::fprintf(out, "  %-9s %s\n", command.name, command.summary);
  std::fprintf(out, "\nRun 'ztune <command> --help' for its flags.\n");
}

// Hidden: `ztune COMMAND --list_flags_json` prints the command's flag table as JSON, for
// tests/python/check_flag_coverage.py. Returns false for a command without a table.
bool print_flags_json(const std::string& command) {
  nlohmann::json flags;
  if (command == "sft") flags = zt::cli::sft_table().describe<zt::cli::SftCommand>();
  else if (command == "infer") flags = zt::cli::infer_table().describe<zt::cli::InferArgs>();
  else if (command == "export") flags = zt::cli::export_table().describe<zt::cli::ExportArgs>();
  else if (command == "upload") flags = zt::cli::upload_table().describe<zt::cli::UploadArgs>();
  else if (command == "login") flags = zt::cli::login_table().describe<zt::cli::LoginArgs>();
  else return false;
  std::printf("%s\n", flags.dump(1).c_str());
  return true;
}

// Hidden: `ztune COMMAND --parse_lines_json` reads one JSON array of arguments per line from stdin and parses each
// with the command's table as the command itself does, printing {"exit": 0} or {"exit": 2, "error": ...} per line:
// tests/python/check_numeric_flags.py tries every numeric flag's bad values in one process this way (and runs
// the accepted ones as real commands). Returns false for a command without a table.
template <class A>
void parse_lines(const zt::args::Table& table) {
  char* line = nullptr;
  size_t capacity = 0;
  while (getline(&line, &capacity, stdin) > 0) {
    nlohmann::json result = {{"exit", 0}};
    try {
      A target;
      table.reject_pending(table.parse(nlohmann::json::parse(line).get<std::vector<std::string>>(), target));
    } catch (const zt::Error& error) {
      result = {{"exit", 2}, {"error", error.what()}};
    }
    std::printf("%s\n", result.dump().c_str());
  }
  std::free(line);
}

bool parse_lines_json(const std::string& command) {
  if (command == "sft") parse_lines<zt::cli::SftCommand>(zt::cli::sft_table());
  else if (command == "infer") parse_lines<zt::cli::InferArgs>(zt::cli::infer_table());
  else return false;
  return true;
}

// One line on stderr (the rank and its host first when there are several), then the whole job ends with `code`.
[[noreturn]] void report_and_exit(const std::string& message, int code) {
  const zt::ProcessIdentity& id = zt::process_identity();
  zt::log::clear_status();  // the error on a line of its own, not after the progress line
  // One write, so that lines of ranks failing at once never interleave.
  const std::string line = (id.world_size > 1 ? "[rank " + std::to_string(id.rank) + " on " + id.host + "] " : "") +
                           "error: " + message + "\n";
  std::fputs(line.c_str(), stderr);
  zt::abort_job(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    zt::dist::LaunchEnv launch = zt::dist::detect_launch_env();
    zt::set_process_identity({launch.rank, launch.world_size, ""});
    zt::log::init(launch.rank, launch.world_size);

    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      print_usage(stdout);
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "version") {
      std::printf("ztune %s\n", ZTUNE_VERSION);
      return 0;
    }
    if (args.size() == 2 && args[1] == "--list_flags_json" && print_flags_json(args[0])) return 0;
    if (args.size() == 2 && args[1] == "--parse_lines_json" && parse_lines_json(args[0])) return 0;
    for (const Command& command : kCommands) {
      if (args[0] == command.name) return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    std::fprintf(stderr, "error: unknown command '%s'\n\n", args[0].c_str());
    print_usage(stderr);
    return 2;
  } catch (const zt::SystemError& error) {
    report_and_exit(error.what(), zt::kExitSystemError);
  } catch (const zt::Error& error) {
    report_and_exit(error.what(), zt::kExitUserError);
  } catch (const std::filesystem::filesystem_error& error) {
    // A file-system step outside ztune's own checked helpers: the environment's failure, with its paths.
    report_and_exit(std::string(error.what()) + "; check that the paths exist, are writable and have free space",
                    zt::kExitSystemError);
  } catch (const std::bad_alloc&) {
    report_and_exit("out of memory; use fewer ranks per node, a smaller --max_length or batch, or ZeRO-3",
                    zt::kExitSystemError);
  } catch (const std::exception& error) {
    zt::check_failed("uncaught exception", __FILE__, __LINE__, error.what());
  }
}
