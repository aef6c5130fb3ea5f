// Compiled into ztune_log, without torch's include paths (see log.h).
#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

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

}  // namespace

void init(int rank, int world_size) {
  spdlog::drop("ztune");
  auto logger = spdlog::stdout_color_mt("ztune");
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
