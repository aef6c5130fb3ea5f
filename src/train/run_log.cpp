#include "train/run_log.h"

#include <cstdio>
#include <filesystem>

#include "core/check.h"
#include "core/log.h"
#include "dist/cuda_runtime.h"
#include "train/plot.h"
#include "train/swanlab.h"
#include "train/tensorboard.h"

namespace zt::train {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

double resident_gib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / (1024.0 * 1024.0);
  return 0;
}

std::string step_of(int64_t step, int64_t total) { return std::to_string(step) + "/" + std::to_string(total); }

std::string percentage(int64_t step, int64_t total) {
  char text[16];
  std::snprintf(text, sizeof text, "%.2f%%", 100.0 * double(step) / double(std::max<int64_t>(1, total)));
  return text;
}

}  // namespace

std::string format_seconds(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%lldh %02lldm %02llds", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return text;
}

RunLog::RunLog(const std::string& run_dir, bool tensorboard, int cuda_device, std::unique_ptr<SwanLab> swanlab)
    : run_dir_(run_dir), cuda_device_(cuda_device), swanlab_(std::move(swanlab)) {
  const fs::path path = fs::path(run_dir) / "logging.jsonl";
  jsonl_.open(path, std::ios::app);
  ZT_REQUIRE(jsonl_.good(), path.string() << ": cannot open for writing");
  if (tensorboard) events_ = std::make_unique<EventWriter>((fs::path(run_dir) / "runs").string());
}

RunLog::~RunLog() = default;

void RunLog::finish() {
  if (swanlab_) swanlab_->finish(true);
}

double RunLog::seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

void RunLog::write(const json& entry, int64_t step) {
  jsonl_ << entry.dump() << "\n" << std::flush;
  // trainer_state.json's log_history: the same entry with the step, as transformers records it.
  json recorded = entry;
  recorded["step"] = step;
  history_.push_back(std::move(recorded));
}

void RunLog::train(const TrainLogLine& line) {
  const double elapsed = seconds();
  const double per_step = elapsed / double(std::max<int64_t>(1, line.step - line.first_step));
  const double remaining = per_step * double(line.total_steps - line.step);
  const double tokens_per_second = line.tokens_seen / std::max(1e-9, elapsed);
  json entry = {{"loss", line.loss},
                {"grad_norm", line.grad_norm},
                {"learning_rate", line.learning_rate},
                {"token_acc", line.token_acc},
                {"epoch", line.epoch},
                {"global_step/max_steps", step_of(line.step, line.total_steps)},
                {"percentage", percentage(line.step, line.total_steps)},
                {"elapsed_time", format_seconds(elapsed)},
                {"remaining_time", format_seconds(remaining)},
                {"memory(GiB)", resident_gib()},
                {"train_speed(s/it)", per_step},
                {"tokens/s", tokens_per_second}};
  if (cuda_device_ >= 0) {
    const dist::CudaMemoryPeak peak = dist::cuda_memory_peak(cuda_device_);
    constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
    entry["memory(GiB)"] = double(peak.reserved) / kGiB;
    entry["memory_allocated_peak(GiB)"] = double(peak.allocated) / kGiB;
  }
  if (line.skipped) entry["skipped"] = true;
  write(entry, line.step);
  const std::pair<const char*, double> scalars[] = {{"train/loss", line.loss},
                                                    {"train/grad_norm", line.grad_norm},
                                                    {"train/learning_rate", line.learning_rate},
                                                    {"train/token_acc", line.token_acc},
                                                    {"train/epoch", line.epoch},
                                                    {"train/tokens_per_second", tokens_per_second}};
  for (const auto& [tag, value] : scalars) {
    if (events_) events_->add_scalar(tag, value, line.step);
    curves_[tag].first.push_back(double(line.step));
    curves_[tag].second.push_back(value);
  }
  if (events_) events_->flush();
  if (swanlab_) {
    // ms-swift's keys (transformers' SwanLab callback: train/<key> at the global step), and ztune's speed and memory.
    json metrics = {{"train/loss", line.loss},           {"train/grad_norm", line.grad_norm},
                    {"train/learning_rate", line.learning_rate}, {"train/token_acc", line.token_acc},
                    {"train/epoch", line.epoch},         {"train/global_step", line.step},
                    {"train/tokens_per_second", tokens_per_second}, {"train/memory(GiB)", entry["memory(GiB)"]}};
    swanlab_->log(line.step, metrics);
  }
  char text[256];
  std::snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  token_acc %.3f  %.0f tokens/s  ETA %s",
                static_cast<long long>(line.step), static_cast<long long>(line.total_steps), line.loss,
                line.learning_rate, line.grad_norm, line.token_acc, tokens_per_second, format_seconds(remaining).c_str());
  log::print_line(text);
}

