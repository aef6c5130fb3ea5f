// Progress of one long piece of work that is not a training step (a download, a GGUF import, a merge): on a
// terminal the live status line (log.h) shows "LABEL  41% 1.2/2.9 GB  38.0 MB/s  ETA 0:45", redrawn at most ten
// times a second; elsewhere (a file, a pipe, Slurm) a plain line every 30 s, so a long job's log still moves,
// and nothing with a control character.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace zt {

class Progress {
 public:
  enum class Unit { bytes, items };
  // total 0: unknown (no percentage, no ETA).
  Progress(std::string label, uint64_t total, Unit unit = Unit::bytes);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(uint64_t amount) { update(done_ + amount); }
  void update(uint64_t done);
  // The line goes; `summary` (when not empty) is logged in its place.
  void finish(const std::string& summary = "");

  // "1.2 GB", "350 MB", "12 kB", "17 B" (decimal units, as download tools print them).
  static std::string bytes_text(double bytes);
  // "0:45", "12:03", "2:05:00".
  static std::string duration_text(double seconds);

 private:
  std::string text() const;
  std::string label_;
  uint64_t total_;
  Unit unit_;
  uint64_t done_ = 0;
  uint64_t first_ = 0;  // what was already done when counting began (a resumed download)
  bool started_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point begin_, last_draw_, last_line_;
};

}  // namespace zt
