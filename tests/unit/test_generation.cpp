// Generation: greedy tokens equal transformers' generate (tests/python/generation_reference.py) for a
// left-padded batch, with and without an adapter and with repetition penalty; KV-cache decoding gives the
// logits of a full recomputation; a merged adapter computes what the unmerged one does; sampling knobs.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "model/decoder.h"
#include "model/generation.h"
#include "model/mixer/gated_deltanet.h"

namespace {

namespace fs = std::filesystem;
using namespace zt::model;

const std::string kFixtures = ZTUNE_FIXTURES_DIR;
const fs::path kReference = fs::path(ZTUNE_TEST_WORK_DIR) / "generation-reference";

DecoderModel load(const std::string& name, bool with_adapter) {
  ModelOptions options;
  if (with_adapter) options.lora = lora_config(8, 16, 0.0);
  const fs::path variant = kReference / "models" / name;  // config variants, written by generation_reference.py
  DecoderModel model = DecoderModel::load(fs::exists(variant) ? variant.string() : kFixtures + "/" + name, options);
  if (with_adapter) {
    zt::st::Checkpoint adapter = zt::st::Checkpoint::open((kReference / (name + "-adapter.safetensors")).string());
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const std::string& tensor : adapter.names()) tensors.emplace_back(tensor, zt::st::load_tensor(adapter, tensor));
    model.load_adapter_tensors(tensors);
  }
  return model;
}

TEST(Generation, GreedyTokensEqualTransformersGenerate) {
  std::ifstream stream(kReference / "generation.json");
  nlohmann::json reference = nlohmann::json::parse(stream);
  auto prompts = reference["prompts"].get<std::vector<std::vector<int64_t>>>();
  int cases = 0;
  for (const nlohmann::json& item : reference["cases"]) {
    DecoderModel model = load(item["model"], item["adapter"]);
    SamplingConfig config;
    config.max_new_tokens = 64;
    config.repetition_penalty = item["repetition_penalty"];
    config.stop_ids = item["stop"].get<std::vector<int64_t>>();
    auto outputs = generate(model, prompts, config);
    EXPECT_EQ(outputs, item["outputs"].get<std::vector<std::vector<int64_t>>>())
        << item["model"] << " adapter " << item["adapter"] << " penalty " << item["repetition_penalty"];
    ++cases;
  }
  EXPECT_EQ(cases, 16);
}

TEST(Generation, KvCacheDecodeEqualsFullRecompute) {
  DecoderModel model = load("qwen2", true);
  at::manual_seed(2);
  at::Tensor ids = at::randint(0, 1000, {1, 12}, at::kLong);
  at::NoGradGuard no_grad;
  at::Tensor full = model.logits(model.hidden_states(ids, at::arange(12, at::kLong).unsqueeze(0), false));
  KvCache cache;
  at::Tensor prefix_mask = at::ones({8, 8}, at::kBool).tril().view({1, 1, 8, 8});
  at::Tensor logits = model.logits(model.forward_cached(ids.narrow(1, 0, 8), at::arange(8, at::kLong).unsqueeze(0),
                                                        prefix_mask, cache));
  double worst = (logits - full.narrow(1, 0, 8)).abs().max().item<double>();
  for (int64_t t = 8; t < 12; ++t) {
    at::Tensor step = model.logits(model.forward_cached(ids.narrow(1, t, 1), at::full({1, 1}, t, at::kLong),
                                                        at::ones({1, 1, 1, t + 1}, at::kBool), cache));
    worst = std::max(worst, (step.squeeze(1) - full.select(1, t)).abs().max().item<double>());
  }
  EXPECT_LE(worst, 1e-5);
  EXPECT_EQ(cache.length(), 12);
}

// Qwen3.5's Gated DeltaNet layers cache their conv window and state: a 70-token prefill (past the delta rule's
// first chunk) then token-by-token steps give the logits of the whole sequence at once; and every step reads the
// same fixed-size state, whatever the length before it.
TEST(Generation, HybridStatesDecodeEqualsFullRecompute) {
  DecoderModel model = load("qwen3.5", false);
  at::manual_seed(6);
  const int64_t prefix = 70, total = 76;
  at::Tensor ids = at::randint(0, 1000, {1, total}, at::kLong);
  at::NoGradGuard no_grad;
  at::Tensor full = model.logits(model.hidden_states(ids, at::arange(total, at::kLong).unsqueeze(0), false));
  KvCache cache;
  at::Tensor prefix_mask = at::ones({prefix, prefix}, at::kBool).tril().view({1, 1, prefix, prefix});
  at::Tensor logits = model.logits(model.forward_cached(ids.narrow(1, 0, prefix),
                                                        at::arange(prefix, at::kLong).unsqueeze(0), prefix_mask, cache));
  double worst = (logits - full.narrow(1, 0, prefix)).abs().max().item<double>();
  std::vector<int64_t> state_sizes;
  for (int64_t t = prefix; t < total; ++t) {
    at::Tensor step = model.logits(model.forward_cached(ids.narrow(1, t, 1), at::full({1, 1}, t, at::kLong),
                                                        at::ones({1, 1, 1, t + 1}, at::kBool), cache));
    worst = std::max(worst, (step.squeeze(1) - full.select(1, t)).abs().max().item<double>());
    int64_t bytes = 0;
    for (size_t l = 0; l + 1 < cache.layers.size(); ++l) {  // the three Gated DeltaNet layers
      auto& state = dynamic_cast<DeltaNetState&>(*cache.layers[l]);
      bytes += static_cast<int64_t>(state.conv.nbytes() + state.recurrent.nbytes());
    }
    state_sizes.push_back(bytes);
  }
  EXPECT_LE(worst, 1e-4);
  EXPECT_EQ(std::set<int64_t>(state_sizes.begin(), state_sizes.end()).size(), 1u) << "a linear layer's state grew";
}

