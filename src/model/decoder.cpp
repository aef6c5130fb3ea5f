#include "model/decoder.h"

#include "core/torch_api.h"

#include <cmath>
#include <set>

#include "core/check.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/safetensors_torch.h"
#include "model/chunked_loss.h"
#include "model/family/family.h"
#include "model/ffn/moe.h"
#include "model/layer_checkpoint.h"
#include "model/lora/lora_linear.h"
#include "model/weight_names.h"

namespace zt::model {



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

at::Tensor ForwardOutput::load_balancing_loss() const {
  return router_load.defined() ? model::load_balancing_loss(router_load, router_rows) : at::Tensor();
}

int64_t LossOutput::num_tokens() const { return counts[0].item<int64_t>(); }
int64_t LossOutput::num_correct() const { return counts[1].item<int64_t>(); }


namespace {

// Every parameter of layer `l` under its Hugging Face name, in the order trainable_parameters() and the tensor
// plan (model/tensor_plan.cpp) give them: the layer's two norms, each block's vectors, each block's linears
// (weight, bias, then LoRA A and B as <module>.lora_A.weight). `visit(name, tensor)` sees undefined tensors
// too (a bias a linear lacks, a dropped ZeRO-3 weight).
template <class Visit>
void visit_layer(DecoderLayer& layer, int64_t l, bool with_lora, Visit&& visit) {
  const std::string prefix = layer_prefix(l);
  visit(prefix + layer.spec.mixer_norm + ".weight", layer.mixer_norm);
  visit(prefix + layer.spec.feed_forward_norm + ".weight", layer.feed_forward_norm);
  Block* blocks[] = {layer.mixer.get(), layer.feed_forward.get()};
  for (Block* block : blocks)
    for (size_t i = 0; i < block->vectors().size(); ++i)
      visit(block->spec().vectors[i].weight_name(module_path(l, block->spec().path, block->spec().vectors[i].name)),
            block->vectors()[i]);
  for (Block* block : blocks) {
    for (size_t i = 0; i < block->linears().size(); ++i) {
      Linear& linear = block->linears()[i];
      const LinearSpec& spec = block->spec().linears[i];
      const std::string path = module_path(l, block->spec().path, spec.name);
      visit(spec.weight_name(path), linear.weight);
      visit(path + ".bias", linear.bias);
      if (!with_lora || linear.adapter_path.empty()) continue;
      visit(linear.adapter_path + ".lora_A.weight", linear.lora_a);
      visit(linear.adapter_path + ".lora_B.weight", linear.lora_b);
    }
  }
}

}  // namespace

at::Tensor lora_delta(const Linear& linear) {
  const at::Tensor a = linear.lora_a.to(at::kFloat), b = linear.lora_b.to(at::kFloat);
  if (linear.weight.dim() == 2) return at::matmul(b, a) * linear.scaling;
  // Stacked experts (PEFT's layout, model/ffn/moe.h): expert e's A rows at e * r, its B columns at j * E + e.
  const int64_t E = linear.weight.size(0), rank = a.size(0) / E;
  return at::bmm(b.view({b.size(0), rank, E}).permute({2, 0, 1}), a.view({E, rank, a.size(1)})) * linear.scaling;
}

BlockOutput DecoderModel::layer_forward(const DecoderLayer& layer, const at::Tensor& x, const MixerContext& context,
                                        const CacheStep* cache) const {
  at::Tensor h = x + layer.mixer->forward(decoder_rms_norm(x, layer.mixer_norm, config_), context, cache);
  BlockOutput ff = layer.feed_forward->forward(decoder_rms_norm(h, layer.feed_forward_norm, config_), context.training);
  return {h + ff.hidden, ff.router_load};
}

at::Tensor DecoderModel::hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                       bool training) const {
  return hidden_states(input_ids, position_ids, training, layout_from_positions(position_ids));
}

