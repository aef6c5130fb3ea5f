// What a run reports (rank 0 only): logging.jsonl with ms-swift's keys, TensorBoard event files under
// runs/, the progress line on stdout, and the curves under images/.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace zt::train {

class EventWriter;
class SwanLab;

struct TrainLogLine {
  int64_t step = 0, total_steps = 0, first_step = 0;  // first_step: where this process started (resume)
  double loss = 0, grad_norm = 0, learning_rate = 0, token_acc = 0, epoch = 0;
  double tokens_seen = 0;  // input tokens of all ranks since this process started, for tokens/s
  bool skipped = false;    // the optimizer step was skipped (non-finite gradients)
};

struct EvalLogLine {
  int64_t step = 0, total_steps = 0;
  double loss = 0, token_acc = 0, epoch = 0, runtime = 0;
  int64_t samples = 0, batches = 0;
};

class RunLog {
 public:
  // Opens run_dir/logging.jsonl and, with `tensorboard`, an event file under run_dir/runs; with `swanlab`,
  // the scalars go there too (its keys are ms-swift's: train/loss, eval/loss, ...).
  // `cuda_device` >= 0: training runs on that GPU, and memory(GiB) is its caching allocator's peak
  // reserved bytes (as ms-swift reports), with the peak allocated bytes beside it; else the resident set.
  RunLog(const std::string& run_dir, bool tensorboard, int cuda_device = -1, std::unique_ptr<SwanLab> swanlab = nullptr);
  ~RunLog();  // a SwanLab run not finished is marked crashed

  void train(const TrainLogLine& line);
  void eval(const EvalLogLine& line);
  // The live progress line on a terminal (log::status): step/total, during accumulation the micro-batch, the last
  // step's loss, tokens/s and ETA since `first_step`. Within a step, redrawn at its first micro-batch and then at
  // most every 0.2 s; cheap when the output is not a terminal (nothing is drawn).
  void progress(int64_t step, int64_t total, int64_t first_step, int micro, int accumulation, double last_loss,
                double tokens_seen);
  // Rewrites the charts under run_dir/images (train_loss.svg, train_learning_rate.svg, ...).
  void write_images() const;
  // The run ended as planned (or stopped by a signal after its checkpoint): ends the SwanLab run.
  void finish();
  // Every entry written so far, each with its "step" (trainer_state.json's log_history).
  const nlohmann::json& history() const { return history_; }
  double seconds() const;

 private:
  void write(const nlohmann::json& entry, int64_t step);
  std::string run_dir_;
  int cuda_device_ = -1;
  std::ofstream jsonl_;
  std::unique_ptr<EventWriter> events_;
  std::unique_ptr<SwanLab> swanlab_;
  nlohmann::json history_ = nlohmann::json::array();
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> curves_;  // tag -> steps, values
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point drawn_{};  // when the progress line was last drawn
};

std::string format_seconds(double seconds);

}  // namespace zt::train