TEST(Generation, MergedAdapterComputesTheSameLogits) {
  DecoderModel unmerged = load("llama", true);
  DecoderModel merged = load("llama", true);
  merged.merge_lora();
  EXPECT_TRUE(merged.trainable_parameters().empty());
  at::manual_seed(4);
  at::Tensor ids = at::randint(0, 1000, {2, 10}, at::kLong);
  at::Tensor positions = at::arange(10, at::kLong).unsqueeze(0).repeat({2, 1});
  at::NoGradGuard no_grad;
  at::Tensor a = unmerged.logits(unmerged.hidden_states(ids, positions, false));
  at::Tensor b = merged.logits(merged.hidden_states(ids, positions, false));
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-5);
}

TEST(Generation, SamplingKnobs) {
  at::Tensor logits = at::tensor({1.0f, 3.0f, 2.0f, -1.0f});
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(1);
  SamplingConfig greedy;
  EXPECT_EQ(choose_token(logits, {}, greedy, generator), 1);
  SamplingConfig penalised;
  penalised.repetition_penalty = 2.0;  // 3 / 2 = 1.5 < 2: the seen token loses
  EXPECT_EQ(choose_token(logits, {1}, penalised, generator), 2);
  SamplingConfig top1;
  top1.do_sample = true;
  top1.top_k = 1;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(choose_token(logits, {}, top1, generator), 1);
  SamplingConfig nucleus;
  nucleus.do_sample = true;
  nucleus.top_p = 0.5;  // token 1 alone holds about 0.66 of the mass
  for (int i = 0; i < 20; ++i) EXPECT_EQ(choose_token(logits, {}, nucleus, generator), 1);
  SamplingConfig hot;
  hot.do_sample = true;
  hot.temperature = 5.0;
  std::set<int64_t> drawn;
  for (int i = 0; i < 200; ++i) drawn.insert(choose_token(logits, {}, hot, generator));
  EXPECT_EQ(drawn.size(), 4u) << "a high temperature reaches every token";
}

// The batched chooser (the GPU path) applies the same processors as choose_token, row by row.
TEST(Generation, BatchedChooserAgreesWithTheRowChooser) {
  at::manual_seed(8);
  const at::Tensor logits = at::randn({6, 50});
  at::Tensor seen = at::zeros({6, 50}, at::kBool);
  std::vector<std::vector<int64_t>> seen_ids(6);
  for (int64_t b = 0; b < 6; ++b)
    for (int64_t id : {b, 2 * b + 7, 40 - b}) seen[b][id] = true, seen_ids[static_cast<size_t>(b)].push_back(id);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(3);
  for (double penalty : {1.0, 1.3, 3.0}) {
    SamplingConfig greedy;
    greedy.repetition_penalty = penalty;
    const at::Tensor batched = choose_tokens(logits, seen, greedy, generator);
    for (int64_t b = 0; b < 6; ++b)
      EXPECT_EQ(batched[b].item<int64_t>(), choose_token(logits[b], seen_ids[static_cast<size_t>(b)], greedy, generator))
          << "penalty " << penalty << " row " << b;
    // Sampling that leaves one candidate (top_k 1, or a tiny nucleus) is greedy too.
    for (int mode = 0; mode < 2; ++mode) {
      SamplingConfig narrow = greedy;
      narrow.do_sample = true;
      narrow.temperature = 0.7;
      if (mode == 0)
        narrow.top_k = 1;
      else
        narrow.top_p = 1e-6;
      EXPECT_TRUE(at::equal(choose_tokens(logits, seen, narrow, generator), batched)) << "mode " << mode;
    }
  }
  // A hot temperature spreads each row over many tokens.
  SamplingConfig hot;
  hot.do_sample = true;
  hot.temperature = 5.0;
  std::set<int64_t> drawn;
  for (int i = 0; i < 100; ++i) drawn.insert(choose_tokens(logits, {}, hot, generator)[0].item<int64_t>());
  EXPECT_GT(drawn.size(), 10u);
}

TEST(Generation, StopsAtStopTokenAndStreams) {
  DecoderModel model = load("qwen2", false);
  std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}};
  SamplingConfig config;
  config.max_new_tokens = 10;
  auto free_run = generate(model, prompts, config);
  ASSERT_EQ(free_run[0].size(), 10u);
  config.stop_ids = {free_run[0][3]};
  std::vector<int64_t> streamed;
  auto stopped = generate(model, prompts, config, [&](size_t, int64_t token) { streamed.push_back(token); });
  ASSERT_LE(stopped[0].size(), 4u);
  EXPECT_EQ(stopped[0].back(), free_run[0][3]);
  EXPECT_EQ(streamed, stopped[0]);
}

}  // namespace
