// A family declared only by its schema (docs/ARCHITECTURE.md, "Where to add"): a toy architecture whose layers
// are Llama's computation under other names. It is registered, never named in src/, and must load, train a
// step and export like a built-in family. Its weights are the llama fixture's, renamed, so the toy model has to
// compute exactly what the llama model computes.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "export/merge.h"
#include "model/decoder.h"
#include "model/family/family.h"
#include "model/lora/peft_adapter.h"
#include "model/tensor_plan.h"

namespace {

namespace fs = std::filesystem;
using namespace zt::model;
const std::string kFixtures = ZTUNE_FIXTURES_DIR;

// The toy schema: attention as attn.{wq,wk,wv,wo}, SwiGLU as ffn.{w1,w3,w2}, norms ln_1 and ln_2.
LayerSpec toy_layer(const ModelConfig& config, int64_t layer) {
  const int64_t H = config.hidden_size, I = config.intermediate_size;
  LayerSpec spec;
  spec.mixer_norm = "ln_1";
  spec.feed_forward_norm = "ln_2";
  spec.mixer.kind = MixerKind::kAttention;
  spec.mixer.path = "attn";
  spec.mixer.sliding_window = config.window_of_layer(layer);
  spec.mixer.linears = {{Role::kQuery, "wq", config.q_size(), H, false},
                        {Role::kKey, "wk", config.kv_size(), H, false},
                        {Role::kValue, "wv", config.kv_size(), H, false},
                        {Role::kOutput, "wo", H, config.q_size(), false}};
  spec.feed_forward.kind = FeedForwardKind::kSwiGlu;
  spec.feed_forward.path = "ffn";
  spec.feed_forward.linears = {{Role::kGate, "w1", I, H, false}, {Role::kUp, "w3", I, H, false}, {Role::kDown, "w2", H, I, false}};
  return spec;
}

const Family& toy_family() {
  static const Family family{"ToyForCausalLM", "toy", [](const nlohmann::json&, ModelConfig&) {}, toy_layer, {}};
  return family;
}

std::string toy_name(const std::string& llama_name) {
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {"self_attn.q_proj", "attn.wq"}, {"self_attn.k_proj", "attn.wk"}, {"self_attn.v_proj", "attn.wv"},
      {"self_attn.o_proj", "attn.wo"}, {"mlp.gate_proj", "ffn.w1"},     {"mlp.up_proj", "ffn.w3"},
      {"mlp.down_proj", "ffn.w2"},     {"input_layernorm", "ln_1"},     {"post_attention_layernorm", "ln_2"}};
  std::string name = llama_name;
  for (const auto& [from, to] : renames)
    if (size_t at = name.find(from); at != std::string::npos) name.replace(at, from.size(), to);
  return name;
}

// The llama fixture as a toy folder: same config (but the architecture), same weights under toy names.
std::string write_toy_folder(const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kFixtures + "/llama/config.json"));
  config["architectures"] = {"ToyForCausalLM"};
  config["model_type"] = "toy";
  std::ofstream(dir / "config.json") << config.dump(2);
  const zt::st::Checkpoint llama = zt::st::Checkpoint::open(kFixtures + "/llama");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string& name : llama.names()) tensors.emplace_back(toy_name(name), zt::st::load_tensor(llama, name).clone());
  zt::st::save_tensors((dir / "model.safetensors").string(), tensors);
  return dir.string();
}

ModelOptions lora_options() {
  ModelOptions options;
  options.lora = lora_config(4, 8, 0.0);
  return options;
}

