// The decoder with LoRA against transformers + peft (tests/python/model_reference.py): logits, loss and
// every LoRA gradient, for each fixture model in fp32 and bf16; plus invariants that need no reference:
// packed rows equal their samples run alone, checkpointing on equals off, chunked loss equals unchunked.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "model/decoder.h"
#include "model/mixer/gated_deltanet.h"

namespace {

namespace fs = std::filesystem;
using namespace zt::model;

const std::string kFixtures = ZTUNE_FIXTURES_DIR;
const fs::path kReference = fs::path(ZTUNE_TEST_WORK_DIR) / "model-reference";

struct Reference {
  zt::st::Checkpoint file;
  std::vector<std::string> trainable;
  nlohmann::json meta{};  // a case with targets of its own: its fixture and targets
  at::Tensor get(const std::string& name) const { return zt::st::load_tensor(file, name).clone(); }
};

Reference load_reference(const std::string& model, const std::string& dtype) {
  Reference ref{zt::st::Checkpoint::open((kReference / (model + "-" + dtype + ".safetensors")).string()), {}};
  std::ifstream stream(kReference / (model + "-" + dtype + ".json"));
  ref.meta = nlohmann::json::parse(stream);
  ref.trainable = ref.meta["trainable"].get<std::vector<std::string>>();
  return ref;
}

ModelOptions lora_options(at::ScalarType dtype, double dropout = 0.0) {
  ModelOptions options;
  options.dtype = dtype;
  options.lora = lora_config(8, 16, dropout);
  return options;
}

// Max |a - b| relative to max |b| (and at least 1 for tiny references).
double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  double scale = std::max(1.0, expected.abs().max().item<double>());
  return (actual.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>() / scale;
}

void set_adapter_from_reference(DecoderModel& model, const Reference& ref) {
  std::vector<std::pair<std::string, at::Tensor>> adapter;
  for (const std::string& name : ref.trainable) adapter.emplace_back(name, ref.get("adapter." + name));
  model.load_adapter_tensors(adapter);
}

struct Case {
  std::string model;
  std::string dtype;
};

void PrintTo(const Case& c, std::ostream* out) { *out << c.model << " " << c.dtype; }

class ModelParity : public ::testing::TestWithParam<Case> {};

// Tolerances: fp32 agrees to rounding (1e-4 of the largest value); bf16 runs every matmul in bf16 with
// its 8-bit mantissa, so logits and gradients agree to a few percent of their largest value.
TEST_P(ModelParity, LogitsLossAndLoraGradientsMatchPeft) {
  const Case& c = GetParam();
  const bool bf16 = c.dtype == "bf16";
  const double logit_tolerance = bf16 ? 3e-2 : 1e-4;
  const double loss_tolerance = bf16 ? 1e-2 : 1e-5;
  const double grad_tolerance = bf16 ? 6e-2 : 1e-4;
  Reference ref = load_reference(c.model, c.dtype);
  // Config variants (sliding windows, RoPE scaling) live beside the reference, written by model_reference.py.
  const fs::path variant = kReference / "models" / c.model;
  const std::string folder = fs::exists(variant) ? variant.string()
                                                 : kFixtures + "/" + ref.meta.value("model", c.model);
  ModelOptions options = lora_options(bf16 ? at::kBFloat16 : at::kFloat);
  if (ref.meta.contains("target_modules")) {
    options.lora->target_modules = ref.meta["target_modules"].get<std::vector<std::string>>();
    options.lora->target_parameters = ref.meta["target_parameters"].get<std::vector<std::string>>();
  }
  DecoderModel model = DecoderModel::load(folder, options);
  set_adapter_from_reference(model, ref);

  std::set<std::string> ours;
  for (auto& [name, tensor] : model.trainable_parameters()) ours.insert(name);
  EXPECT_EQ(ours, std::set<std::string>(ref.trainable.begin(), ref.trainable.end()))
      << "trainable parameters must be exactly PEFT's LoRA tensors";

  at::Tensor input_ids = ref.get("input_ids");
  at::Tensor labels = ref.get("labels");
  at::Tensor positions = at::arange(input_ids.size(1), at::kLong).unsqueeze(0).repeat({input_ids.size(0), 1});
  const ForwardOutput forward = model.forward(input_ids, positions, true, layout_from_positions(positions));
  const at::Tensor& hidden = forward.hidden;
  double logit_error = relative_error(model.logits(hidden).detach(), ref.get("logits"));
  EXPECT_LE(logit_error, logit_tolerance) << "logits";
  LossOutput loss = model.loss(hidden, labels, 7);
  double expected_loss = ref.get("loss_sum").item<double>();
  EXPECT_NEAR(loss.loss_sum.item<double>(), expected_loss, loss_tolerance * expected_loss);
  EXPECT_EQ(loss.num_tokens(), (labels.narrow(1, 1, labels.size(1) - 1) != -100).sum().item<int64_t>());
  at::Tensor objective = loss.loss_sum;
  // A mixture of experts: transformers' load-balancing loss too, weighted into the gradients as the reference did.
  if (ref.file.contains("aux_loss")) {
    ASSERT_TRUE(forward.router_load.defined()) << "a mixture of experts gives its router load";
    const at::Tensor aux = forward.load_balancing_loss();
    const double expected_aux = ref.get("aux_loss").item<double>();
    EXPECT_NEAR(aux.item<double>(), expected_aux, 1e-5 * expected_aux) << "load-balancing loss";
    objective = objective + aux * ref.get("aux_weight").item<double>();
  } else {
    EXPECT_FALSE(forward.router_load.defined()) << "a dense model has no router";
  }
  objective.backward();
  double worst = 0;
  std::string worst_name;
  for (auto& [name, tensor] : model.trainable_parameters()) {
    ASSERT_TRUE(tensor.grad().defined()) << name << " got no gradient";
    double error = relative_error(tensor.grad(), ref.get("grad." + name));
    if (error > worst) {
      worst = error;
      worst_name = name;
    }
  }
  EXPECT_LE(worst, grad_tolerance) << "worst gradient: " << worst_name;
  std::printf("[parity] %s %s: logits %.2e, loss %.6f vs %.6f, worst LoRA grad %.2e\n", c.model.c_str(),
              c.dtype.c_str(), logit_error, loss.loss_sum.item<double>(), expected_loss, worst);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelParity,
                         ::testing::Values(Case{"qwen2", "fp32"}, Case{"qwen2", "bf16"}, Case{"qwen2-tied", "fp32"},
                                           Case{"qwen2-tied", "bf16"}, Case{"llama", "fp32"}, Case{"llama", "bf16"},
                                           Case{"qwen3", "fp32"}, Case{"qwen3", "bf16"},
                                           Case{"mistral-window", "fp32"}, Case{"mistral-window", "bf16"},
                                           Case{"qwen2-window", "fp32"}, Case{"qwen3-window", "fp32"},
                                           Case{"llama-rope-llama3", "fp32"},
                                           Case{"llama-rope-linear", "fp32"}, Case{"qwen3-moe", "fp32"},
                                           Case{"qwen2-moe", "fp32"}, Case{"qwen3-moe-router", "fp32"},
                                           Case{"qwen2-moe-experts", "fp32"}, Case{"qwen3.5", "fp32"},
                                           Case{"qwen3.5", "bf16"}, Case{"qwen3.5-moe", "fp32"}),
                         [](const auto& info) {
                           std::string name = info.param.model + "_" + info.param.dtype;
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

TEST(Model, PackedRowEqualsItsSamplesAlone) {
  DecoderModel model = DecoderModel::load(kFixtures + "/qwen2", lora_options(at::kFloat));
  at::manual_seed(3);
  at::Tensor first = at::randint(0, 1000, {1, 14}, at::kLong), second = at::randint(0, 1000, {1, 10}, at::kLong);
  at::NoGradGuard no_grad;
  auto run = [&](const at::Tensor& ids, const at::Tensor& positions) {
    return model.logits(model.hidden_states(ids, positions, false));
  };
  at::Tensor alone_first = run(first, at::arange(14, at::kLong).unsqueeze(0));
  at::Tensor alone_second = run(second, at::arange(10, at::kLong).unsqueeze(0));
  at::Tensor packed_ids = at::cat({first, second}, 1);
  at::Tensor packed_positions = at::cat({at::arange(14, at::kLong), at::arange(10, at::kLong)}).unsqueeze(0);
  at::Tensor packed = run(packed_ids, packed_positions);
  EXPECT_LE((packed.narrow(1, 0, 14) - alone_first).abs().max().item<double>(), 1e-5);
  EXPECT_LE((packed.narrow(1, 14, 10) - alone_second).abs().max().item<double>(), 1e-5);
}

// Qwen3.5's Gated DeltaNet layers carry a state along the row: in a packed row it must restart at every sample,
// conv window included. Four samples (one longer than the delta rule's chunk of 64) packed in one row give the
// logits, the loss and the LoRA gradients of the four run alone.
TEST(HybridModel, PackedRowOfFourSamplesEqualsTheSamplesAlone) {
  ModelOptions options = lora_options(at::kFloat);
  DecoderModel model = DecoderModel::load(kFixtures + "/qwen3.5", options);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(11);
    for (auto& [path, linear] : model.lora_modules()) linear->lora_b.normal_(0.0, 0.05);
  }
  const std::vector<int64_t> lengths = {70, 9, 30, 45};
  std::vector<at::Tensor> samples;
  for (int64_t length : lengths) samples.push_back(at::randint(0, 1000, {1, length}, at::kLong));
  auto labels_of = [](const at::Tensor& ids) {
    at::Tensor labels = ids.clone();
    labels.select(1, 0).fill_(-100);  // as packing leaves a sample's first token
    return labels;
  };
  auto gradients = [&]() {
    std::vector<at::Tensor> out;
    for (auto& [name, tensor] : model.trainable_parameters()) {
      out.push_back(tensor.grad().clone());
      tensor.mutable_grad().zero_();
    }
    return out;
  };
  double alone_loss = 0;
  std::vector<at::Tensor> alone_logits;
  for (const at::Tensor& ids : samples) {
    const at::Tensor positions = at::arange(ids.size(1), at::kLong).unsqueeze(0);
    const at::Tensor hidden = model.hidden_states(ids, positions, true);
    alone_logits.push_back(model.logits(hidden).detach());
    LossOutput loss = model.loss(hidden, labels_of(ids));
    alone_loss += loss.loss_sum.item<double>();
    loss.loss_sum.backward();
  }
  const std::vector<at::Tensor> alone_grads = gradients();
  std::vector<at::Tensor> positions, labels;
  for (const at::Tensor& ids : samples) {
    positions.push_back(at::arange(ids.size(1), at::kLong));
    labels.push_back(labels_of(ids));
  }
  const at::Tensor packed_ids = at::cat(samples, 1);
  const at::Tensor packed_positions = at::cat(positions).unsqueeze(0);
  const at::Tensor hidden = model.hidden_states(packed_ids, packed_positions, true);
  const at::Tensor packed_logits = model.logits(hidden).detach();
  LossOutput loss = model.loss(hidden, at::cat(labels, 1));
  loss.loss_sum.backward();
  const std::vector<at::Tensor> packed_grads = gradients();
  int64_t offset = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_LE((packed_logits.narrow(1, offset, lengths[i]) - alone_logits[i]).abs().max().item<double>(), 1e-4)
        << "sample " << i;
    offset += lengths[i];
  }
  EXPECT_NEAR(loss.loss_sum.item<double>(), alone_loss, 1e-5 * alone_loss);
  double worst = 0;
  for (size_t i = 0; i < packed_grads.size(); ++i)
    worst = std::max(worst, relative_error(packed_grads[i], alone_grads[i]));
  EXPECT_LE(worst, 1e-4);
  // And the restart matters: the same row read as one sequence gives other logits for the later samples.
  at::NoGradGuard no_grad;
  const at::Tensor unpacked = model.logits(
      model.hidden_states(packed_ids, at::arange(packed_ids.size(1), at::kLong).unsqueeze(0), false));
  EXPECT_GT((unpacked.narrow(1, lengths[0], lengths[1]) - alone_logits[1]).abs().max().item<double>(), 1e-2);
}

// The chunked gated delta rule (training, prefill) equals the token-by-token one (cached decoding), values,
// final states and gradients, across chunk boundaries and from a given state, with more value heads than keys.
TEST(HybridModel, ChunkedDeltaRuleEqualsTheRecurrentOne) {
  at::manual_seed(13);
  const int64_t B = 2, T = 150, H = 3, Dk = 8, Dv = 5;
  at::Tensor q = at::randn({B, T, H, Dk}).requires_grad_(true), k = at::randn({B, T, H, Dk}).requires_grad_(true);
  at::Tensor v = at::randn({B, T, H, Dv}).requires_grad_(true);
  at::Tensor g = (-at::rand({B, T, H}) * 0.5).requires_grad_(true), beta = at::rand({B, T, H}).requires_grad_(true);
  const at::Tensor initial = at::randn({B, H, Dk, Dv}) * 0.1;
  const at::Tensor weights = at::randn({B, T, H, Dv});
  auto run = [&](bool chunked) {
    at::Tensor state;
    const at::Tensor out = chunked ? chunk_gated_delta_rule(q, k, v, g, beta, initial, &state, 64)
                                   : recurrent_gated_delta_rule(q, k, v, g, beta, initial, &state);
    auto grads = torch::autograd::grad({(out * weights).sum() + state.sum()}, {q, k, v, g, beta});
    return std::make_tuple(out.detach(), state.detach(), grads);
  };
  auto [chunk_out, chunk_state, chunk_grads] = run(true);
  auto [step_out, step_state, step_grads] = run(false);
  EXPECT_LE((chunk_out - step_out).abs().max().item<double>(), 1e-4);
  EXPECT_LE((chunk_state - step_state).abs().max().item<double>(), 1e-4);
  for (size_t i = 0; i < chunk_grads.size(); ++i)
    EXPECT_LE(relative_error(chunk_grads[i], step_grads[i]), 1e-4) << "gradient " << i;
}

TEST(Model, EagerAttentionEqualsSdpaOnPackedRows) {
  ModelOptions eager_options = lora_options(at::kFloat);
  eager_options.attn_impl = "eager";
  DecoderModel sdpa = DecoderModel::load(kFixtures + "/qwen3", lora_options(at::kFloat));
  DecoderModel eager = DecoderModel::load(kFixtures + "/qwen3", eager_options);
  at::manual_seed(9);
  at::Tensor ids = at::randint(0, 1000, {2, 18}, at::kLong);
  at::Tensor positions = at::cat({at::arange(7, at::kLong), at::arange(11, at::kLong)}).unsqueeze(0).repeat({2, 1});
  at::NoGradGuard no_grad;
  at::Tensor a = sdpa.logits(sdpa.hidden_states(ids, positions, false));
  at::Tensor b = eager.logits(eager.hidden_states(ids, positions, false));
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-5);
}

