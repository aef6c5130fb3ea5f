#include "model/decoder.h"

#include "core/torch_api.h"

#include <cmath>
#include <set>

#include "core/check.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "model/chunked_loss.h"
#include "model/layer_checkpoint.h"
#include "model/lora/lora_linear.h"
#include "model/tensor_plan.h"
#include "model/weight_names.h"

namespace zt::model {

at::Tensor linear_forward(const Linear& linear, const at::Tensor& x, bool training) {
  if (!linear.lora_a.defined()) return at::linear(x, linear.weight, linear.bias);
  return lora_linear(linear, x, training);
}

at::Tensor composite_lora_forward(const Linear& linear, const at::Tensor& x, bool training) {
  at::Tensor out = at::linear(x, linear.weight, linear.bias);
  at::Tensor lora_in = x.to(linear.lora_a.scalar_type());
  if (training && linear.dropout > 0) lora_in = seeded_dropout_reference(lora_in, linear.dropout, draw_dropout_seed());
  at::Tensor update = at::linear(at::linear(lora_in, linear.lora_a), linear.lora_b) * linear.scaling;
  return (out + update).to(out.scalar_type());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, true) + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor rope_inverse_frequencies(const ModelConfig& config, at::Device device) {
  auto options = at::TensorOptions().dtype(at::kFloat).device(device);
  const int64_t dim = config.head_dim;
  at::Tensor inv_freq =
      1.0 / at::pow(config.rope_theta, at::arange(0, dim, 2, options.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(dim));
  if (config.rope_type == "linear") return inv_freq / config.rope_factor;
  if (config.rope_type != "llama3") return inv_freq;
  // Llama-3.1's scaling, step for step as transformers computes it in fp32: long wavelengths divided by the
  // factor, short ones kept, the band between interpolated.
  const double factor = config.rope_factor, low = config.rope_low_freq_factor, high = config.rope_high_freq_factor;
  const double old_context = static_cast<double>(config.rope_original_max_positions);
  const double low_wavelength = old_context / low, high_wavelength = old_context / high;
  const at::Tensor wavelength = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelength > low_wavelength, inv_freq / factor, inv_freq);
  const at::Tensor smooth = (old_context / wavelength - low) / (high - low);
  const at::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
  const at::Tensor medium = (wavelength < high_wavelength).logical_not() & (wavelength > low_wavelength).logical_not();
  return at::where(medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& position_ids, const ModelConfig& config,
                                              at::ScalarType dtype) {
  const at::Tensor inv_freq = rope_inverse_frequencies(config, position_ids.device());
  at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  at::Tensor emb = at::cat({angles, angles}, -1);                              // [B, T, D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

namespace {

// The boolean mask equivalent of a segment layout, for the eager path.
at::Tensor packed_causal_mask_from(const AttentionLayout& layout, int64_t length, at::Device device) {
  at::Tensor segment = at::zeros({static_cast<int64_t>(layout.segments.size()), length}, at::kLong);
  for (size_t b = 0; b < layout.segments.size(); ++b) {
    int64_t id = 0;
    for (auto [start, size] : layout.segments[b]) segment[static_cast<int64_t>(b)].narrow(0, start, size).fill_(id++);
  }
  segment = segment.to(device);
  at::Tensor causal = at::ones({length, length}, at::TensorOptions().dtype(at::kBool).device(device)).tril();
  return ((segment.unsqueeze(-1) == segment.unsqueeze(-2)) & causal).unsqueeze(1);
}

}  // namespace


AttentionLayout layout_from_positions(const at::Tensor& position_ids) {
  AttentionLayout layout;
  at::Tensor positions = position_ids.to(at::kCPU, at::kLong).contiguous();
  const int64_t rows = positions.size(0), length = positions.size(1);
  const int64_t* data = positions.data_ptr<int64_t>();
  layout.single_segment = true;
  for (int64_t b = 0; b < rows; ++b) {
    std::vector<std::pair<int64_t, int64_t>> segments;
    for (int64_t t = 0; t < length; ++t) {
      int64_t position = data[b * length + t];
      if (t == 0 || position == 0) segments.emplace_back(t, 0);
      ++segments.back().second;
      if (position != t) layout.single_segment = false;
    }
    layout.segments.push_back(std::move(segments));
  }
  return layout;
}

AttentionLayout layout_from_positions(const std::vector<int32_t>& position_ids) {
  AttentionLayout layout;
  layout.single_segment = true;
  std::vector<std::pair<int64_t, int64_t>> segments;
  for (size_t t = 0; t < position_ids.size(); ++t) {
    if (t == 0 || position_ids[t] == 0) segments.emplace_back(static_cast<int64_t>(t), 0);
    ++segments.back().second;
    if (position_ids[t] != static_cast<int32_t>(t)) layout.single_segment = false;
  }
  layout.segments.push_back(std::move(segments));
  return layout;
}

int64_t LossOutput::num_tokens() const { return counts[0].item<int64_t>(); }
int64_t LossOutput::num_correct() const { return counts[1].item<int64_t>(); }

namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  // x [B, heads, T, D]; cos/sin [B, T, D]
  at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  return x * c + rotate_half(x) * s;
}

}  // namespace

at::Tensor DecoderModel::attention(const DecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                                   const at::Tensor& sin, const AttentionLayout& layout, bool training,
                                   std::optional<CacheSlot> cache) const {
  const int64_t batch = x.size(0), length = x.size(1), head_dim = config_.head_dim;
  at::Tensor q = linear_forward(layer.q, x, training).view({batch, length, config_.num_heads, head_dim});
  at::Tensor k = linear_forward(layer.k, x, training).view({batch, length, config_.num_kv_heads, head_dim});
  at::Tensor v = linear_forward(layer.v, x, training).view({batch, length, config_.num_kv_heads, head_dim});
  if (config_.qk_norm) {
    q = rms_norm(q, layer.q_norm, config_.rms_norm_eps);
    k = rms_norm(k, layer.k_norm, config_.rms_norm_eps);
  }
  q = apply_rope(q.transpose(1, 2), cos, sin);  // [B, nH, T, D]
  k = apply_rope(k.transpose(1, 2), cos, sin);  // [B, nKV, T, D]
  v = v.transpose(1, 2);
  if (cache.has_value()) {
    KvCache& kv = *cache->cache;
    const int64_t start = kv.filled, end = start + length;
    for (auto [slot, fresh] : {std::make_pair(&kv.keys[cache->layer], &k), std::make_pair(&kv.values[cache->layer], &v)}) {
      if (!slot->defined() || slot->size(2) < end) {  // first use, or past the capacity: (re)allocate
        const int64_t capacity = std::max({end, kv.capacity, slot->defined() ? 2 * slot->size(2) : int64_t{0}});
        at::Tensor grown = at::empty({batch, fresh->size(1), capacity, head_dim}, fresh->options());
        if (start > 0) grown.narrow(2, 0, start).copy_(slot->narrow(2, 0, start));
        *slot = grown;
      }
      slot->narrow(2, start, length).copy_(*fresh);
      *fresh = slot->narrow(2, 0, end);
    }
  }
  // Sliding-window layers (Mistral, Qwen2 with use_sliding_window) see only their last `window` keys.
  const int64_t window = config_.window_of_layer(static_cast<int64_t>(&layer - layers_.data()));
  const bool windowed = window > 0 && k.size(2) > window;
  at::Tensor out;
  if (options_.attn_impl == "eager") {
    int64_t groups = config_.num_heads / config_.num_kv_heads;
    if (groups > 1) {  // query head h reads kv head h / groups
      k = k.repeat_interleave(groups, 1);
      v = v.repeat_interleave(groups, 1);
    }
    at::Tensor mask = layout.mask.defined() ? layout.mask : packed_causal_mask_from(layout, q.size(2), q.device());
    if (windowed) mask = mask & window_band(q.size(2), k.size(2), window, q.device());
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
    scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    out = at::matmul(at::softmax(scores, -1, at::kFloat).to(q.scalar_type()), v);
  } else if (layout.mask.defined()) {
    const at::Tensor mask = windowed ? layout.mask & window_band(q.size(2), k.size(2), window, q.device()) : layout.mask;
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, /*enable_gqa=*/true);
  } else if (layout.single_segment && windowed) {
    const at::Tensor mask = window_band(q.size(2), k.size(2), window, q.device()).tril();
    out = at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, true);
  } else if (layout.single_segment) {
    // enable_gqa: query head h reads kv head h / (heads / kv_heads) without copying k and v.
    out = at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, std::nullopt, true);
  } else {
    out = packed_causal_attention(q, k, v, layout, packed_kernel_, window);
  }
  out = out.transpose(1, 2).reshape({batch, length, config_.q_size()});
  return linear_forward(layer.o, out, training);
}

