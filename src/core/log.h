// Logging through spdlog. Every line carries the rank when there are several; only rank 0 prints info
// unless ZTUNE_LOG_ALL_RANKS=1. ZTUNE_LOG_LEVEL=debug|info|warn|error sets the level.
//
// Usage: ZT_LOG_INFO("step " << step << " loss " << loss);
// The message is built only when the level is enabled. This header is deliberately free of spdlog and
// fmt: libtorch bundles a newer fmt than Debian's spdlog is built against, so spdlog lives in its own
// translation unit (log.cpp), compiled without torch's include paths.
#pragma once

#include <sstream>
#include <string>

namespace zt::log {

enum class Level { debug = 1, info = 2, warn = 3, error = 4 };

// Installs the process-wide logger; call once the rank is known.
void init(int rank, int world_size);
bool enabled(Level level);
void write(Level level, const std::string& message);

}  // namespace zt::log

#define ZT_LOG_AT(level, ...)                                           \
  do {                                                                  \
    if (::zt::log::enabled(level)) {                                    \
      std::ostringstream zt_log_stream_;                                \
      zt_log_stream_ << __VA_ARGS__;                                    \
      ::zt::log::write(level, zt_log_stream_.str());                    \
    }                                                                   \
  } while (0)
#define ZT_LOG_DEBUG(...) ZT_LOG_AT(::zt::log::Level::debug, __VA_ARGS__)
#define ZT_LOG_INFO(...) ZT_LOG_AT(::zt::log::Level::info, __VA_ARGS__)
#define ZT_LOG_WARN(...) ZT_LOG_AT(::zt::log::Level::warn, __VA_ARGS__)
#define ZT_LOG_ERROR(...) ZT_LOG_AT(::zt::log::Level::error, __VA_ARGS__)