// The packed-row kernels (model/attention.h) on one batch: two rows of different segmentations, grouped
// query heads (4 query heads on 2 kv heads), values and gradients. The padded batch is what CUDA runs in
// fp32; flash varlen is held to the same reference by scripts/gpu_check.sh.
TEST(Attention, PaddedBatchEqualsPerSampleWithGroupedHeads) {
  at::manual_seed(21);
  const int64_t length = 13;
  AttentionLayout layout;
  layout.segments = {{{0, 5}, {5, 1}, {6, 7}}, {{0, 13}}};
  at::Tensor q = at::randn({2, 4, length, 8}).requires_grad_(true);
  at::Tensor k = at::randn({2, 2, length, 8}).requires_grad_(true);
  at::Tensor v = at::randn({2, 2, length, 8}).requires_grad_(true);
  at::Tensor weights = at::randn({2, 4, length, 8});
  auto run = [&](PackedKernel kernel) {
    at::Tensor out = packed_causal_attention(q, k, v, layout, kernel);
    auto grads = torch::autograd::grad({(out * weights).sum()}, {q, k, v});
    return std::make_pair(out.detach(), grads);
  };
  auto [reference, reference_grads] = run(PackedKernel::kPerSample);
  auto [padded, padded_grads] = run(PackedKernel::kPaddedBatch);
  EXPECT_LE((padded - reference).abs().max().item<double>(), 1e-6);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_LE((padded_grads[i] - reference_grads[i]).abs().max().item<double>(), 1e-5) << "gradient " << i;
  // And both against attention written out: softmax(q k^T / sqrt(d)) v under the block-diagonal mask.
  at::Tensor mask = at::zeros({2, 1, length, length}, at::kBool);
  for (size_t b = 0; b < 2; ++b)
    for (auto [start, size] : layout.segments[b])
      mask[static_cast<int64_t>(b)][0].narrow(0, start, size).narrow(1, start, size).copy_(at::ones({size, size}, at::kBool).tril());
  at::Tensor kk = k.detach().repeat_interleave(2, 1), vv = v.detach().repeat_interleave(2, 1);
  at::Tensor scores = at::matmul(q.detach(), kk.transpose(-1, -2)) / std::sqrt(8.0);
  at::Tensor written = at::matmul(at::softmax(scores.masked_fill(mask.logical_not(), -INFINITY), -1), vv);
  EXPECT_LE((reference - written).abs().max().item<double>(), 1e-5);
}

