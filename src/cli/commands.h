// The subcommands of the ztune binary. Each takes the arguments after its name and returns the exit code;
// user errors are thrown as zt::Error and reported by main().
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/args.h"

namespace zt::cli {

int run_sft(const std::vector<std::string>& argv);
int run_infer(const std::vector<std::string>& argv);
int run_export(const std::vector<std::string>& argv);
int run_upload(const std::vector<std::string>& argv);
int run_login(const std::vector<std::string>& argv);
int run_env(const std::vector<std::string>& argv);
int run_estimate(const std::vector<std::string>& argv);

// Parses `argv` with `table` into `target`. Returns nullopt after printing --help when it was asked for.
template <class A>
std::optional<std::set<std::string>> parse_command(const args::Table& table, const std::vector<std::string>& argv,
                                                   A& target);
bool help_requested(const std::vector<std::string>& argv);
// "out/ckpt///" -> "out/ckpt" (so that CKPT + "-merged" names a sibling folder).
inline std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}
void print_help(const std::string& text);

template <class A>
std::optional<std::set<std::string>> parse_command(const args::Table& table, const std::vector<std::string>& argv,
                                                   A& target) {
  if (help_requested(argv)) {
    print_help(table.help<A>());
    return std::nullopt;
  }
  std::set<std::string> given = table.parse(argv, target);
  table.reject_pending(given);
  return given;
}

}  // namespace zt::cli
