// Text generation with a KV cache: one prefill over the (left-padded) prompts, then one token per step
// for the whole batch; greedy or sampled (temperature, top_k, top_p, repetition_penalty), ending each
// sequence at a stop token or after max_new_tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/decoder.h"

namespace zt::model {

struct SamplingConfig {
  double temperature = 1.0;          // 0: greedy
  bool do_sample = false;            // false: greedy whatever the temperature
  int64_t top_k = 0;                 // 0: off
  double top_p = 1.0;                // 1: off
  double repetition_penalty = 1.0;   // 1: off
  int64_t max_new_tokens = 512;
  std::vector<int64_t> stop_ids;
  uint64_t seed = 42;
};

// New tokens of each prompt (stop token included when one ended it). `on_token(sequence, token)` is
// called as tokens are chosen, for streaming output.
std::vector<std::vector<int64_t>> generate(const DecoderModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const SamplingConfig& config,
                                           const std::function<void(size_t, int64_t)>& on_token = {});

// Applies repetition penalty, temperature, top-k and top-p to one row of logits [V] (in that order, as
// transformers' processors do) and picks a token; greedy when sampling is off.
int64_t choose_token(at::Tensor logits, const std::vector<int64_t>& seen, const SamplingConfig& config,
                     at::Generator& generator);
// The same processors for a whole batch where the logits are (the GPU path: no logits leave the device):
// logits [B, V], `seen` [B, V] bool marking each sequence's ids so far (for the repetition penalty; may be
// undefined without one). Returns the chosen ids [B] (int64) on the logits' device. Greedy picks equal
// choose_token's; samples come from `generator` (a generator of the logits' device).
at::Tensor choose_tokens(const at::Tensor& logits, const at::Tensor& seen, const SamplingConfig& config,
                         at::Generator& generator);

}  // namespace zt::model