TEST(Attention, VarlenOffsetsCoverTheFlattenedRows) {
  AttentionLayout layout;
  layout.segments = {{{0, 5}, {5, 1}, {6, 7}}, {{0, 13}}};
  prepare_varlen(layout, at::kCPU, 13);
  EXPECT_TRUE(at::equal(layout.cu_seqlens, at::tensor({0, 5, 6, 13, 26}, at::kInt)));
  EXPECT_EQ(layout.max_length, 13);
  EXPECT_EQ(packed_kernel_for(at::kCPU, at::kBFloat16, 64), PackedKernel::kPerSample);
  EXPECT_EQ(packed_kernel_for(at::Device(at::kCUDA, 0), at::kBFloat16, 128), PackedKernel::kFlashVarlen);
  EXPECT_EQ(packed_kernel_for(at::Device(at::kCUDA, 0), at::kFloat, 128), PackedKernel::kPaddedBatch);
  EXPECT_EQ(packed_kernel_for(at::Device(at::kCUDA, 0), at::kHalf, 512), PackedKernel::kPaddedBatch);
}

// The host row's layout is the one the device positions give.
TEST(Attention, LayoutFromHostPositionsEqualsTheTensorOne) {
  const std::vector<int32_t> positions = {0, 1, 2, 0, 0, 1, 2, 3};
  AttentionLayout host = layout_from_positions(positions);
  AttentionLayout tensor = layout_from_positions(at::tensor(std::vector<int64_t>(positions.begin(), positions.end())).unsqueeze(0));
  EXPECT_EQ(host.segments, tensor.segments);
  EXPECT_EQ(host.single_segment, tensor.single_segment);
  EXPECT_FALSE(host.single_segment);
  EXPECT_TRUE(layout_from_positions(std::vector<int32_t>{0, 1, 2}).single_segment);
}

