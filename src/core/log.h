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

// The live status line: one line at the bottom of a terminal, redrawn in place (rank 0's training progress, as
// tqdm draws it for ms-swift users), with every log line and print_line() printed above it, never inside it.
// Drawn only on rank 0 when stdout is a terminal a person watches: not a file or pipe, not a launcher's
// pseudo-terminal (mpirun, srun; their output often goes to a file) and not under Slurm; ZTUNE_PROGRESS=always
// or never overrides. Elsewhere status() does nothing and nothing with a control character is written.
bool status_active();
void status(const std::string& text);
void clear_status();  // removes the line (end of training)
// A plain line on stdout (the per-step and eval lines), above the status line.
void print_line(const std::string& text);

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
