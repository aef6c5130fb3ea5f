// Compiled into ztune_log, without torch's include paths (see log.h).
#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace zt::log {
namespace {

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Colour only for a person at a terminal. Launchers (mpirun's orted, srun) hand ranks a pseudo-terminal
// even when the job's output goes to a file, so under a launcher there is no colour unless asked for.
// ZTUNE_COLOR=always|never overrides; NO_COLOR (no-color.org) turns it off.
spdlog::color_mode colour_mode() {
  if (const char* forced = std::getenv("ZTUNE_COLOR")) {
    if (std::strcmp(forced, "always") == 0) return spdlog::color_mode::always;
    if (std::strcmp(forced, "never") == 0) return spdlog::color_mode::never;
  }
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return spdlog::color_mode::never;
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK", "SLURM_STEP_ID"})
    if (std::getenv(launcher) != nullptr) return spdlog::color_mode::never;
  return isatty(STDOUT_FILENO) != 0 ? spdlog::color_mode::always : spdlog::color_mode::never;
}

}  // namespace

void init(int rank, int world_size) {
  spdlog::drop("ztune");
  auto logger = spdlog::stdout_color_mt("ztune", colour_mode());
  std::string rank_tag = world_size > 1 ? "[rank " + std::to_string(rank) + "] " : "";
  logger->set_pattern("[%H:%M:%S] " + rank_tag + "%^%l%$: %v");

  spdlog::level::level_enum level = spdlog::level::info;
  if (const char* env = std::getenv("ZTUNE_LOG_LEVEL")) level = spdlog::level::from_str(env);
  const char* all_ranks = std::getenv("ZTUNE_LOG_ALL_RANKS");
  bool quiet_rank = rank != 0 && !(all_ranks != nullptr && std::string(all_ranks) == "1");
  if (quiet_rank && level < spdlog::level::warn) level = spdlog::level::warn;
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

void write(Level level, const std::string& message) { spdlog::default_logger_raw()->log(to_spdlog(level), message); }

}  // namespace zt::log
