#include "model/ffn/swiglu.h"

#include "core/torch_api.h"

namespace zt::model {

SwiGlu::SwiGlu(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
               const ModelConfig&)
    : FeedForward(spec, std::move(vectors), std::move(linears)),
      gate_(&linear(Role::kGate)), up_(&linear(Role::kUp)), down_(&linear(Role::kDown)) {}

BlockOutput SwiGlu::forward(const at::Tensor& x, bool training) const {
  return {linear_forward(*down_, at::silu(linear_forward(*gate_, x, training)) * linear_forward(*up_, x, training),
                         training),
          at::Tensor()};
}

}  // namespace zt::model
