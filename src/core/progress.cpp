#include "core/progress.h"

#include <cstdio>

#include "core/log.h"

namespace zt {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedraw = std::chrono::milliseconds(100);
constexpr auto kPlainLine = std::chrono::seconds(30);

}  // namespace

Progress::Progress(std::string label, uint64_t total, Unit unit)
    : label_(std::move(label)), total_(total), unit_(unit), begin_(Clock::now()), last_draw_(begin_),
      last_line_(begin_) {}

Progress::~Progress() {
  if (!finished_) log::clear_status();
}

std::string Progress::bytes_text(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000.0 && unit < 4) bytes /= 1000.0, ++unit;
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : bytes < 10.0 ? "%.2f %s" : bytes < 100.0 ? "%.1f %s" : "%.0f %s",
                bytes, units[unit]);
  return text;
}

std::string Progress::duration_text(double seconds) {
  const long whole = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  char text[32];
  if (whole >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", whole / 3600, whole / 60 % 60, whole % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", whole / 60, whole % 60);
  return text;
}

std::string Progress::text() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - begin_).count();
  const double rate = elapsed > 0 ? double(done_ - first_) / elapsed : 0.0;
  std::string out = label_;
  char part[64];
  if (total_ > 0) {
    std::snprintf(part, sizeof part, "  %3.0f%%", 100.0 * double(done_) / double(total_));
    out += part;
  }
  if (unit_ == Unit::bytes) {
    out += "  " + bytes_text(double(done_)) + (total_ > 0 ? "/" + bytes_text(double(total_)) : "");
    if (rate > 0) out += "  " + bytes_text(rate) + "/s";
  } else {
    out += "  " + std::to_string(done_) + (total_ > 0 ? "/" + std::to_string(total_) : "");
    if (rate > 0) {
      std::snprintf(part, sizeof part, "  %.1f/s", rate);
      out += part;
    }
  }
  if (total_ > 0 && rate > 0 && done_ < total_) out += "  ETA " + duration_text(double(total_ - done_) / rate);
  return out;
}

void Progress::update(uint64_t done) {
  if (!started_) {
    started_ = true;
    first_ = done_ = done;
    begin_ = Clock::now();
  }
  done_ = done;
  const Clock::time_point now = Clock::now();
  if (log::status_active()) {
    if (now - last_draw_ >= kRedraw || (total_ > 0 && done_ >= total_)) {
      last_draw_ = now;
      log::status(text());
    }
  } else if (now - last_line_ >= kPlainLine) {
    last_line_ = now;
    ZT_LOG_INFO(text());
  }
}

void Progress::finish(const std::string& summary) {
  if (finished_) return;
  finished_ = true;
  log::clear_status();
  if (!summary.empty()) ZT_LOG_INFO(summary);
}

}  // namespace zt
