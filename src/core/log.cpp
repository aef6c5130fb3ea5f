// Compiled into ztune_log, without torch's include paths (see log.h).
#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

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

// Whether a launcher or Slurm runs this process: their pseudo-terminals and job logs are usually files.
bool under_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK", "SLURM_JOB_ID", "SLURM_STEP_ID"})
    if (std::getenv(name) != nullptr) return true;
  return false;
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
  if (under_launcher()) return spdlog::color_mode::never;
  return isatty(STDOUT_FILENO) != 0 ? spdlog::color_mode::always : spdlog::color_mode::never;
}

// Whether this process draws the status line: decided at init from the rank and where stdout goes.
bool g_status_active = false;
std::mutex g_console;       // the status line and the lines printed above it
std::string g_status_text;  // what the line shows now ("" when not drawn)

bool status_wanted(int rank) {
  if (const char* forced = std::getenv("ZTUNE_PROGRESS")) {
    if (std::strcmp(forced, "always") == 0) return rank == 0;
    if (std::strcmp(forced, "never") == 0) return false;
  }
  if (rank != 0 || under_launcher()) return false;
  const char* term = std::getenv("TERM");
  return isatty(STDOUT_FILENO) != 0 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
}

int terminal_width() {
  struct winsize size;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 10) return size.ws_col;
  return 120;
}

// Carriage return and erase-line: the status line's place, empty (callers hold g_console).
void erase_status() {
  if (!g_status_text.empty()) std::fputs("\r\033[K", stdout);
}
void draw_status() {
  if (g_status_text.empty()) return;
  const size_t width = static_cast<size_t>(terminal_width() - 1);
  std::fputs(g_status_text.size() > width ? g_status_text.substr(0, width).c_str() : g_status_text.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

void init(int rank, int world_size) {
  g_status_active = status_wanted(rank);
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

void write(Level level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_console);
  erase_status();
  spdlog::default_logger_raw()->log(to_spdlog(level), message);
  spdlog::default_logger_raw()->flush();
  draw_status();
}

bool status_active() { return g_status_active; }

void status(const std::string& text) {
  if (!g_status_active) return;
  std::lock_guard<std::mutex> lock(g_console);
  erase_status();
  g_status_text = text.substr(0, text.find_first_of("\r\n"));
  draw_status();
}

void clear_status() {
  std::lock_guard<std::mutex> lock(g_console);
  erase_status();
  g_status_text.clear();
  std::fflush(stdout);
}

void print_line(const std::string& text) {
  std::lock_guard<std::mutex> lock(g_console);
  erase_status();
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  draw_status();
}

}  // namespace zt::log
