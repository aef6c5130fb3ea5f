// Mixture-of-experts models beyond the parity with transformers + peft (test_model.cpp): the invariants that need
// no reference (packing, checkpointing, stacked or per-expert storage, merging), the targets as ms-swift and PEFT
// resolve them, and the errors for bad folders and flags.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/family/family.h"

namespace {

namespace fs = std::filesystem;
using namespace zt::model;

const std::string kFixtures = ZTUNE_FIXTURES_DIR;

ModelOptions moe_options(std::vector<std::string> targets = {"all-linear"}) {
  ModelOptions options;
  options.lora = lora_config(8, 16, 0.0);
  options.lora->target_modules = std::move(targets);
  return options;
}

// Non-zero B matrices, so that the adapters change what the model computes.
void randomise_adapters(DecoderModel& model, uint64_t seed) {
  at::manual_seed(seed);
  at::NoGradGuard no_grad;
  for (auto& [path, linear] : model.lora_modules()) linear->lora_b.normal_(0.0, 0.05);
}

at::Tensor positions_of(int64_t rows, int64_t length) {
  return at::arange(length, at::kLong).unsqueeze(0).repeat({rows, 1});
}

class MoeFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeFixture, PackedRowEqualsItsSamplesAlone) {
  DecoderModel model = DecoderModel::load(kFixtures + "/" + GetParam(), moe_options());
  randomise_adapters(model, 2);
  at::manual_seed(3);
  at::Tensor first = at::randint(0, 1500, {1, 14}, at::kLong), second = at::randint(0, 1500, {1, 10}, at::kLong);
  at::NoGradGuard no_grad;
  auto run = [&](const at::Tensor& ids, const at::Tensor& positions) {
    return model.logits(model.hidden_states(ids, positions, false));
  };
  at::Tensor alone_first = run(first, positions_of(1, 14));
  at::Tensor alone_second = run(second, positions_of(1, 10));
  at::Tensor packed =
      run(at::cat({first, second}, 1), at::cat({at::arange(14, at::kLong), at::arange(10, at::kLong)}).unsqueeze(0));
  EXPECT_LE((packed.narrow(1, 0, 14) - alone_first).abs().max().item<double>(), 1e-5);
  EXPECT_LE((packed.narrow(1, 14, 10) - alone_second).abs().max().item<double>(), 1e-5);
}

TEST_P(MoeFixture, CheckpointingGivesTheSameLossAndGradients) {
  auto run = [&](bool checkpointing) {
    ModelOptions options = moe_options();
    options.gradient_checkpointing = checkpointing;
    at::manual_seed(5);
    DecoderModel model = DecoderModel::load(kFixtures + "/" + GetParam(), options);
    randomise_adapters(model, 6);
    at::manual_seed(7);
    at::Tensor ids = at::randint(0, 1500, {2, 16}, at::kLong);
    at::Tensor positions = positions_of(2, 16);
    ForwardOutput out = model.forward(ids, positions, true, layout_from_positions(positions));
    at::Tensor objective = model.loss(out.hidden, ids).loss_sum + out.load_balancing_loss() * 5.0;
    objective.backward();
    std::vector<at::Tensor> values{objective.detach().reshape({1})};
    for (auto& [name, tensor] : model.trainable_parameters()) values.push_back(tensor.grad().clone());
    return values;
  };
  std::vector<at::Tensor> off = run(false), on = run(true);
  ASSERT_EQ(off.size(), on.size());
  double worst = 0;
  for (size_t i = 0; i < off.size(); ++i) worst = std::max(worst, (off[i] - on[i]).abs().max().item<double>());
  EXPECT_LE(worst, 1e-6);
}

TEST_P(MoeFixture, MergedAdaptersComputeTheSameLogits) {
  DecoderModel model = DecoderModel::load(kFixtures + "/" + GetParam(), moe_options());
  randomise_adapters(model, 8);
  at::manual_seed(9);
  at::Tensor ids = at::randint(0, 1500, {2, 12}, at::kLong);
  at::NoGradGuard no_grad;
  at::Tensor before = model.logits(model.hidden_states(ids, positions_of(2, 12), false));
  model.merge_lora();
  EXPECT_TRUE(model.lora_modules().empty());
  at::Tensor after = model.logits(model.hidden_states(ids, positions_of(2, 12), false));
  EXPECT_LE((before - after).abs().max().item<double>(), 1e-4);
}

