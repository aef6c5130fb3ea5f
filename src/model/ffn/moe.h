// A mixture of SwiGLU experts (Qwen2-MoE, Qwen3-MoE; later Qwen3.5-MoE, GLM-4.5, DeepSeek-V3): a router picks
// each token's top-k experts (softmax in fp32, ties as torch.topk, renormalised when norm_topk_prob), the
// tokens are sorted by expert and each expert's rows multiplied in one grouped product, the expert outputs
// weighted by their routing probability and added back per token. Routing is dropless: every token reaches
// all of its top-k experts. A shared expert, when the spec has one, adds sigmoid(shared_expert_gate(x)) times
// its SwiGLU output.
#pragma once

#include "model/block.h"

namespace zt::model {

// Expert parallelism's view of the ranks of one expert group (dist/ never enters model/: train/ adapts its
// communicator to this). Rank p of a group of N holds experts [p E / N, (p + 1) E / N) of every sparse layer.
class ExpertExchange {
 public:
  virtual ~ExpertExchange() = default;
  virtual int size() const = 0;
  virtual int rank() const = 0;
  // Every rank's pieces for every rank, as Communicator::all_to_all (flat buffers, element counts); blocking.
  virtual void all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                          const std::vector<int64_t>& recv_counts) = 0;
};

class MixtureOfExperts final : public FeedForward {
 public:
  MixtureOfExperts(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors, std::vector<Linear> linears,
                   const ModelConfig& config);
  // Also returns the router's load (BlockOutput::router_load) for the load-balancing loss.
  BlockOutput forward(const at::Tensor& x, bool training) const override;
  // Expert parallelism: this block holds experts [rank E / N, (rank + 1) E / N) of `exchange`'s group of N, and
  // sends each (token, expert) row to its expert's rank and back. Null: every expert is here.
  void set_expert_exchange(std::shared_ptr<ExpertExchange> exchange);

 private:
  // This rank's share of a stacked linear's adapter: under expert parallelism the adapter is whole and the
  // weight holds E / N experts from `first_expert()`; expert_linear gets A's rows and B's columns of those.
  Linear local_adapter(const Linear& experts) const;
  int64_t first_expert() const;
  // The experts' SwiGLU on rows sorted by expert (`sizes` per local expert).
  at::Tensor experts_forward(const at::Tensor& rows, const std::vector<int64_t>& sizes, bool training) const;
  // The same for rows sorted by global expert whose experts live across the exchange's group: rows go to their
  // experts' ranks, are computed there and come back in the same order.
  at::Tensor exchanged_experts_forward(const at::Tensor& rows, const std::vector<int64_t>& sizes, bool training) const;
  MoeSpec moe_;
  std::shared_ptr<ExpertExchange> exchange_;
  const Linear* router_;
  const Linear* gate_up_;
  const Linear* down_;
  const Linear* shared_gate_ = nullptr;
  const Linear* shared_up_ = nullptr;
  const Linear* shared_down_ = nullptr;
  const Linear* shared_expert_gate_ = nullptr;
};

// The rows of `x` [M, in], sorted by expert with `sizes[e]` rows for expert e, each multiplied by its expert's
// matrix of `experts` (weight [E, out, in]) plus its LoRA update (PEFT's layout for a stacked parameter: A
// [E * r, in] with expert e's rows at e * r, B [out, r * E] with expert e's columns at j * E + e; in fp32):
// [M, out]. On CUDA one grouped GEMM per product; on the CPU one matrix product per expert with rows.
at::Tensor expert_linear(const Linear& experts, const at::Tensor& x, const std::vector<int64_t>& sizes,
                         const at::Tensor& offsets, bool training);

// False once torch's grouped GEMM refused a product on CUDA in `dtype` (the per-expert loop runs instead); the GPU
// check asserts it stays true for bf16.
bool grouped_gemm_in_use(at::ScalarType dtype);

// transformers' load_balancing_loss_func over the router loads of the sparse layers summed
// (BlockOutput::router_load: [2, E], top-k assignment counts and router probability sums) and the rows they
// cover (tokens times sparse layers): E * sum(counts / rows * probabilities / rows).
at::Tensor load_balancing_loss(const at::Tensor& router_load, double rows);

}  // namespace zt::model
