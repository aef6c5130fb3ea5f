#include "train/estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dist/grad_sync.h"
#include "train/step_totals.h"
#include "train/train_config.h"

namespace zt::train {
namespace {

constexpr int64_t kF32 = 4;
constexpr int64_t kLossChunkTokens = 1024;  // DecoderModel::loss's default
// A layer's checkpoint keeps the CPU generator's state (mt19937: 5,056 bytes) beside its input.
constexpr int64_t kRngStateBytes = 5056;

struct Shapes {
  int64_t T = 0, H = 0, Q = 0, K = 0, I = 0, V = 0, heads = 0, kv_heads = 0, eb = 4, layers = 0;
};

Shapes shapes_of(const EstimateInput& input) {
  const model::ModelConfig& m = input.model;
  Shapes s;
  s.T = std::max<int64_t>(1, input.tokens_per_micro_batch);
  s.H = m.hidden_size, s.Q = m.q_size(), s.K = m.kv_size(), s.I = m.intermediate_size, s.V = m.vocab_size;
  s.heads = m.num_heads, s.kv_heads = m.num_kv_heads, s.eb = input.tensors.dtype_bytes, s.layers = m.num_layers;
  return s;
}

// A mixture of experts' stacked expert weight, or the adapter on one.
bool is_expert(const model::PlannedTensor& t) {
  return t.role == model::Role::kExpertGateUp || t.role == model::Role::kExpertDown;
}

// Which linear modules of layer `l` carry a LoRA adapter, and their ranks x (in + out).
struct LayerAdapters {
  std::set<model::Role> adapted;  // the roles of the linears with an adapter
  int64_t lora_a_rows = 0;  // sum of r over the adapters: the [T, r] fp32 products kept for backward
  int64_t expert_lora_rows = 0;  // sum of one expert's r over the stacked experts' adapters: [T·k, r] products
  int64_t lora_numel = 0;
};

LayerAdapters adapters_of(const std::vector<model::PlannedTensor>& plan, int64_t layer, int64_t experts) {
  LayerAdapters out;
  for (const model::PlannedTensor& t : plan) {
    if (t.layer != layer || t.file_name.size() > 0) continue;  // LoRA matrices have no file name
    out.lora_numel += t.numel;
    if (t.role.has_value() && t.name.size() >= 14 && t.name.compare(t.name.size() - 14, 14, ".lora_A.weight") == 0) {
      out.adapted.insert(*t.role);
      // A stacked experts' A is [r·E, in] (PEFT's layout); each (token, expert) row meets one expert's r.
      if (is_expert(t)) out.expert_lora_rows += t.shape[0] / std::max<int64_t>(1, experts);
      else out.lora_a_rows += t.shape[0];
    }
  }
  return out;
}

// What a sparse layer's mixture of experts keeps for backward in place of the dense MLP's (model/ffn/moe.cpp),
// R = T·k the (token, expert) rows, I the expert's intermediate size, S the shared expert's:
//   routing:  the fp32 probabilities (T·E·4), the top-k indices (T·k·8) and renormalised weights (T·k·(4 + b)),
//             the sort order and each row's token (2·R·8), each row's weight (R·b)
//   experts:  the gathered rows (R·H·b, the gate/up product's input), gate/up's output (R·2I·b, silu's input and
//             the product's other factor), silu's output and the product (2·R·I·b, down's input), down's output
//             (R·H·b, weighted by the row's weight); one expert's LoRA products per row (R·r·4)
//   shared:   as a dense MLP of S (gate, silu, up: 3·T·S·b; the product when its down is adapted), its output and
//             its sigmoid gate (T·H·b + 2·T·b)
// Under expert parallelism a rank computes the rows its experts received, as many as it sent when routing is
// even; the rows it sent are not kept.
int64_t moe_activation_bytes(const EstimateInput& input, const Shapes& s, const LayerAdapters& a) {
  const model::ModelConfig& m = input.model;
  const int64_t T = s.T, eb = s.eb, E = m.num_experts, k = m.num_experts_per_tok, I = m.moe_intermediate_size;
  const int64_t R = T * k;
  int64_t bytes = T * E * kF32 + T * k * (8 + kF32 + eb) + 2 * R * 8 + R * eb;
  bytes += R * s.H * eb + R * 2 * I * eb + 2 * R * I * eb + R * s.H * eb;
  bytes += R * a.expert_lora_rows * kF32;
  if (const int64_t S = m.shared_expert_intermediate_size; S > 0) {
    const bool full = input.tensors.full_training;
    bytes += (3 + (full || a.adapted.count(model::Role::kSharedDown) ? 1 : 0)) * T * S * eb;
    bytes += T * s.H * eb + 2 * T * eb;
  }
  return bytes;
}

// What autograd keeps of one decoder layer's forward for its backward (training, no checkpointing). The
// list follows DecoderModel::layer_forward op by op (docs/ESTIMATE.md):
//   rms_norm: the fp32 input (the layer input itself in fp32) and the [T, 1] reciprocal; its output when a
//             following linear needs it for a weight gradient (LoRA on q/k/v, or full training); in full
//             training also the normalised value the norm weight's gradient needs
//   q/k/v:    the [T, r] fp32 LoRA products; after RoPE the rotated q and k, and v (attention's inputs)
//   sdpa:     its output and the [heads, T] fp32 log-sum-exp (eager: the fp32 and cast probabilities)
//   o_proj:   its LoRA product (the attention output is kept already)
//   MLP:      gate's output (silu's input), silu's output and up's output (the product's inputs), and the
//             product when down_proj needs it for a weight gradient
int64_t layer_activation_bytes(const EstimateInput& input, const Shapes& s, const LayerAdapters& a,
                               int64_t segment_length, bool sparse) {
  const bool full = input.tensors.full_training;
  const int64_t T = s.T, eb = s.eb;
  int64_t bytes = 0;
  using model::Role;
  const bool keep_n1 = full || a.adapted.count(Role::kQuery) || a.adapted.count(Role::kKey) || a.adapted.count(Role::kValue);
  // A sparse layer keeps its own copy of the norm's output (the gathered rows); the shared expert and the
  // router read the norm's output itself.
  const bool keep_n2 = sparse ? full || a.adapted.count(Role::kSharedGate) || a.adapted.count(Role::kSharedUp) ||
                                    a.adapted.count(Role::kRouter) || a.adapted.count(Role::kSharedExpertGate)
                              : full || a.adapted.count(Role::kGate) || a.adapted.count(Role::kUp);
  const bool keep_product = full || a.adapted.count(Role::kDown);
  // the two norms
  bytes += 2 * (T * s.H * kF32 + T * kF32) + (keep_n1 ? T * s.H * eb : 0) + (keep_n2 ? T * s.H * eb : 0);
  if (full) bytes += 2 * T * s.H * eb;
  if (input.model.qk_norm) {
    bytes += T * (s.Q + s.K) * kF32 + T * (s.heads + s.kv_heads) * kF32;
    if (full) bytes += T * (s.Q + s.K) * eb;
  }
  bytes += T * a.lora_a_rows * kF32;
  // attention inputs (rotated q, k; v) and output. On the CPU, sdpa repeats k and v per query head for
  // grouped-query attention (its kernel reads no shared kv heads) and keeps the repeated copies instead, and
  // its output comes back in [B, heads, T, D] order, so o_proj's input is a copy of its own.
  const bool repeat_kv = !input.gpu && s.heads != s.kv_heads && input.attn_impl != "eager";
  bytes += T * (s.Q + 2 * (repeat_kv ? s.Q : s.K)) * eb + T * s.Q * eb;
  if (!input.gpu) bytes += T * s.Q * eb;
  if (input.attn_impl == "eager") {
    const int64_t rows = std::max<int64_t>(1, T / std::max<int64_t>(1, segment_length));
    bytes += rows * s.heads * segment_length * segment_length * (kF32 + eb);
    if (s.heads != s.kv_heads) bytes += 2 * T * s.Q * eb;  // k and v repeated per query head
  } else {
    bytes += T * s.heads * kF32;
  }
  bytes += sparse ? moe_activation_bytes(input, s, a) : (3 + (keep_product ? 1 : 0)) * T * s.I * eb;
  return bytes;
}

// What one layer's backward adds to its kept activations at most: in the MLP the gradients of silu's and up's
// outputs appear once down_proj's backward is through (which releases the product, when it was kept), and two
// [T, H] gradients (the one arriving and the one being summed for the layer input).
int64_t layer_backward_bytes(const Shapes& s, bool product_kept) {
  return s.T * ((product_kept ? 1 : 2) * s.I + 2 * s.H) * s.eb;
}

// The bus bandwidth a step's collectives run at: within a node the intra-node links; across nodes the slower
// of those and the nodes' network.
double bus_bandwidth(const EstimateInput& input, const Rates& rates) {
  if (input.cluster.nodes <= 1) return rates.intra_node_gbps;
  return std::min(rates.intra_node_gbps > 0 ? rates.intra_node_gbps : 1e30, rates.inter_node_gbps);
}

}  // namespace

EstimateInput estimate_input_for(const TrainConfig& config, const ResolvedRun& run, int64_t tokens) {
  EstimateInput input;
  input.model = run.model;
  input.tensors.dtype_bytes = run.dtype == at::kFloat ? 4 : 2;
  input.tensors.full_training = config.model.full_training;
  if (!config.model.full_training) input.tensors.lora = config.model.lora;
  input.tensors.modules_to_save = config.model.lora.modules_to_save;
  input.zero = run.zero;
  input.cluster = run.cluster;
  input.tokens_per_micro_batch = tokens > 0 ? tokens : run.batch * run.row_length;
  input.segment_length = std::min(input.tokens_per_micro_batch, run.row_length);
  input.accumulation = run.accumulation;
  input.gradient_checkpointing = config.model.gradient_checkpointing;
  input.attn_impl = config.model.attn_impl.value_or(input.attn_impl);
  input.packed = config.data.pipeline.packing || run.batch > 1;  // rows side by side: several samples per micro-batch
  input.expert_parallel = config.model.expert_model_parallel_size;
  return input;
}

Estimate estimate_run(const EstimateInput& input) {
  const Shapes s = shapes_of(input);
  const int world = input.cluster.world();
  const int stage = input.zero.stage;
  const std::vector<model::PlannedTensor> plan = model::plan_tensors(input.model, input.tensors);
  Estimate out;
  MemoryEstimate& m = out.memory;

  // ---- the flat layout of the trainables, their partition and buckets (dist::ZeroEngine, GradientSync)
  std::vector<std::pair<std::string, std::vector<int64_t>>> trainable;
  int64_t trainable_bytes = 0, trainable_element = kF32;
  for (const model::PlannedTensor& t : plan)
    if (t.trainable) {
      trainable.emplace_back(t.name, t.shape);
      trainable_bytes += t.bytes();
      trainable_element = t.element_bytes;
    } else {
      out.frozen_numel += t.numel;
    }
  const dist::FlatLayout layout = dist::FlatLayout::build(trainable, world);
  out.trainable_numel = layout.numel;
  out.flat_padded = layout.padded;
  out.partition = layout.partition_size();
  const int64_t owned = stage == 0 ? layout.padded : layout.partition_size();
  m.optimizer_states = 3 * owned * kF32;
  m.decay_mask = owned * kF32;
  m.gradients = (stage <= 1 ? layout.padded : layout.partition_size()) * kF32;
  if (stage >= 2) {
    const std::vector<dist::BucketRange> ranges = dist::gradient_buckets(layout, input.zero.reduce_bucket_size);
    for (const dist::BucketRange& b : ranges) out.largest_bucket = std::max(out.largest_bucket, b.end - b.begin);
    // staging: two in flight, one being filled, one complete but waiting for a later bucket to go first; each
    // bucket sent also receives this rank's reduced piece (up to three at once before the oldest is added)
    const int64_t buckets = static_cast<int64_t>(ranges.size());
    m.gradient_buckets = (std::min<int64_t>(4, buckets) * out.largest_bucket +
                          std::min<int64_t>(3, buckets) * std::min(out.largest_bucket, layout.partition_size())) *
                         kF32;
  } else {
    m.parameter_grads = trainable_bytes;
  }

  // ---- weights (ZeRO-3: each layer's large frozen weights in one buffer padded to the world size)
  std::map<int64_t, int64_t> layer_numel, layer_trainable;
  for (const model::PlannedTensor& t : plan) {
    if (t.trainable) {
      if (t.layer >= 0) layer_trainable[t.layer] += t.numel;
      continue;
    }
    // Expert parallelism: a rank holds its share of the stacked experts whole (ZeRO-3 leaves them resident).
    const bool experts = input.expert_parallel > 1 && t.shape.size() == 3 && is_expert(t);
    const bool partitioned =
        !experts && stage == 3 && t.layer >= 0 && t.numel >= input.zero.stage3_param_persistence_threshold;
    if (partitioned)
      layer_numel[t.layer] += t.numel;
    else
      m.frozen_weights += experts ? t.bytes() / input.expert_parallel : t.bytes();
  }
  int64_t gathered_layers = 0, largest_layer = 0, trainable_gathered = 0;
  for (auto [layer, numel] : layer_numel) {
    const int64_t padded = (numel + world - 1) / world * world;
    m.frozen_weights += padded / world * s.eb;
    gathered_layers += padded;
    largest_layer = std::max(largest_layer, padded);
  }
  for (auto [layer, numel] : layer_trainable) trainable_gathered += numel;
  m.trainable_weights = stage == 3 ? 0 : trainable_bytes;
  if (stage == 3) {
    // With checkpointing a layer is gathered for its forward and again for its recompute, with the next one
    // prefetched; the trainables gathered in backward stay until the micro-batch is collected. Without,
    // autograd keeps every gathered layer until backward is through.
    int64_t largest_trainables = 0;
    for (auto [layer, numel] : layer_trainable) largest_trainables = std::max(largest_trainables, numel);
    m.gather_buffers = input.gradient_checkpointing ? 2 * (largest_layer * s.eb + largest_trainables * kF32)
                                                    : gathered_layers * s.eb + trainable_gathered * kF32;
  }

  // ---- activations of one micro-batch
  const int64_t segment = std::min<int64_t>(s.T, std::max<int64_t>(1, input.segment_length));
  int64_t kept_no_checkpoint = 0, largest_layer_activations = 0;
  std::vector<LayerAdapters> adapters;
  for (int64_t l = 0; l < s.layers; ++l) adapters.push_back(adapters_of(plan, l, input.model.num_experts));
  for (int64_t l = 0; l < s.layers; ++l) {
    const bool sparse = input.model.is_moe() && input.model.sparse_layer(l);
    const int64_t bytes = layer_activation_bytes(input, s, adapters[static_cast<size_t>(l)], segment, sparse);
    kept_no_checkpoint += bytes;
    largest_layer_activations = std::max(largest_layer_activations, bytes);
  }
  m.activations_per_layer = largest_layer_activations;
  m.activations_per_layer_checkpointed = s.T * s.H * s.eb + kRngStateBytes;
  m.activations_kept = input.gradient_checkpointing ? s.layers * m.activations_per_layer_checkpointed : kept_no_checkpoint;
  // A checkpointed layer's recompute keeps what it would have kept, except its input, which the checkpoint
  // holds already (in fp32 that is the first norm's fp32 input).
  const int64_t recompute = largest_layer_activations - (s.eb == kF32 ? s.T * s.H * kF32 : 0);
  bool product_kept = input.tensors.full_training;
  for (const LayerAdapters& a : adapters) product_kept = product_kept || a.adapted.count(model::Role::kDown) > 0;
  m.layer_backward = layer_backward_bytes(s, product_kept) + (input.gradient_checkpointing ? recompute : 0);
  // LoRA dropout: the fused linear draws the dropped copy of its input again in backward (a [T, in] temporary;
  // the largest input is down_proj's, [T, I]).
  if (input.tensors.lora.has_value() && input.tensors.lora->dropout > 0 && !input.tensors.full_training)
    m.layer_backward += s.T * (product_kept ? s.I : s.H) * s.eb;
  const bool head_trained = std::any_of(plan.begin(), plan.end(), [](const model::PlannedTensor& t) {
    return t.trainable && (t.file_name == "lm_head.weight" || t.file_name == "model.embed_tokens.weight");
  });
  const int64_t chunk = std::min(kLossChunkTokens, s.T);
  // the chunk's fp32 logits, logsumexp's shifted copy of them, the 16-bit logits before the cast
  m.loss_chunk = 2 * chunk * s.V * kF32 + (s.eb != kF32 ? chunk * s.V * s.eb : 0) + s.T * s.H * s.eb +
                 (head_trained ? s.V * s.H * kF32 : 0);
  // around the layers: RoPE's cos and sin, the final norm's fp32 input and output (the embedding output is the
  // first layer's input, counted there)
  const int64_t around = 2 * s.T * input.model.head_dim * s.eb + s.T * s.H * (kF32 + s.eb);

  // ---- the optimizer step's temporaries (ZeroEngine::step, optim::adamw_step)
  const int64_t norm = 2 * owned * 8;          // the gradient in fp64 and its squares
  const int64_t adam = 2 * owned * kF32;       // the decay factor, then sqrt(v) and its quotient
  int64_t gather = 0;
  if (stage == 1 || stage == 2) {
    gather = layout.padded * trainable_element + (trainable_element != kF32 ? owned * trainable_element : 0);
    const int64_t piece = std::max<int64_t>(1, std::min(layout.partition_size(), input.zero.allgather_bucket_size / world));
    if (piece < layout.partition_size()) gather += world * piece * trainable_element;
  }
  m.step_temporaries = (stage == 1 ? owned * kF32 : 0) + std::max({norm, adam, gather});

  // ---- the peak: model states + the largest phase
  const int64_t states = m.model_states();
  // ZeRO-3 with checkpointing has released its gathered layers when the loss runs after the last layer; without
  // checkpointing autograd still holds them.
  const bool released_at_loss = stage == 3 && input.gradient_checkpointing;
  const int64_t forward = states + m.activations_kept + around +
                          (released_at_loss ? std::max(m.gather_buffers, m.loss_chunk) : m.gather_buffers + m.loss_chunk);
  const int64_t backward = states + m.gather_buffers + m.activations_kept + around + s.T * s.H * s.eb +
                           m.layer_backward + m.parameter_grads + m.gradient_buckets;
  const int64_t step = states + m.step_temporaries;
  m.peak = std::max({forward, backward, step});
  m.peak_phase = m.peak == step ? "optimizer step" : m.peak == backward ? "backward" : "forward";

  // ---- bytes sent per step (dist/comm.h's ring accounting of each call the step makes)
  const double n = world, ring = (n - 1) / n, A = input.accumulation;
  auto& bytes = out.traffic.bytes;  // all-reduce, reduce-scatter, all-gather, broadcast, all-to-all
  bytes[0] = 2 * ring * kStepTotals * 8;  // the step's totals (train/step_totals.h; fp64)
  if (input.expert_parallel > 1 && input.model.is_moe()) {
    // Expert parallelism: every micro-batch's loss divisor (one fp64 all-reduce over the world), and in each sparse
    // layer the rows of the top-k choices going out to the experts' ranks and back, forward and backward, again for
    // the recompute, plus the per-expert counts before each forward (int64). Tokens spread evenly over the experts:
    // (N - 1) / N of the rows leave the rank.
    const double ep = input.expert_parallel, leave = (ep - 1) / ep;
    bytes[0] += A * 2 * ring * 8;
    int64_t sparse = 0;
    for (int64_t l = 0; l < input.model.num_layers; ++l) sparse += input.model.sparse_layer(l) ? 1 : 0;
    const double rows = double(s.T) * double(input.model.num_experts_per_tok) * leave * double(s.H * s.eb);
    const double counts = double(input.model.num_experts) * leave * 8;
    const double recompute = input.gradient_checkpointing ? 1.0 : 0.0;
    bytes[static_cast<size_t>(dist::Collective::kAllToAll)] =
        A * double(sparse) * (rows * (2.0 + 2.0 + 2.0 * recompute) + counts * (1.0 + recompute));
  }
  if (stage == 0) bytes[0] += 2 * ring * double(layout.padded * kF32);
  if (stage >= 1) bytes[0] += 2 * ring * 8;  // the squared gradient norm
  if (stage == 1) bytes[1] = ring * double(layout.padded * kF32);
  if (stage >= 2) bytes[1] = A * ring * double(layout.padded * kF32);
  if (stage == 1 || stage == 2) bytes[2] = ring * double(layout.padded * trainable_element);
  if (stage == 3) {
    const double gathers = input.gradient_checkpointing ? 2 : 1;
    bytes[2] = A * gathers * ring * double(gathered_layers * s.eb + trainable_gathered * kF32);
  }
  return out;
}

double micro_batch_flops(const EstimateInput& input) {
  const Shapes s = shapes_of(input);
  const model::ModelConfig& m = input.model;
  const bool full = input.tensors.full_training;
  const std::vector<model::PlannedTensor> plan = model::plan_tensors(m, input.tensors);
  double layer_weights = 0, lora = 0, head = 0;
  bool head_trained = false;
  // A token multiplies only its top-k experts: stacked expert weights and their adapters count k / E of their size.
  const double active = m.is_moe() ? double(m.num_experts_per_tok) / double(m.num_experts) : 1.0;
  for (const model::PlannedTensor& t : plan) {
    if (t.shape.size() != 2 && !(t.shape.size() == 3 && is_expert(t))) continue;
    const double numel = double(t.numel) * (is_expert(t) ? active : 1.0);
    if (t.layer >= 0 && t.file_name.size() > 0) layer_weights += numel;
    if (t.file_name.empty()) lora += numel;
    if (t.file_name == "lm_head.weight" || (m.tie_word_embeddings && t.file_name == "model.embed_tokens.weight")) {
      head = double(t.numel);
      head_trained = t.trainable;
    }
  }
  const double T = double(s.T);
  const double segment = double(std::max<int64_t>(1, std::min(input.segment_length, s.T)));
  // causal attention: QK^T and PV over half the [segment, segment] square per head
  const double attention_forward = double(s.layers) * 2.0 * 2.0 * T * (segment / 2.0) * double(s.Q);
  const double recompute = input.gradient_checkpointing ? 1.0 : 0.0;
  // forward 2 per multiply-add, input gradients 2, weight gradients 2 for trained weights
  const double layers = T * layer_weights * (2.0 + 2.0 + (full ? 2.0 : 0.0) + 2.0 * recompute);
  const double adapters = T * lora * (2.0 + 2.0 + 2.0 + 2.0 * recompute);
  const double lm = T * head * (2.0 + 2.0 + (head_trained ? 2.0 : 0.0));
  const double attention = attention_forward * (1.0 + 2.0 + recompute);
  return layers + adapters + lm + attention;
}

TimeEstimate estimate_time(const EstimateInput& input, const Estimate& estimate, const Rates& rates) {
  TimeEstimate t;
  t.flops_per_step = micro_batch_flops(input) * input.accumulation;
  t.compute_s = rates.matrix_tflops > 0 ? t.flops_per_step / (rates.matrix_tflops * 1e12) : 0;
  const bool multi_node = input.cluster.nodes > 1;
  const double bandwidth = bus_bandwidth(input, rates);
  // The experts' all-to-all stays inside a node when an expert group does (consecutive ranks), and waits: the
  // layer needs its rows back before it goes on.
  const auto& b = estimate.traffic.bytes;
  const double exchanged = b[static_cast<size_t>(dist::Collective::kAllToAll)];
  const bool group_in_node = input.expert_parallel <= input.cluster.ranks_per_node && rates.intra_node_gbps > 0;
  const double exchange_bandwidth = group_in_node ? rates.intra_node_gbps : bandwidth;
  const double exchange_s = exchanged > 0 && exchange_bandwidth > 0 ? exchanged / (exchange_bandwidth * 1e9) : 0;
  const double bytes = estimate.traffic.total() - exchanged;
  t.communication_s = (bytes > 0 && bandwidth > 0 ? bytes / (bandwidth * 1e9) : 0) + exchange_s;
  // Stages 2-3 send during backward (bucket reduce-scatters, ZeRO-3 gathers with prefetch): that part
  // overlaps compute. What stages 0-1 reduce and 1-2 gather around the optimizer step waits.
  double waiting = 0, overlapped = 0;
  if (input.zero.stage <= 1) {
    waiting = bytes;
  } else if (input.zero.stage == 2) {
    overlapped = b[1];
    waiting = bytes - b[1];
  } else {
    overlapped = b[1] + b[2];
    waiting = bytes - overlapped;
  }
  const double per_byte = bytes > 0 && bandwidth > 0 ? 1.0 / (bandwidth * 1e9) : 0;
  t.step_s = std::max(t.compute_s, overlapped * per_byte) + waiting * per_byte + exchange_s;
  t.bottleneck = t.compute_s >= t.communication_s ? "compute" : multi_node && rates.inter_node_gbps <= rates.intra_node_gbps
                                                                    ? "inter-node links"
                                                                    : "intra-node links";
  return t;
}

int lowest_fitting_stage(EstimateInput input, int64_t device_bytes) {
  for (int stage = 0; stage <= 3; ++stage) {
    if (stage == 3 && input.tensors.full_training) break;  // ztune trains in full up to ZeRO-2
    input.zero.stage = stage;
    if (estimate_run(input).memory.peak <= device_bytes) return stage;
  }
  return -1;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024 && u < 4) bytes /= 1024, ++u;
  char text[32];
  std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return text;
}