TEST(Family, DeclaredOnlyByItsSchemaLoadsTrainsAndExports) {
  static bool registered = false;
  if (!registered) register_family(toy_family()), registered = true;
  const fs::path root = fs::temp_directory_path() / ("ztune_toy_family_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string toy_dir = write_toy_folder(root / "base");

  // Loads: the same computation as the llama model the weights came from, its LoRA modules under toy names.
  at::manual_seed(7);
  DecoderModel toy = DecoderModel::load(toy_dir, lora_options());
  at::manual_seed(7);
  DecoderModel llama = DecoderModel::load(kFixtures + "/llama", lora_options());
  EXPECT_EQ(all_linear_modules(toy.config()), (std::vector<std::string>{"wq", "wk", "wv", "wo", "w1", "w3", "w2"}));
  const auto toy_params = toy.trainable_parameters(), llama_params = llama.trainable_parameters();
  ASSERT_EQ(toy_params.size(), llama_params.size());
  EXPECT_EQ(toy_params[0].first, "base_model.model.model.layers.0.attn.wq.lora_A.weight");
  for (size_t i = 0; i < toy_params.size(); ++i) {
    EXPECT_EQ(toy_params[i].first, toy_name(llama_params[i].first));
    EXPECT_TRUE(at::equal(toy_params[i].second, llama_params[i].second)) << toy_params[i].first;
  }
  // The plan (estimate, ZeRO layouts) agrees with what loaded.
  TensorPlanOptions plan_options;
  plan_options.lora = lora_config(4, 8, 0.0);
  std::vector<std::string> planned;
  for (const PlannedTensor& t : plan_tensors(toy.config(), plan_options))
    if (t.trainable) planned.push_back(t.name);
  ASSERT_EQ(planned.size(), toy_params.size());
  for (size_t i = 0; i < planned.size(); ++i) EXPECT_EQ(planned[i], toy_params[i].first);

  // Trains: SGD steps on the adapters lower the loss, and each step's loss equals the llama model's.
  at::manual_seed(3);
  const at::Tensor ids = at::randint(0, toy.config().vocab_size, {1, 24}, at::kLong);
  const at::Tensor positions = at::cat({at::arange(10, at::kLong), at::arange(14, at::kLong)}).unsqueeze(0);
  const AttentionLayout layout = layout_from_cu_seqlens({0, 10, 24});
  std::vector<double> losses;
  for (int step = 0; step < 3; ++step) {
    double pair[2];
    for (DecoderModel* model : {&toy, &llama}) {
      const LossOutput loss = model->loss(model->hidden_states(ids, positions, true, layout), ids);
      (loss.loss_sum / loss.num_tokens()).backward();
      pair[model == &toy ? 0 : 1] = loss.loss_sum.item<double>() / loss.num_tokens();
      at::NoGradGuard no_grad;
      for (auto& [name, tensor] : model->trainable_parameters()) {
        tensor.sub_(tensor.grad() * 0.5);
        tensor.mutable_grad() = at::Tensor();
      }
    }
    EXPECT_NEAR(pair[0], pair[1], 1e-6) << "step " << step;
    losses.push_back(pair[0]);
  }
  EXPECT_LT(losses.back(), losses.front());

  // Exports: the adapter names the toy modules, and merged into the base it computes what base + adapter did.
  const LoraConfig lora = lora_config(4, 8, 0.0);
  write_adapter((root / "adapter").string(), toy.trainable_parameters(), lora);
  const nlohmann::json adapter_config = nlohmann::json::parse(std::ifstream(root / "adapter" / "adapter_config.json"));
  EXPECT_EQ(adapter_config["target_modules"], nlohmann::json({"wq", "wk", "wv", "wo", "w1", "w3", "w2"}));
  zt::exporting::MergeOptions merge;
  merge.base_dir = toy_dir;
  merge.adapter_dir = (root / "adapter").string();
  merge.out_dir = (root / "merged").string();
  zt::exporting::merge_lora(merge);
  const DecoderModel merged = DecoderModel::load(merge.out_dir, ModelOptions());
  at::NoGradGuard no_grad;
  const at::Tensor with_adapter = toy.logits(toy.hidden_states(ids, positions, false, layout));
  const at::Tensor after_merge = merged.logits(merged.hidden_states(ids, positions, false, layout));
  EXPECT_LE((with_adapter - after_merge).abs().max().item<double>(), 1e-4);
  fs::remove_all(root);
}

}  // namespace
