#include "model/block.h"

#include "core/check.h"
#include "model/ffn/moe.h"
#include "model/ffn/swiglu.h"
#include "model/mixer/attention_mixer.h"
#include "model/mixer/gated_attention.h"
#include "model/mixer/gated_deltanet.h"

namespace zt::model {

Block::Block(BlockSpec spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears)
    : spec_(std::move(spec)), vectors_(std::move(vectors)), linears_(std::move(linears)) {
  ZT_CHECK(vectors_.size() == spec_.vectors.size() && linears_.size() == spec_.linears.size(),
           "block '" << spec_.path << "': parameters do not match its spec");
}

const Linear& Block::linear(Role role) const {
  for (size_t i = 0; i < linears_.size(); ++i)
    if (spec_.linears[i].role == role) return linears_[i];
  ZT_CHECK(false, "block '" << spec_.path << "' has no " << role_name(role) << " projection");
  return linears_.front();
}

const at::Tensor& Block::vector(Role role) const {
  static const at::Tensor none;
  for (size_t i = 0; i < vectors_.size(); ++i)
    if (spec_.vectors[i].role == role) return vectors_[i];
  return none;
}

std::unique_ptr<TokenMixer> make_mixer(const MixerSpec& spec, std::vector<at::Tensor> vectors,
                                       std::vector<Linear> linears, const ModelConfig& config,
                                       const MixerOptions& options) {
  switch (spec.kind) {
    case MixerKind::kAttention:
      return std::make_unique<AttentionMixer>(spec, std::move(vectors), std::move(linears), config, options);
    case MixerKind::kGatedAttention:
      return std::make_unique<GatedAttentionMixer>(spec, std::move(vectors), std::move(linears), config, options);
    case MixerKind::kGatedDeltaNet:
      return std::make_unique<GatedDeltaNetMixer>(spec, std::move(vectors), std::move(linears), config);
  }
  ZT_CHECK(false, "unknown mixer kind");
  return nullptr;
}

std::unique_ptr<FeedForward> make_feed_forward(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors,
                                               std::vector<Linear> linears, const ModelConfig& config) {
  switch (spec.kind) {
    case FeedForwardKind::kSwiGlu:
      return std::make_unique<SwiGlu>(spec, std::move(vectors), std::move(linears), config);
    case FeedForwardKind::kMoe:
      return std::make_unique<MixtureOfExperts>(spec, std::move(vectors), std::move(linears), config);
  }
  ZT_CHECK(false, "unknown feed-forward kind");
  return nullptr;
}

}  // namespace zt::model