std::string format_estimate(const EstimateInput& input, const Estimate& e, const TimeEstimate& t, const Rates& rates,
                            const std::string& rates_source, int64_t device_bytes) {
  const MemoryEstimate& m = e.memory;
  std::ostringstream o;
  const char* dtype = input.tensors.dtype_bytes == 2 ? "16-bit" : "fp32";
  o << "ztune estimate: " << input.model.architecture_name << " (" << input.model.num_layers << " layers, hidden "
    << input.model.hidden_size << "), " << (input.tensors.full_training ? "full" : "LoRA") << ", " << dtype << ", ZeRO-"
    << input.zero.stage << ", " << input.cluster.nodes << " node(s) x " << input.cluster.ranks_per_node
    << " rank(s); " << input.tokens_per_micro_batch << " tokens per micro-batch x " << input.accumulation
    << " accumulation; gradient checkpointing " << (input.gradient_checkpointing ? "on" : "off") << "\n";
  o << "trainable parameters " << e.trainable_numel << ", frozen " << e.frozen_numel << "\n\n";
  auto row = [&](const char* what, int64_t bytes, const std::string& how) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-34s %12s  %s\n", what, format_bytes(double(bytes)).c_str(), how.c_str());
    o << line;
  };
  o << "memory per rank\n";
  row("frozen weights", m.frozen_weights, input.zero.stage == 3 ? "resident + this rank's layer slices" : "whole");
  row("trainable weights", m.trainable_weights, input.zero.stage == 3 ? "gathered per layer when used" : "");
  row("gradients (fp32)", m.gradients, input.zero.stage <= 1 ? "whole flat buffer" : "this rank's partition");
  row("master weights + Adam moments", m.optimizer_states, "fp32, 3 x " + std::to_string(m.optimizer_states / 12) + " values");
  row("weight-decay mask", m.decay_mask, "fp32");
  row("gradient buckets", m.gradient_buckets, input.zero.stage >= 2 ? "staging (4 x the largest bucket) + reduced pieces" : "");
  row("parameter .grad", m.parameter_grads, input.zero.stage <= 1 ? "until each micro-batch is collected" : "");
  row("ZeRO-3 gathered layers", m.gather_buffers, "");
  row("activations per layer", m.activations_per_layer, "without checkpointing");
  row("activations per layer (ckpt)", m.activations_per_layer_checkpointed, "with checkpointing");
  row("activations kept", m.activations_kept, "all layers, end of forward");
  row("one layer's backward", m.layer_backward, input.gradient_checkpointing ? "recompute + gradients" : "gradients");
  row("loss chunk", m.loss_chunk, "[1024, vocab] fp32 logits and the hidden gradient");
  row("optimizer step temporaries", m.step_temporaries, "");
  row("model states", m.model_states(), "");
  row("PEAK", m.peak, "during the " + m.peak_phase);
  if (device_bytes > 0) {
    const int fits = lowest_fitting_stage(input, device_bytes);
    o << "  device memory " << format_bytes(double(device_bytes)) << ": "
      << (fits < 0 ? std::string("no ZeRO stage fits; lower --max_length or the batch, or add ranks")
                   : "the lowest ZeRO stage that fits is " + std::to_string(fits))
      << "\n";
  }
  o << "\nbytes sent per step per rank (ring accounting)\n";
  const char* kinds[] = {"all-reduce", "reduce-scatter", "all-gather", "broadcast", "all-to-all (experts)"};
  static_assert(std::size(kinds) == std::tuple_size<decltype(e.traffic.bytes)>::value);
  for (size_t k = 0; k < e.traffic.bytes.size(); ++k)
    if (e.traffic.bytes[k] > 0) row(kinds[k], int64_t(e.traffic.bytes[k]), "");
  row("total", int64_t(e.traffic.total()), "");
  if (rates.matrix_tflops <= 0) {
    o << "\ntime per step: not estimated (" << rates_source << ")\n";
    return o.str();
  }
  o << "\ntime per step (" << rates_source << ")\n";
  const double bandwidth = bus_bandwidth(input, rates);
  char line[512];
  std::snprintf(line, sizeof line,
                "  compute        %.3g FLOPs / (%.3g TFLOP/s) = %.3f s\n"
                "  communication  %s / (%.3g GB/s%s) = %.3f s\n"
                "  step           %.3f s; bottleneck: %s\n",
                t.flops_per_step, rates.matrix_tflops, t.compute_s, format_bytes(e.traffic.total()).c_str(), bandwidth,
                input.cluster.nodes > 1 ? ", inter-node" : ", intra-node", t.communication_s, t.step_s,
                t.bottleneck.c_str());
  o << line;
  if (t.communication_s > t.compute_s && e.traffic.total() > 0)
    o << "warning: communication (" << t.communication_s << " s) exceeds compute (" << t.compute_s
      << " s) per step: more ranks will not make steps faster; raise gradient_accumulation_steps or use faster links\n";
  return o.str();
}