at::Tensor DecoderModel::layer_forward(const DecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                                       const at::Tensor& sin, const AttentionLayout& layout, bool training,
                                       std::optional<CacheSlot> cache) const {
  at::Tensor h =
      x + attention(layer, rms_norm(x, layer.input_norm, config_.rms_norm_eps), cos, sin, layout, training, cache);
  at::Tensor normed = rms_norm(h, layer.post_attention_norm, config_.rms_norm_eps);
  at::Tensor mlp = linear_forward(layer.down,
                                  at::silu(linear_forward(layer.gate, normed, training)) *
                                      linear_forward(layer.up, normed, training),
                                  training);
  return h + mlp;
}

at::Tensor DecoderModel::hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                       bool training) const {
  return hidden_states(input_ids, position_ids, training, layout_from_positions(position_ids));
}

at::Tensor DecoderModel::hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                                       const AttentionLayout& layout) const {
  ZT_CHECK(input_ids.dim() == 2 && position_ids.sizes() == input_ids.sizes(),
           "input_ids and position_ids must both be [B, T]");
  ZT_CHECK(layout.mask.defined() || static_cast<int64_t>(layout.segments.size()) == input_ids.size(0),
           "the attention layout describes " << layout.segments.size() << " rows, the batch has " << input_ids.size(0));
  if (packed_kernel_ == PackedKernel::kFlashVarlen && !layout.single_segment && !layout.cu_seqlens.defined()) {
    AttentionLayout prepared = layout;  // the cumulative lengths go to the device once, not per layer
    prepare_varlen(prepared, input_ids.device(), input_ids.size(1));
    return hidden_states(input_ids, position_ids, training, prepared);
  }
  at::Tensor x = at::embedding(embed_tokens, input_ids);  // [B, T, H]
  auto [cos, sin] = rope_tables(position_ids, config_, x.scalar_type());
  const bool checkpoint = options_.gradient_checkpointing && training && at::GradMode::is_enabled();
  // A checkpointed layer only runs backward when its input needs a gradient; the embedding output of a
  // frozen model does not, so it is made to (as PEFT's enable_input_require_grads does).
  if (checkpoint && !x.requires_grad()) x = x.detach().requires_grad_(true);
  for (size_t l = 0; l < layers_.size(); ++l) {
    // Under checkpointing the first run is without grad and the recompute (in backward) with it.
    auto run = [this, l, cos, sin, layout, checkpoint, training](const at::Tensor& input) {
      if (hooks_.acquire) hooks_.acquire(l, checkpoint && at::GradMode::is_enabled());
      at::Tensor out = layer_forward(layers_[l], input, cos, sin, layout, training);
      if (hooks_.release) hooks_.release(l);
      return out;
    };
    x = checkpoint ? checkpoint_layer(run, x) : run(x);
  }
  return rms_norm(x, final_norm, config_.rms_norm_eps);
}