TEST(Model, CheckpointingGivesTheSameGradients) {
  auto gradients = [](bool checkpointing) {
    ModelOptions options = lora_options(at::kFloat, 0.1);  // dropout on: the recompute must repeat its masks
    options.gradient_checkpointing = checkpointing;
    at::manual_seed(5);
    DecoderModel model = DecoderModel::load(kFixtures + "/llama", options);
    at::manual_seed(6);
    at::Tensor ids = at::randint(0, 1000, {2, 16}, at::kLong);
    at::Tensor positions = at::arange(16, at::kLong).unsqueeze(0).repeat({2, 1});
    model.loss(model.hidden_states(ids, positions, true), ids).loss_sum.backward();
    std::vector<at::Tensor> grads;
    for (auto& [name, tensor] : model.trainable_parameters()) grads.push_back(tensor.grad().clone());
    return grads;
  };
  std::vector<at::Tensor> off = gradients(false), on = gradients(true);
  ASSERT_EQ(off.size(), on.size());
  double worst = 0;
  for (size_t i = 0; i < off.size(); ++i) worst = std::max(worst, (off[i] - on[i]).abs().max().item<double>());
  EXPECT_LE(worst, 1e-6);
}

TEST(Model, ChunkSizeDoesNotChangeLossOrGradients) {
  DecoderModel model = DecoderModel::load(kFixtures + "/qwen2-tied", lora_options(at::kFloat));
  at::manual_seed(8);
  at::Tensor ids = at::randint(0, 1000, {2, 20}, at::kLong);
  at::Tensor positions = at::arange(20, at::kLong).unsqueeze(0).repeat({2, 1});
  auto run = [&](int64_t chunk) {
    for (auto& [name, tensor] : model.trainable_parameters()) tensor.mutable_grad() = at::Tensor();
    LossOutput loss = model.loss(model.hidden_states(ids, positions, true), ids, chunk);
    loss.loss_sum.backward();
    return std::make_pair(loss.loss_sum.item<double>(), model.trainable_parameters()[0].second.grad().clone());
  };
  auto [loss_small, grad_small] = run(3);
  auto [loss_big, grad_big] = run(4096);
  EXPECT_NEAR(loss_small, loss_big, 1e-4);
  EXPECT_LE((grad_small - grad_big).abs().max().item<double>(), 1e-6);
}