nlohmann::json memory_json(const MemoryEstimate& m) {
  return {{"frozen_weights", m.frozen_weights},     {"trainable_weights", m.trainable_weights},
          {"gradients", m.gradients},               {"optimizer_states", m.optimizer_states},
          {"decay_mask", m.decay_mask},             {"gradient_buckets", m.gradient_buckets},
          {"parameter_grads", m.parameter_grads},   {"gather_buffers", m.gather_buffers},
          {"activations_per_layer", m.activations_per_layer},
          {"activations_per_layer_checkpointed", m.activations_per_layer_checkpointed},
          {"activations_kept", m.activations_kept}, {"layer_backward", m.layer_backward},
          {"loss_chunk", m.loss_chunk},             {"step_temporaries", m.step_temporaries},
          {"model_states", m.model_states()},       {"peak", m.peak},
          {"peak_phase", m.peak_phase}};
}

nlohmann::json estimate_json(const EstimateInput& input, const Estimate& e, const TimeEstimate& t, const Rates& rates) {
  nlohmann::json sent = nlohmann::json::object();
  for (size_t k = 0; k < e.traffic.bytes.size(); ++k)
    sent[dist::collective_name(static_cast<dist::Collective>(k))] = e.traffic.bytes[k];
  return {{"nodes", input.cluster.nodes},
          {"ranks_per_node", input.cluster.ranks_per_node},
          {"zero_stage", input.zero.stage},
          {"tokens_per_micro_batch", input.tokens_per_micro_batch},
          {"accumulation", input.accumulation},
          {"trainable_numel", e.trainable_numel},
          {"frozen_numel", e.frozen_numel},
          {"memory", memory_json(e.memory)},
          {"bytes_sent_per_step", sent},
          {"time", {{"flops_per_step", t.flops_per_step}, {"matrix_tflops", rates.matrix_tflops},
                    {"intra_node_gbps", rates.intra_node_gbps}, {"inter_node_gbps", rates.inter_node_gbps},
                    {"compute_s", t.compute_s}, {"communication_s", t.communication_s}, {"step_s", t.step_s},
                    {"bottleneck", t.bottleneck}}}};
}

}  // namespace zt::train
