// The dense SwiGLU feed-forward block of Llama and Qwen: down(silu(gate(x)) * up(x)).
#pragma once

#include "model/block.h"

namespace zt::model {

class SwiGlu final : public FeedForward {
 public:
  SwiGlu(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
         const ModelConfig& config);
  BlockOutput forward(const at::Tensor& x, bool training) const override;

 private:
  const Linear* gate_;
  const Linear* up_;
  const Linear* down_;
};

}  // namespace zt::model