at::Tensor DecoderModel::forward_cached(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                        const at::Tensor& attention_mask, KvCache& cache) const {
  if (cache.keys.empty()) {
    cache.keys.resize(layers_.size());
    cache.values.resize(layers_.size());
  }
  ZT_CHECK(attention_mask.size(-1) == cache.filled + input_ids.size(1),
           "forward_cached: the mask covers " << attention_mask.size(-1) << " keys, the cache will hold "
                                              << cache.filled + input_ids.size(1));
  at::Tensor x = at::embedding(embed_tokens, input_ids);
  auto [cos, sin] = rope_tables(position_ids, config_, x.scalar_type());
  AttentionLayout layout;
  layout.mask = attention_mask;
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (hooks_.acquire) hooks_.acquire(l, false);
    x = layer_forward(layers_[l], x, cos, sin, layout, false, CacheSlot{&cache, l});
    if (hooks_.release) hooks_.release(l);
  }
  cache.filled += input_ids.size(1);
  return rms_norm(x, final_norm, config_.rms_norm_eps);
}

void DecoderModel::merge_lora() {
  at::NoGradGuard no_grad;
  for (auto& [path, linear] : lora_modules()) {
    at::Tensor delta = at::matmul(linear->lora_b.to(at::kFloat), linear->lora_a.to(at::kFloat)) * linear->scaling;
    linear->weight = (linear->weight.to(at::kFloat) + delta).to(linear->weight.scalar_type());
    linear->lora_a = at::Tensor();
    linear->lora_b = at::Tensor();
  }
}

