#include "model/generation.h"

#include "core/torch_api.h"

#include <limits>
#include <set>

#include "core/check.h"

namespace zt::model {

int64_t choose_token(at::Tensor logits, const std::vector<int64_t>& seen, const SamplingConfig& config,
                     at::Generator& generator) {
  logits = logits.to(at::kFloat).clone();
  if (config.repetition_penalty != 1.0 && !seen.empty()) {
    std::set<int64_t> unique(seen.begin(), seen.end());
    at::Tensor ids = at::tensor(std::vector<int64_t>(unique.begin(), unique.end()), at::kLong).to(logits.device());
    at::Tensor scores = logits.index_select(0, ids);
    scores = at::where(scores < 0, scores * config.repetition_penalty, scores / config.repetition_penalty);
    logits.index_copy_(0, ids, scores);
  }
  if (!config.do_sample || config.temperature <= 0) return logits.argmax().item<int64_t>();
  logits = logits / config.temperature;
  const float minus_inf = -std::numeric_limits<float>::infinity();
  if (config.top_k > 0 && config.top_k < logits.size(0)) {
    at::Tensor kth = std::get<0>(logits.topk(config.top_k)).min();
    logits = logits.masked_fill(logits < kth, minus_inf);
  }
  if (config.top_p < 1.0) {
    // Keep the smallest set of most likely tokens whose probability reaches top_p.
    auto [sorted, order] = logits.sort(/*dim=*/0, /*descending=*/false);
    at::Tensor cumulative = sorted.softmax(0).cumsum(0);
    at::Tensor drop_sorted = cumulative <= (1.0 - config.top_p);
    drop_sorted[-1] = false;
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(0, order, drop_sorted);
    logits = logits.masked_fill(drop, minus_inf);
  }
  at::Tensor probabilities = logits.softmax(0);
  return at::multinomial(probabilities, 1, false, generator).item<int64_t>();
}

at::Tensor choose_tokens(const at::Tensor& logits, const at::Tensor& seen, const SamplingConfig& config,
                         at::Generator& generator) {
  at::Tensor x = logits.to(at::kFloat);
  if (config.repetition_penalty != 1.0 && seen.defined())
    x = at::where(seen, at::where(x < 0, x * config.repetition_penalty, x / config.repetition_penalty), x);
  if (!config.do_sample || config.temperature <= 0) return x.argmax(-1);
  x = x / config.temperature;
  const float minus_inf = -std::numeric_limits<float>::infinity();
  if (config.top_k > 0 && config.top_k < x.size(-1)) {
    const at::Tensor kth = std::get<0>(x.topk(config.top_k, -1)).select(-1, config.top_k - 1).unsqueeze(-1);
    x = x.masked_fill(x < kth, minus_inf);
  }
  if (config.top_p < 1.0) {
    auto [sorted, order] = x.sort(/*dim=*/-1, /*descending=*/false);
    at::Tensor drop_sorted = sorted.softmax(-1).cumsum(-1) <= (1.0 - config.top_p);
    drop_sorted.select(-1, drop_sorted.size(-1) - 1).fill_(false);
    x = x.masked_fill(at::zeros_like(drop_sorted).scatter(-1, order, drop_sorted), minus_inf);
  }
  return at::multinomial(x.softmax(-1), 1, false, generator).squeeze(-1);
}

std::vector<std::vector<int64_t>> generate(const DecoderModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const SamplingConfig& config,
                                           const std::function<void(size_t, int64_t)>& on_token) {
  at::NoGradGuard no_grad;
  const auto batch = static_cast<int64_t>(prompts.size());
  ZT_REQUIRE(batch > 0, "generate: no prompts");
  int64_t longest = 0;
  for (const auto& prompt : prompts) {
    ZT_REQUIRE(!prompt.empty(), "generate: an empty prompt");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompt.size()));
  }
  const at::Device device = model.options().device;
  // Left padding: every prompt ends at the same column, so each step appends one column for all.
  at::Tensor ids = at::zeros({batch, longest}, at::kLong);
  at::Tensor real = at::zeros({batch, longest}, at::kBool);  // key columns holding real tokens
  for (int64_t b = 0; b < batch; ++b) {
    const auto& prompt = prompts[static_cast<size_t>(b)];
    const auto offset = longest - static_cast<int64_t>(prompt.size());
    for (size_t i = 0; i < prompt.size(); ++i) ids[b][offset + static_cast<int64_t>(i)] = prompt[i];
    real[b].narrow(0, offset, static_cast<int64_t>(prompt.size())).fill_(true);
  }
  ids = ids.to(device);
  real = real.to(device);
  at::Tensor positions = (real.to(at::kLong).cumsum(1) - 1).clamp_min(0);
  at::Tensor causal = at::ones({longest, longest}, real.options()).tril();
  // A padded query row attends to nothing real; let it see itself so softmax stays finite.
  at::Tensor mask = (causal.unsqueeze(0) & real.unsqueeze(1)) | at::eye(longest, real.options()).unsqueeze(0);

  KvCache cache;
  cache.capacity = longest + config.max_new_tokens;
  // Which key columns hold real tokens, for every column the generation can reach; a step reads a prefix.
  at::Tensor real_columns = at::ones({batch, cache.capacity}, real.options());
  real_columns.narrow(1, 0, longest).copy_(real);
  at::Tensor hidden = model.forward_cached(ids, positions, mask.unsqueeze(1), cache);
  at::Tensor last_logits = model.logits(hidden.select(1, longest - 1));  // [B, V]

  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(config.seed);
  std::vector<std::vector<int64_t>> outputs(static_cast<size_t>(batch));
  std::vector<std::vector<int64_t>> seen(prompts.begin(), prompts.end());
  std::vector<bool> done(static_cast<size_t>(batch), false);
  at::Tensor next_positions = positions.select(1, longest - 1) + 1;  // [B]
  // On a GPU, and for plain greedy anywhere, every sequence's token is chosen where the logits are, all at
  // once: one read of B ids per step, the tokens that are streamed. Sampling on the CPU keeps the row by
  // row path (its draws are the ones the tests compare with transformers).
  const bool batched = device.is_cuda() || ((!config.do_sample || config.temperature <= 0) && config.repetition_penalty == 1.0);
  at::Tensor seen_mask;  // [B, V]: ids each sequence holds, for the repetition penalty on the device
  at::Generator device_generator;
  if (batched && config.repetition_penalty != 1.0) {
    seen_mask = at::zeros({batch, model.config().vocab_size}, at::TensorOptions().dtype(at::kBool).device(device));
    for (int64_t b = 0; b < batch; ++b)
      seen_mask[b].index_fill_(0, at::tensor(prompts[static_cast<size_t>(b)], at::kLong).to(device), true);
  }
  if (batched && config.do_sample && config.temperature > 0) {
    device_generator = at::globalContext().defaultGenerator(device).clone();
    device_generator.set_current_seed(config.seed);
  }
  for (int64_t step = 0; step < config.max_new_tokens; ++step) {
    std::vector<int64_t> chosen(static_cast<size_t>(batch), 0);
    at::Tensor picked;
    if (batched) {
      const at::Tensor ids_now = choose_tokens(last_logits, seen_mask, config, device_generator);
      if (seen_mask.defined()) seen_mask.scatter_(1, ids_now.unsqueeze(1), true);
      picked = ids_now.to(at::kCPU);
    }
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      if (done[static_cast<size_t>(b)]) continue;
      int64_t token = batched ? picked[b].item<int64_t>()
                              : choose_token(last_logits[b].cpu(), seen[static_cast<size_t>(b)], config, generator);
      chosen[static_cast<size_t>(b)] = token;
      outputs[static_cast<size_t>(b)].push_back(token);
      seen[static_cast<size_t>(b)].push_back(token);
      if (on_token) on_token(static_cast<size_t>(b), token);
      if (std::find(config.stop_ids.begin(), config.stop_ids.end(), token) != config.stop_ids.end())
        done[static_cast<size_t>(b)] = true;
      else
        all_done = false;
    }
    if (all_done || step + 1 == config.max_new_tokens) break;
    at::Tensor step_ids = at::tensor(chosen, at::kLong).unsqueeze(1).to(device);
    const int64_t columns = cache.length() + 1;
    hidden = model.forward_cached(step_ids, next_positions.unsqueeze(1),
                                  real_columns.narrow(1, 0, columns).unsqueeze(1).unsqueeze(1), cache);
    last_logits = model.logits(hidden.select(1, 0));
    next_positions = next_positions + 1;
  }
  return outputs;
}

}  // namespace zt::model