TEST(Model, TrainableSetsForLoraFullAndModulesToSave) {
  ModelOptions lora = lora_options(at::kFloat);
  lora.lora->target_modules = {"q_proj", "v_proj"};
  DecoderModel only_qv = DecoderModel::load(kFixtures + "/qwen2", lora);
  for (auto& [name, tensor] : only_qv.trainable_parameters())
    EXPECT_TRUE(name.find("q_proj.lora_") != std::string::npos || name.find("v_proj.lora_") != std::string::npos) << name;
  EXPECT_EQ(only_qv.trainable_parameters().size(), 4u * 2u * 2u);  // 4 layers x (q, v) x (A, B)

  lora.lora->target_modules = {"all-linear"};
  lora.modules_to_save = {"embed_tokens"};
  DecoderModel saved = DecoderModel::load(kFixtures + "/qwen2", lora);
  EXPECT_EQ(saved.trainable_parameters()[0].first, "base_model.model.model.embed_tokens.weight");

  ModelOptions full;
  full.full_training = true;
  DecoderModel everything = DecoderModel::load(kFixtures + "/qwen2", full);
  int64_t trainable = 0;
  for (auto& [name, tensor] : everything.trainable_parameters()) trainable += tensor.numel();
  zt::st::Checkpoint weights = zt::st::Checkpoint::open(kFixtures + "/qwen2");
  int64_t on_disk = 0;
  for (const std::string& name : weights.names()) on_disk += weights.locate(name).second->numel();
  EXPECT_EQ(trainable, on_disk) << "--train_type full trains every weight";
}

