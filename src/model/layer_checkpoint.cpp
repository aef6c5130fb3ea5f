#include "model/layer_checkpoint.h"

#include <torch/torch.h>

namespace zt::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LayerHolder : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> run;
};

class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, c10::intrusive_ptr<LayerHolder> layer) {
    at::Generator generator = at::globalContext().defaultGenerator(input.device());
    ctx->saved_data["rng_state"] = generator.get_state();
    ctx->saved_data["layer"] = c10::IValue::make_capsule(layer);
    ctx->save_for_backward({input});
    at::NoGradGuard no_grad;
    return layer->run(input);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    at::Tensor input = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto layer = c10::static_intrusive_pointer_cast<LayerHolder>(ctx->saved_data["layer"].toCapsule());
    at::Generator generator = at::globalContext().defaultGenerator(input.device());
    at::Tensor current_state = generator.get_state();
    generator.set_state(ctx->saved_data["rng_state"].toTensor());
    at::Tensor output;
    {
      at::AutoGradMode enable(true);
      output = layer->run(input);
    }
    generator.set_state(current_state);
    torch::autograd::backward({output}, {grad_outputs[0]});
    return {input.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpoint_layer(std::function<at::Tensor(const at::Tensor&)> layer, const at::Tensor& input) {
  auto holder = c10::make_intrusive<LayerHolder>();
  holder->run = std::move(layer);
  return CheckpointedLayer::apply(input, holder);
}

}  // namespace zt::model