// transformers holds the experts stacked; a folder saved that way loads to the same model as the per-expert one.
TEST_P(MoeFixture, StackedExpertsOnDiskLoadLikePerExpert) {
  const fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / ("stacked-" + GetParam());
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kFixtures + "/" + GetParam() + "/config.json", dir / "config.json");
  const ModelConfig config = read_model_config(kFixtures + "/" + GetParam());
  zt::st::Checkpoint weights = zt::st::Checkpoint::open(kFixtures + "/" + GetParam());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string& name : weights.names())
    if (name.find(".experts.") == std::string::npos) tensors.emplace_back(name, zt::st::load_tensor(weights, name));
  int stacked = 0;
  for (int64_t l = 0; l < config.num_layers; ++l) {
    if (!config.sparse_layer(l)) continue;
    const std::string experts = "model.layers." + std::to_string(l) + ".mlp.experts.";
    std::vector<at::Tensor> gate_up, down;
    for (int64_t e = 0; e < config.num_experts; ++e) {
      auto part = [&](const char* name) {
        return zt::st::load_tensor(weights, experts + std::to_string(e) + "." + name + ".weight");
      };
      gate_up.push_back(at::cat({part("gate_proj"), part("up_proj")}, 0));
      down.push_back(part("down_proj"));
    }
    tensors.emplace_back(experts + "gate_up_proj", at::stack(gate_up));
    tensors.emplace_back(experts + "down_proj", at::stack(down));
    ++stacked;
  }
  ASSERT_GT(stacked, 0);
  zt::st::save_tensors((dir / "model.safetensors").string(), tensors);
  ModelOptions options;  // no adapters: the base weights alone decide
  DecoderModel per_expert = DecoderModel::load(kFixtures + "/" + GetParam(), options);
  DecoderModel from_stacked = DecoderModel::load(dir.string(), options);
  at::manual_seed(10);
  at::Tensor ids = at::randint(0, 1500, {1, 20}, at::kLong);
  at::NoGradGuard no_grad;
  EXPECT_TRUE(per_expert.logits(per_expert.hidden_states(ids, positions_of(1, 20), false))
                  .equal(from_stacked.logits(from_stacked.hidden_states(ids, positions_of(1, 20), false))));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MoeFixture, ::testing::Values("qwen3-moe", "qwen2-moe"), [](const auto& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});

TEST(Moe, LayerPlanFollowsSparseStepAndDenseLayers) {
  const ModelConfig qwen3 = read_model_config(kFixtures + "/qwen3-moe");  // mlp_only_layers [2]
  const ModelConfig qwen2 = read_model_config(kFixtures + "/qwen2-moe");  // decoder_sparse_step 2
  EXPECT_EQ(qwen3.num_experts, 8);                                        // config.json writes num_local_experts
  std::vector<bool> sparse3, sparse2;
  for (const LayerSpec& layer : layer_plan(qwen3)) sparse3.push_back(layer.feed_forward.kind == FeedForwardKind::kMoe);
  for (const LayerSpec& layer : layer_plan(qwen2)) sparse2.push_back(layer.feed_forward.kind == FeedForwardKind::kMoe);
  EXPECT_EQ(sparse3, (std::vector<bool>{true, true, false, true}));
  EXPECT_EQ(sparse2, (std::vector<bool>{false, true, false, true}));
}