TEST(Model, MissingExtraOrMisshapenWeightsAreNamed) {
  fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / "broken-model";
  auto write_variant = [&](const std::string& drop, const std::string& add, const std::string& reshape) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(kFixtures + "/qwen2-tied/config.json", dir / "config.json");
    zt::st::Checkpoint weights = zt::st::Checkpoint::open(kFixtures + "/qwen2-tied");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const std::string& name : weights.names()) {
      if (name == drop) continue;
      at::Tensor tensor = zt::st::load_tensor(weights, name);
      if (name == reshape) tensor = tensor.flatten();
      tensors.emplace_back(name, tensor);
    }
    if (!add.empty()) tensors.emplace_back(add, at::zeros({2}));
    zt::st::save_tensors((dir / "model.safetensors").string(), tensors);
  };
  auto error_of = [&]() -> std::string {
    try {
      DecoderModel::load(dir.string(), lora_options(at::kFloat));
    } catch (const zt::Error& error) {
      return error.what();
    }
    return "";
  };
  write_variant("model.layers.1.mlp.up_proj.weight", "", "");
  EXPECT_NE(error_of().find("weight 'model.layers.1.mlp.up_proj.weight' is missing"), std::string::npos);
  write_variant("", "model.layers.0.extra.weight", "");
  EXPECT_NE(error_of().find("unexpected weight 'model.layers.0.extra.weight'"), std::string::npos);
  write_variant("", "", "model.norm.weight");
  EXPECT_EQ(error_of().find("weight 'model.norm.weight' has shape"), std::string::npos) << "1-d stays 1-d";
  write_variant("", "", "model.layers.0.self_attn.q_proj.weight");
  EXPECT_NE(error_of().find("weight 'model.layers.0.self_attn.q_proj.weight' has shape"), std::string::npos);
}

}  // namespace

