#include "model/layer_checkpoint.h"

#include "core/torch_api.h"

#include <optional>

namespace zt::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Generator cpu_generator() { return at::globalContext().defaultGenerator(at::kCPU); }

// Sets a generator to a saved state for the lifetime of the object, then puts its own state back.
class RngReplay {
 public:
  RngReplay(at::Generator generator, const at::Tensor& saved) : generator_(std::move(generator)) {
    current_ = generator_.get_state();
    generator_.set_state(saved);
  }
  ~RngReplay() { generator_.set_state(current_); }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;

 private:
  at::Generator generator_;
  at::Tensor current_;
};

struct LayerHolder : torch::CustomClassHolder {
  LayerRun run;
};

class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, c10::intrusive_ptr<LayerHolder> layer) {
    // LoRA dropout seeds come from the CPU generator whatever the device; other random ops use the device's.
    ctx->saved_data["cpu_rng_state"] = cpu_generator().get_state();
    if (!input.device().is_cpu())
      ctx->saved_data["rng_state"] = at::globalContext().defaultGenerator(input.device()).get_state();
    ctx->saved_data["layer"] = c10::IValue::make_capsule(layer);
    ctx->save_for_backward({input});
    at::NoGradGuard no_grad;
    return layer->run(input);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    at::Tensor input = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto layer = c10::static_intrusive_pointer_cast<LayerHolder>(ctx->saved_data["layer"].toCapsule());
    RngReplay cpu(cpu_generator(), ctx->saved_data["cpu_rng_state"].toTensor());
    std::optional<RngReplay> device;
    if (!input.device().is_cpu())
      device.emplace(at::globalContext().defaultGenerator(input.device()), ctx->saved_data["rng_state"].toTensor());
    variable_list outputs;
    {
      at::AutoGradMode enable(true);
      outputs = layer->run(input);
    }
    // One output (no auxiliary term): the plain call. Gathering the roots into lists of their own kept
    // measurably more memory alive on the CPU (bench_model.py --against: 363 against 270 MiB peak).
    if (outputs.size() == 1) {
      torch::autograd::backward({outputs[0]}, {grad_outputs[0]});
    } else {
      // Only the outputs that carry a gradient (an auxiliary term with no graph behind it has none).
      variable_list roots, grads;
      for (size_t i = 0; i < outputs.size(); ++i) {
        if (!outputs[i].requires_grad() || !grad_outputs[i].defined()) continue;
        roots.push_back(outputs[i]);
        grads.push_back(grad_outputs[i]);
      }
      if (!roots.empty()) torch::autograd::backward(roots, grads);
    }
    return {input.grad(), at::Tensor()};
  }
};

}  // namespace

std::vector<at::Tensor> checkpoint_layer(LayerRun layer, const at::Tensor& input) {
  auto holder = c10::make_intrusive<LayerHolder>();
  holder->run = std::move(layer);
  return CheckpointedLayer::apply(input, holder);
}

}  // namespace zt::model