at::Tensor DecoderModel::logits(const at::Tensor& hidden) const { return at::linear(hidden, lm_head); }

LossOutput DecoderModel::loss(const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk_tokens) const {
  // Position t predicts label t + 1 (labels are not shifted in the data).
  at::Tensor h = hidden.narrow(1, 0, hidden.size(1) - 1).reshape({-1, hidden.size(-1)});
  at::Tensor targets = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1}).to(hidden.device());
  ChunkedLossResult result = chunked_cross_entropy(h, lm_head, targets, chunk_tokens);
  return {result.loss_sum, result.counts};
}

DecoderModel DecoderModel::load(const std::string& model_dir, const ModelOptions& options) {
  // flash_attn runs through scaled_dot_product_attention per packed sample, whose CUDA backend is the flash
  // kernel for bf16/fp16 (the varlen layout comes from running each segment separately).
  ZT_REQUIRE(options.attn_impl == "sdpa" || options.attn_impl == "eager" || options.attn_impl == "flash_attn" ||
                 options.attn_impl == "flash_attention_2",
             "--attn_impl '" << options.attn_impl << "' is not one of sdpa, eager, flash_attn");
  DecoderModel model;
  model.config_ = read_model_config(model_dir);
  model.options_ = options;
  model.packed_kernel_ = packed_kernel_for(options.device, options.dtype, model.config_.head_dim);
  if (options.device.is_cuda() && options.attn_impl != "eager")
    ZT_LOG_INFO("packed samples attend through " << packed_kernel_name(model.packed_kernel_) << " ("
                                                 << c10::toString(options.dtype) << " on " << options.device << ")");
  const ModelConfig& config = model.config_;
  st::Checkpoint weights = st::Checkpoint::open(model_dir);
  std::set<std::string> used;
  auto keep = [&](const std::string& name) { return !options.keep_weight || options.keep_weight(name); };
  auto fetch = [&](const std::string& name, std::vector<int64_t> shape, bool trainable) -> at::Tensor {
    ZT_REQUIRE(weights.contains(name), model_dir << ": weight '" << name << "' is missing");
    used.insert(name);
    auto [file, info] = weights.locate(name);
    ZT_REQUIRE(info->shape == shape, model_dir << ": weight '" << name << "' has shape "
                                               << at::IntArrayRef(info->shape) << ", expected " << at::IntArrayRef(shape));
    if (!keep(name)) return at::Tensor();
    // One copy out of the mapped file: the cast (or clone) into the training dtype and device.
    at::Tensor tensor = st::to_tensor(file, *info).to(options.device, options.dtype, false, true);
    tensor.set_requires_grad(trainable);
    return tensor;
  };
  const int64_t H = config.hidden_size, I = config.intermediate_size;
  auto saved = [&](const std::string& module) {
    return options.full_training ||
           std::find(options.modules_to_save.begin(), options.modules_to_save.end(), module) != options.modules_to_save.end();
  };
  model.embed_tokens = fetch("model.embed_tokens.weight", {config.vocab_size, H}, saved("embed_tokens"));
  model.final_norm = fetch("model.norm.weight", {H}, options.full_training);
  if (config.tie_word_embeddings) {
    model.lm_head = model.embed_tokens;
    // Some exports still carry a copy of the tied head; it is the same tensor.
    if (weights.contains("lm_head.weight")) used.insert("lm_head.weight");
  } else {
    model.lm_head = fetch("lm_head.weight", {config.vocab_size, H}, saved("lm_head"));
  }
  auto linear = [&](int64_t layer, const std::string& name, int64_t out, int64_t in, bool bias) {
    const std::string path = linear_module_path(layer, name);
    Linear result;
    result.weight = fetch(path + ".weight", {out, in}, options.full_training);
    if (bias) result.bias = fetch(path + ".bias", {out}, options.full_training);
    if (options.lora.has_value() && !options.full_training && is_lora_target(*options.lora, path, name)) {
      const LoraConfig& lora = *options.lora;
      // PEFT keeps adapters of a bf16/fp16 model in fp32.
      auto lora_options = at::TensorOptions().dtype(at::kFloat).device(options.device);
      result.lora_a = at::empty({lora.rank, in}, lora_options);
      // kaiming_uniform_(a=sqrt(5)) on [r, in]: bound = 1 / sqrt(in).
      double bound = 1.0 / std::sqrt(static_cast<double>(in));
      {
        at::NoGradGuard no_grad;
        result.lora_a.uniform_(-bound, bound);
      }
      result.lora_b = at::zeros({out, lora.rank}, lora_options);
      result.lora_a.set_requires_grad(true);
      result.lora_b.set_requires_grad(true);
      result.scaling = lora.scaling();
      result.dropout = lora.dropout;
    }
    return result;
  };
  for (int64_t l = 0; l < config.num_layers; ++l) {
    DecoderLayer layer;
    const std::string prefix = layer_prefix(l);
    layer.input_norm = fetch(prefix + "input_layernorm.weight", {H}, options.full_training);
    layer.post_attention_norm = fetch(prefix + "post_attention_layernorm.weight", {H}, options.full_training);
    if (config.qk_norm) {
      layer.q_norm = fetch(prefix + "self_attn.q_norm.weight", {config.head_dim}, options.full_training);
      layer.k_norm = fetch(prefix + "self_attn.k_norm.weight", {config.head_dim}, options.full_training);
    }
    layer.q = linear(l, "q_proj", config.q_size(), H, config.qkv_bias);
    layer.k = linear(l, "k_proj", config.kv_size(), H, config.qkv_bias);
    layer.v = linear(l, "v_proj", config.kv_size(), H, config.qkv_bias);
    layer.o = linear(l, "o_proj", H, config.q_size(), config.o_bias);
    layer.gate = linear(l, "gate_proj", I, H, config.mlp_bias);
    layer.up = linear(l, "up_proj", I, H, config.mlp_bias);
    layer.down = linear(l, "down_proj", H, I, config.mlp_bias);
    model.layers_.push_back(std::move(layer));
  }
  for (const std::string& name : weights.names())
    ZT_REQUIRE(used.count(name) > 0, model_dir << ": unexpected weight '" << name << "' for "
                                               << config.architecture_name << " (wrong config.json?)");
  return model;
}