at::Tensor DecoderModel::hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                                       const AttentionLayout& layout) const {
  return forward(input_ids, position_ids, training, layout).hidden;
}

ForwardOutput DecoderModel::forward(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                                    const AttentionLayout& layout) const {
  ZT_CHECK(input_ids.dim() == 2 && position_ids.sizes() == input_ids.sizes(),
           "input_ids and position_ids must both be [B, T]");
  ZT_CHECK(layout.mask.defined() || static_cast<int64_t>(layout.segments.size()) == input_ids.size(0),
           "the attention layout describes " << layout.segments.size() << " rows, the batch has " << input_ids.size(0));
  if (packed_kernel_ == PackedKernel::kFlashVarlen && !layout.single_segment && !layout.cu_seqlens.defined()) {
    AttentionLayout prepared = layout;  // the cumulative lengths go to the device once, not per layer
    prepare_varlen(prepared, input_ids.device(), input_ids.size(1));
    return forward(input_ids, position_ids, training, prepared);
  }
  at::Tensor x = at::embedding(embed_tokens, input_ids);  // [B, T, H]
  auto [cos, sin] = rope_tables(position_ids, config_, x.scalar_type());
  const bool checkpoint = options_.gradient_checkpointing && training && at::GradMode::is_enabled();
  // A checkpointed layer only runs backward when its input needs a gradient; the embedding output of a
  // frozen model does not, so it is made to (as PEFT's enable_input_require_grads does).
  if (checkpoint && !x.requires_grad()) x = x.detach().requires_grad_(true);
  ForwardOutput result;
  const double tokens = static_cast<double>(input_ids.numel());
  for (size_t l = 0; l < layers_.size(); ++l) {
    // Under checkpointing the first run is without grad and the recompute (in backward) with it.
    auto run = [this, l, cos, sin, layout, checkpoint, training](const at::Tensor& input) {
      if (hooks_.acquire) hooks_.acquire(l, checkpoint && at::GradMode::is_enabled());
      BlockOutput out = layer_forward(layers_[l], input, MixerContext{cos, sin, layout, training});
      if (hooks_.release) hooks_.release(l);
      return out.router_load.defined() ? std::vector<at::Tensor>{out.hidden, out.router_load}
                                       : std::vector<at::Tensor>{out.hidden};
    };
    std::vector<at::Tensor> out = checkpoint ? checkpoint_layer(run, x) : run(x);
    x = out[0];
    if (out.size() > 1) {
      result.router_load = result.router_load.defined() ? result.router_load + out[1] : out[1];
      result.router_rows += tokens;
    }
  }
  result.hidden = decoder_rms_norm(x, final_norm, config_);
  return result;
}

at::Tensor DecoderModel::forward_cached(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                        const at::Tensor& attention_mask, GenerationCache& cache) const {
  if (cache.layers.empty())
    for (const DecoderLayer& layer : layers_) cache.layers.push_back(layer.mixer->new_state());
  ZT_CHECK(attention_mask.size(-1) == cache.filled + input_ids.size(1),
           "forward_cached: the mask covers " << attention_mask.size(-1) << " keys, the cache will hold "
                                              << cache.filled + input_ids.size(1));
  at::Tensor x = at::embedding(embed_tokens, input_ids);
  auto [cos, sin] = rope_tables(position_ids, config_, x.scalar_type());
  AttentionLayout layout;
  layout.mask = attention_mask;
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (hooks_.acquire) hooks_.acquire(l, false);
    const CacheStep step{cache.layers[l].get(), cache.filled, cache.capacity};
    x = layer_forward(layers_[l], x, MixerContext{cos, sin, layout, false}, &step).hidden;
    if (hooks_.release) hooks_.release(l);
  }
  cache.filled += input_ids.size(1);
  return decoder_rms_norm(x, final_norm, config_);
}