namespace {

// A copy of the qwen3.5 fixture with config.json edited by `edit` and, when `drop` names one, a weight left out.
std::string hybrid_variant(const std::function<void(nlohmann::json&)>& edit, const std::string& drop = "") {
  const fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / "broken-qwen3.5";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ifstream in(kFixtures + "/qwen3.5/config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  edit(config);
  std::ofstream(dir / "config.json") << config.dump(1);
  zt::st::Checkpoint weights = zt::st::Checkpoint::open(kFixtures + "/qwen3.5");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string& name : weights.names())
    if (name != drop) tensors.emplace_back(name, zt::st::load_tensor(weights, name));
  zt::st::save_tensors((dir / "model.safetensors").string(), tensors);
  return dir.string();
}

std::string load_error(const std::string& folder) {
  try {
    DecoderModel::load(folder, lora_options(at::kFloat));
  } catch (const zt::Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(HybridModel, BadConfigsAndMissingWeightsAreNamed) {
  std::string error = load_error(hybrid_variant([](nlohmann::json& c) { c["layer_types"][1] = "mamba"; }));
  EXPECT_NE(error.find("layer_types[1] is 'mamba' (linear_attention or full_attention)"), std::string::npos) << error;
  EXPECT_NE(error.find("config.json"), std::string::npos) << error;
  error = load_error(hybrid_variant([](nlohmann::json& c) { c["layer_types"].erase(0); }));
  EXPECT_NE(error.find("layer_types has 3 entries for 4 layers"), std::string::npos) << error;
  error = load_error(hybrid_variant([](nlohmann::json& c) { c["linear_num_value_heads"] = 3; }));
  EXPECT_NE(error.find("linear_num_value_heads 3 is not a multiple of linear_num_key_heads 2"), std::string::npos)
      << error;
  error = load_error(hybrid_variant([](nlohmann::json& c) { c["rope_parameters"]["partial_rotary_factor"] = 0.3; }));
  EXPECT_NE(error.find("partial_rotary_factor 0.3 of head_dim 32 is not an even number"), std::string::npos) << error;
  error = load_error(hybrid_variant([](nlohmann::json&) {}, "model.layers.0.linear_attn.conv1d.weight"));
  EXPECT_NE(error.find("weight 'model.layers.0.linear_attn.conv1d.weight' is missing"), std::string::npos) << error;
  error = load_error(hybrid_variant([](nlohmann::json&) {}, "model.layers.2.linear_attn.A_log"));
  EXPECT_NE(error.find("weight 'model.layers.2.linear_attn.A_log' is missing"), std::string::npos) << error;
  // The plan read back as written: a full-attention layer where the file has Gated DeltaNet weights.
  error = load_error(hybrid_variant([](nlohmann::json& c) { c["layer_types"][0] = "full_attention"; }));
  EXPECT_NE(error.find("weight 'model.layers.0.self_attn.q_norm.weight' is missing"), std::string::npos) << error;
  EXPECT_EQ(load_error(hybrid_variant([](nlohmann::json&) {})), "") << "the unedited copy loads";
}
