#include "model/chunked_loss.h"

#include "core/torch_api.h"

#include "core/check.h"

namespace zt::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                               const at::Tensor& labels, int64_t chunk_tokens) {
    const int64_t tokens = hidden.size(0);
    const bool need_hidden = hidden.requires_grad(), need_weight = weight.requires_grad();
    at::Tensor grad_hidden = need_hidden ? at::zeros_like(hidden) : at::Tensor();
    at::Tensor grad_weight = need_weight ? at::zeros(weight.sizes(), weight.options().dtype(at::kFloat)) : at::Tensor();
    at::Tensor loss = at::zeros({}, hidden.options().dtype(at::kFloat));
    at::Tensor counts = at::zeros({2}, hidden.options().dtype(at::kLong));  // [label tokens, correct]
    for (int64_t start = 0; start < tokens; start += chunk_tokens) {
      const int64_t length = std::min(chunk_tokens, tokens - start);
      at::Tensor h = hidden.narrow(0, start, length);
      at::Tensor y = labels.narrow(0, start, length);
      at::Tensor valid = y != -100;
      at::Tensor safe = y.clamp_min(0).unsqueeze(1);
      at::Tensor logits = at::linear(h, weight).to(at::kFloat);  // [c, V]
      at::Tensor lse = at::logsumexp(logits, -1);
      at::Tensor picked = logits.gather(1, safe).squeeze(1);
      loss += ((lse - picked) * valid).sum();
      counts[0] += valid.sum();
      counts[1] += ((logits.argmax(-1) == y) & valid).sum();
      if (need_hidden || need_weight) {
        // d(sum CE)/d logits = softmax - one_hot, zero on ignored tokens.
        // In place: the logits are not needed any more, and a [chunk, vocab] fp32 copy is the largest
        // temporary of a training step.
        at::Tensor grad_logits = logits.sub_(lse.unsqueeze(1)).exp_();
        grad_logits.scatter_add_(1, safe, -at::ones_like(picked).unsqueeze(1));
        grad_logits.mul_(valid.unsqueeze(1));
        at::Tensor grad_cast = grad_logits.to(hidden.scalar_type());
        if (need_hidden) grad_hidden.narrow(0, start, length).copy_(at::matmul(grad_cast, weight));
        if (need_weight) grad_weight += at::matmul(grad_cast.t(), h).to(at::kFloat);
      }
    }
    ctx->save_for_backward({grad_hidden, grad_weight});
    ctx->saved_data["weight_dtype"] = static_cast<int64_t>(weight.scalar_type());
    ctx->mark_non_differentiable({counts});
    return {loss, counts};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& scale = grad_outputs[0];
    // The scale (fp16 training: the loss scale over the micro-batch's tokens) multiplies in fp32: cast to
    // fp16 first, 65536 itself would be infinite.
    at::Tensor grad_hidden =
        saved[0].defined() ? (saved[0].to(at::kFloat) * scale.to(at::kFloat)).to(saved[0].scalar_type()) : at::Tensor();
    at::Tensor grad_weight;
    if (saved[1].defined()) {
      auto dtype = static_cast<at::ScalarType>(ctx->saved_data["weight_dtype"].toInt());
      grad_weight = (saved[1] * scale).to(dtype);
    }
    return {grad_hidden, grad_weight, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

ChunkedLossResult chunked_cross_entropy(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                        int64_t chunk_tokens) {
  ZT_CHECK(hidden.dim() == 2 && labels.dim() == 1 && hidden.size(0) == labels.size(0),
           "chunked_cross_entropy: hidden [N, H] and labels [N] expected");
  ZT_CHECK(chunk_tokens > 0, "chunk_tokens must be positive");
  variable_list out = ChunkedCrossEntropy::apply(hidden, weight, labels, chunk_tokens);
  return {out[0], out[1]};
}

}  // namespace zt::model
