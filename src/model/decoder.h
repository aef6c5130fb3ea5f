// The decoder-only transformer with LoRA, in libtorch: embedding, layers (each a token mixer and a
// feed-forward block of the kinds its family's schema plans, model/block.h), final norm and head.
//
// Weights keep their Hugging Face names and layout. Base weights are frozen (unless training in full);
// LoRA A/B matrices are the trainable leaves, named as PEFT names them. Attention never crosses a sample
// boundary of a packed row: the samples' offsets come with the row (AttentionLayout, from packing's cu_seqlens).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/attention.h"
#include "model/block.h"
#include "model/ffn/moe.h"
#include "model/config.h"
#include "model/family/schema.h"
#include "model/linear.h"
#include "model/lora/lora_config.h"

namespace zt::st {
class Checkpoint;
}

namespace zt::model {

struct ModelOptions {
  at::ScalarType dtype = at::kFloat;     // weights and activations
  at::Device device = at::kCPU;
  bool full_training = false;            // --train_type full: every weight trainable, no LoRA
  std::optional<LoraConfig> lora;        // none: no adapters
  std::vector<std::string> modules_to_save;  // embed_tokens, lm_head: trained in full beside LoRA
  bool gradient_checkpointing = false;
  std::string attn_impl = "sdpa";        // sdpa | eager | flash_attn (sdpa's flash kernel on CUDA)
  // Keep only the weights this returns true for (ZeRO-3 partitions); others stay undefined.
  std::function<bool(const std::string&)> keep_weight;
  // Expert parallelism: load share `expert_shard` of `expert_shards` equal shares of every mixture of experts'
  // experts (and their adapters); DecoderModel::set_expert_exchange then connects the group.
  int expert_shards = 1;
  int expert_shard = 0;
};

// A decoder layer: x + mixer(norm(x)), then h + feed_forward(norm(h)) (model/block.h).
struct DecoderLayer {
  LayerSpec spec;
  at::Tensor mixer_norm, feed_forward_norm;  // [H]
  std::unique_ptr<TokenMixer> mixer;
  std::unique_ptr<FeedForward> feed_forward;
};

// A forward's final hidden states [B, T, H] and, for a mixture of experts, its routers' load summed over the
// sparse layers ([2, E], BlockOutput::router_load; undefined for a dense model) and the rows that load covers
// (tokens times sparse layers).
struct ForwardOutput {
  at::Tensor hidden;
  at::Tensor router_load;
  double router_rows = 0;
  // transformers' load-balancing loss over this forward (model/ffn/moe.h); undefined for a dense model.
  at::Tensor load_balancing_loss() const;
};

AttentionLayout layout_from_positions(const at::Tensor& position_ids);
// The same for one row [1, T] from its positions on the host, so that a forward on the GPU never
// reads a device tensor back to find its samples.
AttentionLayout layout_from_positions(const std::vector<int32_t>& position_ids);

// Stays on the model's device: reading it back waits for the GPU, so the trainer does that once per
// optimizer step.
struct LossOutput {
  at::Tensor loss_sum;  // scalar, differentiable: sum of token cross-entropies
  at::Tensor counts;    // int64 [2]: label tokens counted, argmax == label (token accuracy)
  int64_t num_tokens() const;   // read back (waits for the device)
  int64_t num_correct() const;
};

class DecoderModel {
 public:
  // Loads config.json and the safetensors weights of `model_dir`. Missing, unexpected or misshapen
  // weights are a zt::Error naming the tensor.
  static DecoderModel load(const std::string& model_dir, const ModelOptions& options);
  // The same from the folder's config and weights already read (a run reads each file once).
  static DecoderModel load(const std::string& model_dir, const ModelConfig& config, const st::Checkpoint& weights,
                           const ModelOptions& options);

  // [B, T] ids and position ids (restarting at 0 per packed sample) -> final hidden states [B, T, H].
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training) const;
  // The same with the attention layout given (layout_from_positions of the host row).
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                           const AttentionLayout& layout) const;
  // The same with the blocks' auxiliary loss terms beside the hidden states.
  ForwardOutput forward(const at::Tensor& input_ids, const at::Tensor& position_ids, bool training,
                        const AttentionLayout& layout) const;
  // Inference with a cache: runs `input_ids` [B, t] at `position_ids` [B, t] after what `cache` holds,
  // with `attention_mask` [B, 1, t, cache + t] (true = may attend), adds them to every mixer's state, and
  // returns the final hidden states [B, t, H].
  at::Tensor forward_cached(const at::Tensor& input_ids, const at::Tensor& position_ids,
                            const at::Tensor& attention_mask, GenerationCache& cache) const;
  // Folds every LoRA update into its base weight (W += B A * scaling, in fp32, then cast) and drops the
  // adapters; the model then computes what it computed with them.
  void merge_lora();
  // Full logits [B, T, V] (inference and tests; training uses loss()).
  at::Tensor logits(const at::Tensor& hidden) const;
  // Cross-entropy of hidden [B, T, H] against unshifted labels [B, T] (-100: ignored), computed over
  // chunks of tokens so the [tokens, vocab] logits never exist at once.
  LossOutput loss(const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk_tokens = 1024) const;

  // Trainable tensors with PEFT names (base_model.model.<hf path>.lora_A.weight, ...) or HF names (full).
  std::vector<std::pair<std::string, at::Tensor>> trainable_parameters() const;
  // Bytes of the tensors the model holds now that do (`trainable`) or do not require a gradient (a tied head
  // counted once; ZeRO-3's dropped layer weights count 0).
  int64_t held_bytes(bool trainable) const;
  // Sets LoRA weights from a PEFT adapter file's tensors (names as PEFT writes them).
  void load_adapter_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors);
  // Every LoRA (A, B) pair with its module path, for initialisation and merging.
  std::vector<std::pair<std::string, Linear*>> lora_modules();
  // The layers' parameter specs (model/family/schema.h), as the family planned them.
  const LayerSpec& layer_spec(size_t layer) const { return layers_[layer].spec; }

  // ZeRO-3: layer weights that are not resident are brought in by `acquire` before a layer runs (forward,
  // or its recompute during backward when `backward` is true) and dropped by `release` after it ran.
  struct LayerHooks {
    std::function<void(size_t layer, bool backward)> acquire;
    std::function<void(size_t layer)> release;
  };
  void set_layer_hooks(LayerHooks hooks) { hooks_ = std::move(hooks); }
  // Expert parallelism: the group whose ranks hold the other experts (ModelOptions::expert_shards of them).
  void set_expert_exchange(std::shared_ptr<ExpertExchange> exchange);
  // The slot holding a layer weight by its Hugging Face name (model.layers.N....), for the hooks.
  at::Tensor* layer_weight_slot(const std::string& name);

  const ModelConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }

 private:
  // One layer's output and auxiliary loss; `cache` only for inference with a cache.
  BlockOutput layer_forward(const DecoderLayer& layer, const at::Tensor& x, const MixerContext& context,
                            const CacheStep* cache = nullptr) const;
  ModelConfig config_;
  ModelOptions options_;
  PackedKernel packed_kernel_ = PackedKernel::kPerSample;  // attention over packed samples (attention.h)
  at::Tensor embed_tokens;  // [V, H]
  at::Tensor final_norm;    // [H]
  at::Tensor lm_head;       // [V, H]; the embedding when tied
  std::vector<DecoderLayer> layers_;
  LayerHooks hooks_;
  std::unordered_map<std::string, at::Tensor*> slots_;  // layer_weight_slot's index
};

}  // namespace zt::model