void RunLog::progress(int64_t step, int64_t total, int64_t first_step, int micro, int accumulation, double last_loss,
                      double tokens_seen) {
  if (!log::status_active()) return;
  const auto now = std::chrono::steady_clock::now();
  const bool step_done = micro == accumulation;
  // Within a step: its first micro-batch, then at most every 0.2 s.
  if (!step_done && micro > 1 && now - drawn_ < std::chrono::milliseconds(200)) return;
  drawn_ = now;
  const double elapsed = seconds();
  const int64_t done = step_done ? step : step - 1;
  std::string text = "step " + step_of(step, total);
  char part[160];
  if (accumulation > 1 && !step_done) {
    std::snprintf(part, sizeof part, "  micro-batch %d/%d", micro, accumulation);
    text += part;
  }
  if (done > first_step) {
    const double per_step = elapsed / double(done - first_step);
    std::snprintf(part, sizeof part, "  loss %.4f  %.0f tokens/s  ETA %s", last_loss, tokens_seen / std::max(1e-9, elapsed),
                  format_seconds(per_step * double(total - done)).c_str());
    text += part;
  }
  log::status(text);
}

void RunLog::eval(const EvalLogLine& line) {
  const double runtime = std::max(1e-9, line.runtime);
  json entry = {{"eval_loss", line.loss},
                {"eval_token_acc", line.token_acc},
                {"eval_runtime", line.runtime},
                {"eval_samples_per_second", double(line.samples) / runtime},
                {"eval_steps_per_second", double(line.batches) / runtime},
                {"epoch", line.epoch},
                {"global_step/max_steps", step_of(line.step, line.total_steps)}};
  write(entry, line.step);
  for (const auto& [tag, value] : {std::pair<const char*, double>{"eval/loss", line.loss}, {"eval/token_acc", line.token_acc}}) {
    if (events_) events_->add_scalar(tag, value, line.step);
    curves_[tag].first.push_back(double(line.step));
    curves_[tag].second.push_back(value);
  }
  if (events_) events_->flush();
  if (swanlab_)
    swanlab_->log(line.step, {{"eval/loss", line.loss},
                              {"eval/token_acc", line.token_acc},
                              {"eval/runtime", line.runtime},
                              {"eval/samples_per_second", entry["eval_samples_per_second"]},
                              {"eval/steps_per_second", entry["eval_steps_per_second"]}});
  char text[200];
  std::snprintf(text, sizeof text, "eval at step %lld: eval_loss %.4f  eval_token_acc %.4f  (%lld samples, %.1f s)",
                static_cast<long long>(line.step), line.loss, line.token_acc, static_cast<long long>(line.samples),
                line.runtime);
  log::print_line(text);
}

void RunLog::write_images() const {
  if (curves_.empty()) return;
  const fs::path dir = fs::path(run_dir_) / "images";
  fs::create_directories(dir);
  for (const auto& [tag, curve] : curves_) {
    std::string name = tag;
    for (char& c : name)
      if (c == '/') c = '_';
    std::vector<Series> series{{tag, curve.first, curve.second, "#1f77b4"}};
    if (tag == "train/loss" && curve.second.size() > 2)
      series.push_back({"smoothed (0.9)", curve.first, smooth(curve.second, 0.9), "#d62728"});
    write_line_chart((dir / (name + ".svg")).string(), tag, "step", series);
  }
}

}  // namespace zt::train
