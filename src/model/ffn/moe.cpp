#include "model/ffn/moe.h"

#include "core/torch_api.h"

#include <atomic>

#include "core/check.h"

namespace zt::model {

MixtureOfExperts::MixtureOfExperts(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors,
                                   std::vector<Linear> linears, const ModelConfig&)
    : FeedForward(spec, std::move(vectors), std::move(linears)),
      moe_(spec.moe),
      router_(&linear(Role::kRouter)),
      gate_up_(&linear(Role::kExpertGateUp)),
      down_(&linear(Role::kExpertDown)) {
  ZT_CHECK(moe_.experts > 0 && moe_.top_k > 0 && moe_.top_k <= moe_.experts, "mixture of experts '" << spec.path
                                                                                  << "': bad expert counts");
  if (spec.linear(Role::kSharedExpertGate) != nullptr) {
    shared_gate_ = &linear(Role::kSharedGate);
    shared_up_ = &linear(Role::kSharedUp);
    shared_down_ = &linear(Role::kSharedDown);
    shared_expert_gate_ = &linear(Role::kSharedExpertGate);
  }
}

namespace {

// torch's grouped GEMM, where the build and the device have it; false once it refused (then the loop runs).
std::atomic<bool> grouped_gemm_works{true};

at::Tensor lora_update(const Linear& experts, const at::Tensor& x, int64_t e, int64_t rank) {
  const int64_t E = experts.weight.size(0);
  at::Tensor a = experts.lora_a.narrow(0, e * rank, rank);                                 // [r, in]
  at::Tensor b = experts.lora_b.view({experts.lora_b.size(0), rank, E}).select(2, e);      // [out, r]
  return at::matmul(at::matmul(x.to(at::kFloat), a.t()), b.t()) * experts.scaling;
}

}  // namespace

at::Tensor expert_linear(const Linear& experts, const at::Tensor& x, const std::vector<int64_t>& sizes,
                         const at::Tensor& offsets, bool training) {
  const at::Tensor& weight = experts.weight;  // [E, out, in]
  ZT_CHECK(weight.defined() && weight.dim() == 3, "expert weights are not resident");
  const int64_t E = weight.size(0);
  const bool lora = experts.lora_a.defined();
  const int64_t rank = lora ? experts.lora_a.size(0) / E : 0;
  (void)training;  // PEFT adapts stacked parameters without dropout (lora_config.h refuses it)
  if (x.is_cuda() && grouped_gemm_works.load()) {
    try {
      at::Tensor y = at::_grouped_mm(x, weight.transpose(1, 2), offsets);
      if (!lora) return y;
      at::Tensor a = experts.lora_a.view({E, rank, -1}).transpose(1, 2);                         // [E, in, r]
      at::Tensor b = experts.lora_b.view({experts.lora_b.size(0), rank, E}).permute({2, 1, 0});  // [E, r, out]
      at::Tensor xa = at::_grouped_mm(x.to(at::kFloat), a, offsets);
      return y + (at::_grouped_mm(xa, b.contiguous(), offsets) * experts.scaling).to(y.scalar_type());
    } catch (const c10::Error&) {
      grouped_gemm_works.store(false);  // e.g. a dtype or alignment the kernel lacks: the loop below
    }
  }
  std::vector<at::Tensor> pieces;
  pieces.reserve(static_cast<size_t>(E));
  int64_t start = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t rows = sizes[static_cast<size_t>(e)];
    if (rows == 0) continue;
    at::Tensor xe = x.narrow(0, start, rows);
    at::Tensor ye = at::matmul(xe, weight.select(0, e).t());
    if (lora) ye = ye + lora_update(experts, xe, e, rank).to(ye.scalar_type());
    pieces.push_back(ye);
    start += rows;
  }
  if (pieces.empty()) return at::zeros({0, weight.size(1)}, x.options());
  return pieces.size() == 1 ? pieces[0] : at::cat(pieces, 0);
}

BlockOutput MixtureOfExperts::forward(const at::Tensor& x, bool training) const {
  const int64_t H = x.size(-1), E = moe_.experts, K = moe_.top_k;
  const at::Tensor flat = x.reshape({-1, H});  // [N, H]
  const at::Tensor logits = linear_forward(*router_, flat, training);  // [N, E], in the model's dtype
  const at::Tensor probs = at::softmax(logits, -1, at::kFloat);
  auto [top_probs, top_experts] = at::topk(probs, K, -1);  // [N, K]
  if (moe_.norm_topk_prob) top_probs = top_probs / top_probs.sum(-1, true);
  top_probs = top_probs.to(x.scalar_type());

  // Every (token, choice) pair sorted by expert, tokens in order within an expert (a stable sort).
  const at::Tensor choices = top_experts.reshape({-1});                 // [N * K]
  const at::Tensor order = at::argsort(choices, /*stable=*/true, 0);
  const at::Tensor tokens = at::floor_divide(order, K);                 // the token of each sorted pair
  const at::Tensor counts = at::bincount(choices, {}, E);               // [E]
  const at::Tensor offsets = at::cumsum(counts, 0).to(at::kInt);
  // Each expert's row count on the host, for the CPU's per-expert products (on CUDA a wait for the router; the
  // grouped GEMM itself reads the offsets on the device).
  const at::Tensor host_counts = counts.to(at::kCPU);
  const std::vector<int64_t> sizes(host_counts.data_ptr<int64_t>(), host_counts.data_ptr<int64_t>() + E);
  const at::Tensor rows = flat.index_select(0, tokens);                                     // [N * K, H]
  const at::Tensor gate_up = expert_linear(*gate_up_, rows, sizes, offsets, training);      // [N * K, 2I]
  const std::vector<at::Tensor> halves = gate_up.chunk(2, -1);
  const at::Tensor hidden = at::silu(halves[0]) * halves[1];
  at::Tensor down = expert_linear(*down_, hidden, sizes, offsets, training);                // [N * K, H]
  down = down * top_probs.reshape({-1}).index_select(0, order).unsqueeze(-1);
  at::Tensor out = at::zeros_like(flat).index_add(0, tokens, down.to(flat.scalar_type()));

  if (shared_expert_gate_ != nullptr) {
    at::Tensor shared = linear_forward(
        *shared_down_,
        at::silu(linear_forward(*shared_gate_, flat, training)) * linear_forward(*shared_up_, flat, training), training);
    out = out + at::sigmoid(linear_forward(*shared_expert_gate_, flat, training)) * shared;
  }

  // The load-balancing loss's statistics as transformers takes them from the router's logits: softmax in the
  // logits' dtype, its own top-k, the assignments counted and the probabilities summed over the tokens.
  at::Tensor load_probs = logits.scalar_type() == at::kFloat ? probs : at::softmax(logits, -1);
  at::Tensor load_choices = logits.scalar_type() == at::kFloat ? choices : std::get<1>(at::topk(load_probs, K, -1)).reshape({-1});
  at::Tensor load = at::stack({at::bincount(load_choices, {}, E).to(at::kFloat), load_probs.to(at::kFloat).sum(0)});
  return {out.view(x.sizes()), load};
}

at::Tensor load_balancing_loss(const at::Tensor& router_load, double rows) {
  const int64_t E = router_load.size(1);
  return (router_load[0] / rows * (router_load[1] / rows)).sum() * static_cast<double>(E);
}

}  // namespace zt::model