// ms-swift passes its list of linear modules for all-linear; PEFT turns Qwen3-MoE's expert names into parameters.
TEST(Moe, TargetsResolveAsMsSwiftAndPeft) {
  const ModelConfig qwen3 = read_model_config(kFixtures + "/qwen3-moe");
  LoraConfig all = resolve_lora_targets(lora_config(8, 16, 0.0), qwen3);
  EXPECT_EQ(all.target_modules, (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj"}));
  EXPECT_EQ(all.target_parameters, (std::vector<std::string>{"gate_up_proj", "down_proj"}));
  EXPECT_EQ(all.rank_at("model.layers.0.mlp.experts.gate_up_proj"), 16);
  EXPECT_EQ(all.rank_at("model.layers.0.mlp.experts.down_proj"), 8);
  EXPECT_DOUBLE_EQ(all.scaling_at("model.layers.0.mlp.experts.gate_up_proj"), 2.0);
  const LoraConfig again = resolve_lora_targets(all, qwen3);
  EXPECT_EQ(again.target_modules, all.target_modules);
  EXPECT_EQ(again.target_parameters, all.target_parameters);
  EXPECT_EQ(again.rank_pattern, all.rank_pattern);

  LoraConfig router = lora_config(8, 16, 0.0);
  router.target_modules = {"gate", "q_proj"};
  EXPECT_EQ(resolve_lora_targets(router, qwen3).target_parameters, (std::vector<std::string>{"gate.weight"}));

  LoraConfig half = lora_config(8, 16, 0.0);
  half.target_modules = {"q_proj", "gate_proj", "down_proj"};
  try {
    resolve_lora_targets(half, qwen3);
    ADD_FAILURE() << "gate_proj without up_proj must be refused";
  } catch (const zt::Error& error) {
    EXPECT_NE(std::string(error.what()).find("gate_proj without up_proj"), std::string::npos) << error.what();
  }

  // Qwen2-MoE is not converted: the names mean its linear modules (shared expert, dense MLPs), never the routed
  // experts.
  const ModelConfig qwen2 = read_model_config(kFixtures + "/qwen2-moe");
  const LoraConfig unchanged = resolve_lora_targets(lora_config(8, 16, 0.05), qwen2);
  EXPECT_EQ(unchanged.target_modules, (std::vector<std::string>{"all-linear"}));
  EXPECT_TRUE(unchanged.target_parameters.empty());
  EXPECT_EQ(all_linear_modules(qwen2), (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                                 "up_proj", "down_proj", "shared_expert_gate"}));
}

std::string load_error(const std::string& dir, const ModelOptions& options) {
  try {
    DecoderModel::load(dir, options);
  } catch (const zt::Error& error) {
    return error.what();
  }
  return "";
}

TEST(Moe, DropoutOnExpertAdaptersIsRefusedWithTheFix) {
  ModelOptions options = moe_options();
  options.lora->dropout = 0.05;  // ms-swift's default: PEFT refuses it on parameters
  const std::string error = load_error(kFixtures + "/qwen3-moe", options);
  EXPECT_NE(error.find("--lora_dropout 0"), std::string::npos) << error;
  EXPECT_NE(error.find("experts.gate_up_proj"), std::string::npos) << error;
}

// A folder whose experts disagree with config.json, or with each other, is named by tensor and file.
TEST(Moe, BadExpertTensorsAreNamed) {
  const fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / "broken-moe";
  auto write_variant = [&](const std::string& drop, const std::string& reshape, const nlohmann::json& config_update) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ifstream in(kFixtures + "/qwen3-moe/config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config.update(config_update);
    std::ofstream(dir / "config.json") << config.dump(1);
    zt::st::Checkpoint weights = zt::st::Checkpoint::open(kFixtures + "/qwen3-moe");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const std::string& name : weights.names()) {
      if (name == drop) continue;
      at::Tensor tensor = zt::st::load_tensor(weights, name);
      if (name == reshape) tensor = tensor.narrow(0, 0, tensor.size(0) - 1).contiguous();
      tensors.emplace_back(name, tensor);
    }
    zt::st::save_tensors((dir / "model.safetensors").string(), tensors);
  };
  const ModelOptions options = moe_options();
  write_variant("model.layers.1.mlp.experts.5.up_proj.weight", "", nlohmann::json::object());
  std::string error = load_error(dir.string(), options);
  EXPECT_NE(error.find("weight 'model.layers.1.mlp.experts.5.up_proj.weight' is missing"), std::string::npos) << error;
  write_variant("", "model.layers.0.mlp.experts.2.down_proj.weight", nlohmann::json::object());
  error = load_error(dir.string(), options);
  EXPECT_NE(error.find("'model.layers.0.mlp.experts.2.down_proj.weight' has shape"), std::string::npos) << error;
  // config.json says fewer or more experts than the file holds: the first layer's router names the difference.
  write_variant("", "", {{"num_local_experts", 6}});
  error = load_error(dir.string(), options);
  EXPECT_NE(error.find("broken-moe: weight 'model.layers.0.mlp.gate.weight' has shape [8, 128], expected [6, 128]"),
            std::string::npos)
      << error;
  write_variant("", "", {{"num_local_experts", 9}});
  error = load_error(dir.string(), options);
  EXPECT_NE(error.find("'model.layers.0.mlp.gate.weight' has shape [8, 128], expected [9, 128]"), std::string::npos)
      << error;
  // A router that agrees with config.json but experts that do not: the expert is named.
  write_variant("model.layers.3.mlp.experts.7.gate_proj.weight", "", nlohmann::json::object());
  error = load_error(dir.string(), options);
  EXPECT_NE(error.find("'model.layers.3.mlp.experts.7.gate_proj.weight' is missing (Qwen3MoeForCausalLM has 8 experts"),
            std::string::npos)
      << error;
  write_variant("", "", {{"num_experts_per_tok", 9}});
  error = load_error(dir.string(), options);
  EXPECT_NE(error.find("num_experts_per_tok 9 must be between 1 and num_experts (8)"), std::string::npos) << error;
}

}  // namespace