at::Tensor* DecoderModel::layer_weight_slot(const std::string& name) {
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    const std::string prefix = layer_prefix(l);
    if (name.rfind(prefix, 0) != 0) continue;
    DecoderLayer& layer = layers_[static_cast<size_t>(l)];
    if (name == prefix + "input_layernorm.weight") return &layer.input_norm;
    if (name == prefix + "post_attention_layernorm.weight") return &layer.post_attention_norm;
    if (name == prefix + "self_attn.q_norm.weight") return &layer.q_norm;
    if (name == prefix + "self_attn.k_norm.weight") return &layer.k_norm;
    Linear* linears[] = {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down};
    for (size_t i = 0; i < 7; ++i) {
      const std::string path = linear_module_path(l, kLinearModules[i]);
      if (name == path + ".weight") return &linears[i]->weight;
      if (name == path + ".bias") return &linears[i]->bias;
    }
  }
  ZT_THROW("no layer weight named '" << name << "'");
}

std::vector<std::pair<std::string, Linear*>> DecoderModel::lora_modules() {
  std::vector<std::pair<std::string, Linear*>> modules;
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    DecoderLayer& layer = layers_[static_cast<size_t>(l)];
    Linear* linears[] = {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down};
    for (size_t i = 0; i < 7; ++i)
      if (linears[i]->lora_a.defined()) modules.emplace_back(linear_module_path(l, kLinearModules[i]), linears[i]);
  }
  return modules;
}

