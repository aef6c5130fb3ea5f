// The two halves of a decoder layer as interfaces: a token mixer (attention today; later gated attention and
// Gated DeltaNet) and a feed-forward block (SwiGLU today; later a mixture of experts). A block holds the
// parameters its spec lists (model/family/schema.h), in the spec's order, and reads them by role. The decoder
// loads, names, checkpoints and partitions parameters through this generic view only; the kinds compute.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/family/schema.h"
#include "model/linear.h"

namespace zt::model {

class Block {
 public:
  Block(BlockSpec spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears);
  virtual ~Block() = default;
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  const BlockSpec& spec() const { return spec_; }
  // The parameters, parallel to spec().vectors and spec().linears.
  std::vector<at::Tensor>& vectors() { return vectors_; }
  const std::vector<at::Tensor>& vectors() const { return vectors_; }
  std::vector<Linear>& linears() { return linears_; }
  const std::vector<Linear>& linears() const { return linears_; }

 protected:
  // The parameter with `role`; a linear the spec lacks is a bug (ZT_CHECK), a vector it lacks is undefined.
  const Linear& linear(Role role) const;
  const at::Tensor& vector(Role role) const;

 private:
  BlockSpec spec_;
  std::vector<at::Tensor> vectors_;
  std::vector<Linear> linears_;
};

// A mixer's state across generation steps (attention: its keys and values). Owned by GenerationCache, made by
// the mixer (TokenMixer::new_state).
struct MixerState {
  virtual ~MixerState() = default;
};

// What one inference forward with a cache gives a mixer: its state, where the new tokens start, and how many
// tokens the state should be sized for (0: what this forward brings).
struct CacheStep {
  MixerState* state = nullptr;
  int64_t start = 0;
  int64_t capacity = 0;
};

// Every layer's state for generation: the mixers' own, made on the first cached forward.
struct GenerationCache {
  std::vector<std::unique_ptr<MixerState>> layers;
  int64_t capacity = 0;  // tokens to size states for (the prompt plus the tokens to generate); 0: as they come
  int64_t filled = 0;    // tokens seen
  int64_t length() const { return filled; }
};
using KvCache = GenerationCache;

// What a mixer needs besides its input: RoPE tables, which tokens see which, training or not.
struct MixerContext {
  const at::Tensor& cos;
  const at::Tensor& sin;
  const AttentionLayout& layout;
  bool training = false;
};

class TokenMixer : public Block {
 public:
  using Block::Block;
  // x [B, T, H] (normed) -> [B, T, H]. With `cache`, the tokens follow what the state holds and are added to it.
  virtual at::Tensor forward(const at::Tensor& x, const MixerContext& context, const CacheStep* cache) const = 0;
  virtual std::unique_ptr<MixerState> new_state() const = 0;
};

// A block's output and, for a mixture of experts, its router's load over the block's tokens: [2, E] fp32, the
// top-k assignments per expert and the router probabilities summed per expert (undefined: no router). The decoder
// sums the loads of its layers into transformers' load-balancing loss (model/ffn/moe.h).
struct BlockOutput {
  at::Tensor hidden;
  at::Tensor router_load;
};

class FeedForward : public Block {
 public:
  using Block::Block;
  // x [B, T, H] (normed) -> [B, T, H].
  virtual BlockOutput forward(const at::Tensor& x, bool training) const = 0;
};

// How the model runs attention, for the mixers that attend.
struct MixerOptions {
  std::string attn_impl = "sdpa";
  PackedKernel packed_kernel = PackedKernel::kPerSample;
};

// The block of `spec`'s kind over the loaded parameters (model/blocks.cpp: the one switch over kinds).
std::unique_ptr<TokenMixer> make_mixer(const MixerSpec& spec, std::vector<at::Tensor> vectors,
                                       std::vector<Linear> linears, const ModelConfig& config,
                                       const MixerOptions& options);
std::unique_ptr<FeedForward> make_feed_forward(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors,
                                               std::vector<Linear> linears, const ModelConfig& config);

}  // namespace zt::model
