// LoRA training-step throughput of ztune's decoder, for bench/bench_model.py.
// usage: ztune_model_bench MODEL_DIR SEQ SAMPLES_PER_ROW STEPS CHECKPOINTING(0|1) [LORA_DROPOUT [TARGETS]]
// LORA_DROPOUT defaults to 0.05 and TARGETS (comma-separated module names) to all-linear; a mixture of experts
// with its experts adapted needs dropout 0 (bench/bench_moe.py).
// One packed row of SEQ tokens holding SAMPLES_PER_ROW samples per step: forward, chunked loss, backward.
// Prints one JSON line: tokens/s, peak resident memory added by the steps, and the GEMM peak of this
// machine (fp32 2048^3 matmul) for MFU.
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model/decoder.h"

namespace {

long status_kib(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::string(key).size()));
  return 0;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

double gemm_flops_per_second() {
  at::Tensor a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  at::matmul(a, b);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) at::matmul(a, b);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 5 * 2.0 * 2048.0 * 2048.0 * 2048.0 / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6 || argc > 8) {
    std::fprintf(stderr, "usage: %s MODEL_DIR SEQ SAMPLES_PER_ROW STEPS CHECKPOINTING [LORA_DROPOUT [TARGETS]]\n", argv[0]);
    return 2;
  }
  const int64_t seq = std::stoll(argv[2]), samples = std::stoll(argv[3]), steps = std::stoll(argv[4]);
  zt::model::ModelOptions options;
  options.lora = zt::model::lora_config(8, 32, argc > 6 ? std::stod(argv[6]) : 0.05);
  if (argc > 7) {
    options.lora->target_modules.clear();
    std::string targets = argv[7];
    for (size_t begin = 0, comma; begin <= targets.size(); begin = comma + 1) {
      comma = targets.find(',', begin);
      if (comma == std::string::npos) comma = targets.size();
      options.lora->target_modules.push_back(targets.substr(begin, comma - begin));
    }
  }
  options.gradient_checkpointing = std::string(argv[5]) == "1";
  torch::manual_seed(0);
  zt::model::DecoderModel model = zt::model::DecoderModel::load(argv[1], options);
  at::Tensor ids = at::randint(0, model.config().vocab_size, {1, seq}, at::kLong);
  at::Tensor positions = at::arange(seq / samples, at::kLong).repeat({samples}).unsqueeze(0);
  auto step = [&] {
    zt::model::LossOutput loss = model.loss(model.hidden_states(ids, positions, true), ids);
    loss.loss_sum.backward();
    for (auto& [name, tensor] : model.trainable_parameters()) tensor.mutable_grad() = at::Tensor();
  };
  step();  // warm-up
  if (const char* trace = std::getenv("ZTUNE_BENCH_TRACE")) {  // chrome trace of one step, for profiling
    torch::autograd::profiler::RecordProfile profile(trace);
    step();
  }
  long before = status_kib("VmRSS:");
  reset_peak_rss();
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long peak = status_kib("VmHWM:");
  std::printf("{\"tokens_per_second\": %.2f, \"peak_added_mib\": %.1f, \"gemm_flops\": %.4g, \"threads\": %d}\n",
              static_cast<double>(seq * steps) / seconds, (peak - before) / 1024.0, gemm_flops_per_second(),
              at::get_num_threads());
  return 0;
}