void DecoderModel::merge_lora() {
  ZT_CHECK(options_.expert_shards <= 1, "merge_lora under expert parallelism: the experts are split across ranks");
  at::NoGradGuard no_grad;
  for (auto& [path, linear] : lora_modules()) {
    at::Tensor delta = lora_delta(*linear);
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
  return load(model_dir, read_model_config(model_dir), st::Checkpoint::open(model_dir), options);
}

DecoderModel DecoderModel::load(const std::string& model_dir, const ModelConfig& model_config,
                                const st::Checkpoint& weights, const ModelOptions& options) {
  // flash_attn runs through scaled_dot_product_attention per packed sample, whose CUDA backend is the flash
  // kernel for bf16/fp16 (the varlen layout comes from running each segment separately).
  ZT_REQUIRE(options.attn_impl == "sdpa" || options.attn_impl == "eager" || options.attn_impl == "flash_attn" ||
                 options.attn_impl == "flash_attention_2",
             "--attn_impl '" << options.attn_impl << "' is not one of sdpa, eager, flash_attn");
  if (options.lora.has_value() && !options.full_training) {
    // The targets as ms-swift and PEFT resolve them for the family (expert names become target_parameters).
    LoraConfig resolved = resolve_lora_targets(*options.lora, model_config);
    if (resolved.target_modules != options.lora->target_modules ||
        resolved.target_parameters != options.lora->target_parameters) {
      ModelOptions with_resolved = options;
      with_resolved.lora = std::move(resolved);
      return load(model_dir, model_config, weights, with_resolved);
    }
  }
  DecoderModel model;
  model.config_ = model_config;
  model.options_ = options;
  model.packed_kernel_ = packed_kernel_for(options.device, options.dtype, model.config_.head_dim);
  if (options.device.is_cuda() && options.attn_impl != "eager")
    ZT_LOG_INFO("packed samples attend through " << packed_kernel_name(model.packed_kernel_) << " ("
                                                 << c10::toString(options.dtype) << " on " << options.device << ")");
  const ModelConfig& config = model.config_;
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
  const int64_t H = config.hidden_size;
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
  // Stacked experts from the folder: one tensor under transformers' in-memory name, or (as the hub and
  // save_pretrained store them) one per expert and part, concatenated along out and stacked. Under expert
  // parallelism only this rank's share of the experts is read.
  const int shards = std::max(1, options.expert_shards);
  auto fetch_stacked = [&](const std::string& path, const LinearSpec& spec) -> at::Tensor {
    ZT_REQUIRE(spec.experts % shards == 0, "--expert_model_parallel_size " << shards << " does not divide num_experts "
                                                                          << spec.experts << " of " << model_dir);
    const int64_t local = spec.experts / shards, first = options.expert_shard * local;
    std::vector<int64_t> shape = spec.shape();
    shape[0] = local;
    const std::string name = spec.weight_name(path);
    const auto tensor_options = at::TensorOptions().dtype(options.dtype).device(options.device);
    if (weights.contains(name)) {
      used.insert(name);
      auto [file, info] = weights.locate(name);
      ZT_REQUIRE(info->shape == spec.shape(), model_dir << ": weight '" << name << "' has shape "
                                                         << at::IntArrayRef(info->shape) << ", expected "
                                                         << at::IntArrayRef(spec.shape()));
      if (!keep(name)) return at::Tensor();
      at::Tensor stacked = st::to_tensor(file, *info).narrow(0, first, local).to(tensor_options, false, true);
      stacked.set_requires_grad(options.full_training);
      return stacked;
    }
    const int64_t part_out = spec.out / static_cast<int64_t>(spec.parts.size());
    std::vector<std::pair<std::shared_ptr<const st::File>, const st::TensorInfo*>> pieces;
    for (int64_t e = 0; e < spec.experts; ++e)
      for (const std::string& part : spec.parts) {
        const std::string piece = spec.piece_name(path, e, part);
        ZT_REQUIRE(weights.contains(piece), model_dir << ": weight '" << piece << "' is missing (" << config.architecture_name
                                                      << " has " << spec.experts << " experts per layer, num_experts in "
                                                      << "config.json; they are stored per expert, or stacked as '"
                                                      << name << "')");
        used.insert(piece);
        auto [file, info] = weights.locate(piece);
        ZT_REQUIRE(info->shape == std::vector<int64_t>({part_out, spec.in}),
                   model_dir << ": weight '" << piece << "' has shape " << at::IntArrayRef(info->shape) << ", expected "
                             << at::IntArrayRef(std::vector<int64_t>{part_out, spec.in}));
        if (e >= first && e < first + local) pieces.emplace_back(file, info);
      }
    if (!keep(name)) return at::Tensor();
    at::Tensor stacked = at::empty(shape, tensor_options);
    size_t next = 0;
    for (int64_t e = 0; e < local; ++e)
      for (size_t p = 0; p < spec.parts.size(); ++p, ++next)
        stacked.select(0, e).narrow(0, static_cast<int64_t>(p) * part_out, part_out)
            .copy_(st::to_tensor(pieces[next].first, *pieces[next].second));
    stacked.set_requires_grad(options.full_training);
    return stacked;
  };
  auto linear = [&](int64_t layer, const BlockSpec& block, size_t index) {
    const LinearSpec& spec = block.linears[index];
    const std::string path = module_path(layer, block.path, spec.name);
    const int64_t out = spec.out, in = spec.in;
    Linear result;
    result.weight = spec.stacked() ? fetch_stacked(path, spec) : fetch(path + ".weight", {out, in}, options.full_training);
    if (spec.bias) result.bias = fetch(path + ".bias", {out}, options.full_training);
    if (options.lora.has_value() && !options.full_training) result.adapter_path = lora_path(block, index, layer, *options.lora);
    if (!result.adapter_path.empty()) {
      const LoraConfig& lora = *options.lora;
      const std::string key = spec.adapter_key(path);
      ZT_REQUIRE(!spec.parameter() || lora.dropout == 0,
                 "--lora_dropout " << lora.dropout << " with '" << key << "' adapted as a parameter: PEFT adapts stacked "
                                   "experts and routers without dropout (its ParamWrapper refuses it, and so does "
                                   "ms-swift); pass --lora_dropout 0, or leave the experts out of --target_modules");
      const int64_t rank = adapter_rank(spec, path, lora);
      // PEFT keeps adapters of a bf16/fp16 model in fp32.
      auto lora_options = at::TensorOptions().dtype(at::kFloat).device(options.device);
      result.lora_a = at::empty({rank, in}, lora_options);
      // kaiming_uniform_(a=sqrt(5)) on [r, in]: bound = 1 / sqrt(in).
      double bound = 1.0 / std::sqrt(static_cast<double>(in));
      {
        at::NoGradGuard no_grad;
        result.lora_a.uniform_(-bound, bound);
      }
      // Under expert parallelism the adapters stay whole (every rank the same, as in one process); a rank
      // computes with its experts' rows of A and columns of B, and the others' gradients are zero here
      // (MixtureOfExperts::local_adapter), so the data-parallel reduction assembles every expert's gradient.
      result.lora_b = at::zeros({out, rank}, lora_options);
      result.lora_a.set_requires_grad(true);
      result.lora_b.set_requires_grad(true);
      result.scaling = lora.scaling_at(key);
      result.dropout = lora.dropout;
    }
    return result;
  };
  // In the order of visit_layer: norms, every block's vectors, then every block's linears.
  auto vectors = [&](int64_t layer, const BlockSpec& block) {
    std::vector<at::Tensor> out;
    for (const VectorSpec& spec : block.vectors)
      out.push_back(fetch(spec.weight_name(module_path(layer, block.path, spec.name)), spec.shape(), options.full_training));
    return out;
  };
  auto linears = [&](int64_t layer, const BlockSpec& block) {
    std::vector<Linear> out;
    for (size_t i = 0; i < block.linears.size(); ++i) out.push_back(linear(layer, block, i));
    return out;
  };
  const MixerOptions mixer_options{options.attn_impl, model.packed_kernel_};
  std::vector<LayerSpec> plan = layer_plan(config);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    DecoderLayer layer;
    layer.spec = std::move(plan[static_cast<size_t>(l)]);
    const std::string prefix = layer_prefix(l);
    layer.mixer_norm = fetch(prefix + layer.spec.mixer_norm + ".weight", {H}, options.full_training);
    layer.feed_forward_norm = fetch(prefix + layer.spec.feed_forward_norm + ".weight", {H}, options.full_training);
    std::vector<at::Tensor> mixer_vectors = vectors(l, layer.spec.mixer);
    std::vector<at::Tensor> ff_vectors = vectors(l, layer.spec.feed_forward);
    std::vector<Linear> mixer_linears = linears(l, layer.spec.mixer);
    std::vector<Linear> ff_linears = linears(l, layer.spec.feed_forward);
    layer.mixer = make_mixer(layer.spec.mixer, std::move(mixer_vectors), std::move(mixer_linears), config, mixer_options);
    layer.feed_forward = make_feed_forward(layer.spec.feed_forward, std::move(ff_vectors), std::move(ff_linears), config);
    model.layers_.push_back(std::move(layer));
  }
  for (const std::string& name : weights.names())
    ZT_REQUIRE(used.count(name) > 0, model_dir << ": unexpected weight '" << name << "' for "
                                               << config.architecture_name << " (wrong config.json?)");
  return model;
}

