// Cross-entropy through the output head without ever holding [tokens, vocab] logits for all tokens:
// the forward pass walks chunks of tokens, computing each chunk's logits, loss and its gradient with
// respect to the hidden states (and the head, when trainable) at once; backward only scales them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace zt::model {

struct ChunkedLossResult {
  at::Tensor loss_sum;  // scalar fp32, differentiable with respect to hidden and weight
  at::Tensor counts;    // int64 [2] beside it: label tokens, correct argmax predictions
};

// hidden [N, H], weight [V, H], labels [N] (-100 ignored). Logits are computed in the weights' dtype and
// the softmax in fp32, as transformers does.
ChunkedLossResult chunked_cross_entropy(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                        int64_t chunk_tokens);

}  // namespace zt::model