std::vector<std::pair<std::string, at::Tensor>> DecoderModel::trainable_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add = [&](const std::string& name, const at::Tensor& tensor) {
    if (tensor.defined() && tensor.requires_grad()) out.emplace_back(name, tensor);
  };
  const bool peft = !options_.full_training;
  const std::string prefix = peft ? kPeftPrefix : "";
  add(prefix + "model.embed_tokens.weight", embed_tokens);
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    const DecoderLayer& layer = layers_[static_cast<size_t>(l)];
    add(layer_prefix(l) + "input_layernorm.weight", layer.input_norm);
    add(layer_prefix(l) + "post_attention_layernorm.weight", layer.post_attention_norm);
    add(layer_prefix(l) + "self_attn.q_norm.weight", layer.q_norm);
    add(layer_prefix(l) + "self_attn.k_norm.weight", layer.k_norm);
    const Linear* linears[] = {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down};
    for (size_t i = 0; i < 7; ++i) {
      const std::string path = prefix + linear_module_path(l, kLinearModules[i]);
      add(path + ".weight", linears[i]->weight);
      add(path + ".bias", linears[i]->bias);
      add(path + ".lora_A.weight", linears[i]->lora_a);
      add(path + ".lora_B.weight", linears[i]->lora_b);
    }
  }
  add(prefix + "model.norm.weight", final_norm);
  if (!config_.tie_word_embeddings) add(prefix + "lm_head.weight", lm_head);
  return out;
}

int64_t DecoderModel::held_bytes(bool trainable) const {
  int64_t bytes = 0;
  auto add = [&](const at::Tensor& tensor) {
    if (tensor.defined() && tensor.requires_grad() == trainable) bytes += static_cast<int64_t>(tensor.nbytes());
  };
  add(embed_tokens);
  add(final_norm);
  if (!config_.tie_word_embeddings) add(lm_head);
  for (const DecoderLayer& layer : layers_) {
    for (const at::Tensor* t : {&layer.input_norm, &layer.post_attention_norm, &layer.q_norm, &layer.k_norm}) add(*t);
    for (const Linear* linear : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down})
      for (const at::Tensor* t : {&linear->weight, &linear->bias, &linear->lora_a, &linear->lora_b}) add(*t);
  }
  return bytes;
}

void DecoderModel::load_adapter_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  at::NoGradGuard no_grad;
  for (auto& [path, linear] : lora_modules()) {
    for (auto [suffix, target] : {std::make_pair(".lora_A.weight", &linear->lora_a),
                                  std::make_pair(".lora_B.weight", &linear->lora_b)}) {
      const std::string name = kPeftPrefix + path + suffix;
      auto found = by_name.find(name);
      ZT_REQUIRE(found != by_name.end(), "adapter has no tensor '" << name << "'");
      ZT_REQUIRE(found->second.sizes() == target->sizes(), "adapter tensor '" << name << "' has shape "
                                                                              << found->second.sizes() << ", expected "
                                                                              << target->sizes());
      target->copy_(found->second);
    }
  }
}

}  // namespace zt::model