void DecoderModel::set_expert_exchange(std::shared_ptr<ExpertExchange> exchange) {
  ZT_CHECK(exchange == nullptr || exchange->size() == std::max(1, options_.expert_shards),
           "the expert group has " << exchange->size() << " ranks, the model was loaded as " << options_.expert_shards
                                   << " shares");
  for (DecoderLayer& layer : layers_)
    if (auto* moe = dynamic_cast<MixtureOfExperts*>(layer.feed_forward.get())) moe->set_expert_exchange(exchange);
}

at::Tensor* DecoderModel::layer_weight_slot(const std::string& name) {
  if (slots_.empty())  // made once: the slots' addresses stay put (layers are never added after load)
    for (size_t l = 0; l < layers_.size(); ++l)
      visit_layer(layers_[l], static_cast<int64_t>(l), false,
                  [&](const std::string& hf_name, at::Tensor& tensor) { slots_.emplace(hf_name, &tensor); });
  auto found = slots_.find(name);
  ZT_REQUIRE(found != slots_.end(), "no layer weight named '" << name << "'");
  return found->second;
}

std::vector<std::pair<std::string, Linear*>> DecoderModel::lora_modules() {
  std::vector<std::pair<std::string, Linear*>> modules;
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    DecoderLayer& layer = layers_[static_cast<size_t>(l)];
    for (Block* block : {static_cast<Block*>(layer.mixer.get()), static_cast<Block*>(layer.feed_forward.get())})
      for (size_t i = 0; i < block->linears().size(); ++i)
        if (block->linears()[i].lora_a.defined()) modules.emplace_back(block->linears()[i].adapter_path, &block->linears()[i]);
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
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l)
    visit_layer(const_cast<DecoderLayer&>(layers_[static_cast<size_t>(l)]), l, true,
                [&](const std::string& name, const at::Tensor& tensor) { add(prefix + name, tensor); });
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
  for (size_t l = 0; l < layers_.size(); ++l)
    visit_layer(const_cast<DecoderLayer&>(layers_[l]), static_cast<int64_t>(l), true,
                [&](const std::string&, const at::Tensor& tensor) { add(tensor); });
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
