#include "model/ffn/moe.h"

#include <ATen/Parallel.h>

#include "core/torch_api.h"

#include <atomic>

#include "core/check.h"
#include "core/log.h"

namespace zt::model {

MixtureOfExperts::MixtureOfExperts(const FeedForwardSpec& spec, std::vector<at::Tensor> vectors,
                                   std::vector<Linear> linears, const ModelConfig&)
    : FeedForward(spec, std::move(vectors), std::move(linears)),
      moe_(spec.moe),
      router_(&linear(Role::kRouter)),
      gate_up_(&linear(Role::kExpertGateUp)),
      down_(&linear(Role::kExpertDown)) {
  ZT_CHECK(moe_.experts > 0 && moe_.top_k > 0 && moe_.top_k <= moe_.experts,
           "mixture of experts '" << spec.path << "': bad expert counts");
  if (spec.linear(Role::kSharedExpertGate) != nullptr) {
    shared_gate_ = &linear(Role::kSharedGate);
    shared_up_ = &linear(Role::kSharedUp);
    shared_down_ = &linear(Role::kSharedDown);
    shared_expert_gate_ = &linear(Role::kSharedExpertGate);
  }
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// torch's grouped GEMM per input dtype (fp32, bf16, fp16), where the build and the device have it; false once it
// refused (then the per-expert loop runs for that dtype).
std::atomic<bool> grouped_gemm_works[3] = {true, true, true};

std::atomic<bool>& grouped_gemm_for(at::ScalarType dtype) {
  return grouped_gemm_works[dtype == at::kBFloat16 ? 1 : dtype == at::kHalf ? 2 : 0];
}

// The experts' products on the CPU as one autograd node: a matrix product per expert over its contiguous rows,
// written into one output (and, backward, one input gradient) without the per-slice copies and full-size zero
// gradients that slicing through autograd would make. LoRA (fp32): y_e += s (x_e A_e^T) B_e^T.
std::vector<int64_t> row_starts(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> starts(sizes.size(), 0);
  for (size_t e = 1; e < sizes.size(); ++e) starts[e] = starts[e - 1] + sizes[e - 1];
  return starts;
}

class ExpertProducts : public torch::autograd::Function<ExpertProducts> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& lora_a, const at::Tensor& lora_b, std::vector<int64_t> sizes,
                            double scaling) {
    const int64_t E = weight.size(0), out_features = weight.size(1);
    const bool lora = lora_a.numel() > 0;  // no adapter: empty placeholders (autograd inputs must be defined)
    const int64_t rank = lora ? lora_a.size(0) / E : 0;
    const bool fp32 = x.scalar_type() == at::kFloat;
    at::Tensor y = at::empty({x.size(0), out_features}, x.options());
    at::Tensor low = lora ? at::empty({x.size(0), rank}, x.options().dtype(at::kFloat)) : at::Tensor();  // x A^T
    // Expert e's B as a contiguous [out, r] (PEFT keeps its columns at j * E + e).
    const at::Tensor b = lora ? lora_b.view({out_features, rank, E}).permute({2, 0, 1}).contiguous() : at::Tensor();
    const at::Tensor x32 = lora && !fp32 ? x.to(at::kFloat) : x;
    const std::vector<int64_t> starts = row_starts(sizes);
    // Experts in parallel, each product on one thread: many small products cost less this way than each spread
    // over every thread (their outputs are disjoint rows).
    at::parallel_for(0, E, 1, [&](int64_t first, int64_t last) {
      for (int64_t e = first; e < last; ++e) {
        const int64_t rows = sizes[static_cast<size_t>(e)], start = starts[static_cast<size_t>(e)];
        if (rows == 0) continue;
        at::Tensor ye = y.narrow(0, start, rows);
        at::mm_out(ye, x.narrow(0, start, rows), weight.select(0, e).t());
        if (lora) {
          at::Tensor te = low.narrow(0, start, rows);
          at::mm_out(te, x32.narrow(0, start, rows), lora_a.narrow(0, e * rank, rank).t());
          if (fp32)
            ye.addmm_(te, b.select(0, e).t(), 1.0, scaling);
          else
            ye.add_(at::mm(te, b.select(0, e).t()).mul_(scaling).to(y.scalar_type()));
        }
      }
    });
    ctx->save_for_backward({x, weight, lora_a, b.defined() ? b : lora_a, lora ? low : lora_a});
    ctx->saved_data["sizes"] = sizes;
    ctx->saved_data["scaling"] = scaling;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &lora_a = saved[2], &b = saved[3], &low = saved[4];
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    const double scaling = ctx->saved_data["scaling"].toDouble();
    const at::Tensor grad_y = grads[0].contiguous();
    const int64_t E = weight.size(0), out_features = weight.size(1);
    const bool lora = lora_a.numel() > 0;
    const int64_t rank = lora ? lora_a.size(0) / E : 0;
    const bool fp32 = x.scalar_type() == at::kFloat;
    at::Tensor grad_x = at::empty_like(x);
    at::Tensor grad_weight = weight.requires_grad() ? at::zeros_like(weight) : at::Tensor();
    at::Tensor grad_a = lora ? at::zeros_like(lora_a) : at::Tensor();
    at::Tensor grad_b = lora ? at::zeros({E, out_features, rank}, lora_a.options()) : at::Tensor();  // as `b`
    const at::Tensor x32 = lora && !fp32 ? x.to(at::kFloat) : x;
    const at::Tensor gy32 = lora && !fp32 ? grad_y.to(at::kFloat) : grad_y;
    at::Tensor gt_buffer = lora ? at::empty({x.size(0), rank}, lora_a.options()) : at::Tensor();
    const std::vector<int64_t> starts = row_starts(sizes);
    at::parallel_for(0, E, 1, [&](int64_t first, int64_t last) {
      for (int64_t e = first; e < last; ++e) {
        const int64_t rows = sizes[static_cast<size_t>(e)], start = starts[static_cast<size_t>(e)];
        if (rows == 0) continue;
        const at::Tensor gy = grad_y.narrow(0, start, rows);
        at::Tensor gx = grad_x.narrow(0, start, rows);
        at::mm_out(gx, gy, weight.select(0, e));
        if (grad_weight.defined()) {
          at::Tensor ge = grad_weight.select(0, e);
          at::mm_out(ge, gy.t(), x.narrow(0, start, rows));
        }
        if (lora) {
          const at::Tensor g32 = gy32.narrow(0, start, rows), xe = x32.narrow(0, start, rows);
          const at::Tensor a = lora_a.narrow(0, e * rank, rank);
          at::Tensor gt = gt_buffer.narrow(0, start, rows);  // d loss / d (x A^T) = s gy B_e
          at::mm_out(gt, g32, b.select(0, e));
          gt.mul_(scaling);
          if (fp32)
            gx.addmm_(gt, a);
          else
            gx.add_(at::mm(gt, a).to(gx.scalar_type()));
          at::Tensor ga = grad_a.narrow(0, e * rank, rank);
          at::mm_out(ga, gt.t(), xe);
          at::Tensor gb = grad_b.select(0, e);
          at::mm_out(gb, g32.t(), low.narrow(0, start, rows));
          gb.mul_(scaling);
        }
      }
    });
    // grad_b back to PEFT's layout [out, r * E] (expert e's columns at j * E + e).
    if (lora) grad_b = grad_b.permute({1, 2, 0}).contiguous().view({out_features, rank * E});
    return {grad_x, grad_weight, grad_a, grad_b, at::Tensor(), at::Tensor()};
  }
};

// Rows [M, H] to the ranks of an expert group and back as one autograd node: forward sends `send_rows[r]` rows to
// rank r and receives `recv_rows[r]` from it; backward returns the gradients the opposite way.
class ExchangeRows : public torch::autograd::Function<ExchangeRows> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, std::vector<int64_t> send_rows,
                            std::vector<int64_t> recv_rows, ExpertExchange* exchange) {
    ctx->saved_data["send"] = send_rows;
    ctx->saved_data["recv"] = recv_rows;
    ctx->saved_data["exchange"] = reinterpret_cast<int64_t>(exchange);
    return exchange_rows(rows.contiguous(), send_rows, recv_rows, *exchange);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* exchange = reinterpret_cast<ExpertExchange*>(ctx->saved_data["exchange"].toInt());
    return {exchange_rows(grads[0].contiguous(), ctx->saved_data["recv"].toIntVector(),
                          ctx->saved_data["send"].toIntVector(), *exchange),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }

  static at::Tensor exchange_rows(const at::Tensor& rows, const std::vector<int64_t>& send_rows,
                                  const std::vector<int64_t>& recv_rows, ExpertExchange& exchange) {
    const int64_t width = rows.size(1);
    std::vector<int64_t> send = send_rows, recv = recv_rows;
    int64_t received = 0;
    for (size_t r = 0; r < send.size(); ++r) {
      send[r] *= width;
      received += recv[r];
      recv[r] *= width;
    }
    at::Tensor out = at::empty({received, width}, rows.options());
    at::Tensor flat_out = out.view({-1});
    exchange.all_to_all(rows.view({-1}), flat_out, send, recv);
    return out;
  }
};

}  // namespace

at::Tensor expert_linear(const Linear& experts, const at::Tensor& x, const std::vector<int64_t>& sizes,
                         const at::Tensor& offsets, bool training) {
  const at::Tensor& weight = experts.weight;  // [E, out, in]
  ZT_CHECK(weight.defined() && weight.dim() == 3, "expert weights are not resident");
  const int64_t E = weight.size(0);
  const bool lora = experts.lora_a.defined();
  const int64_t rank = lora ? experts.lora_a.size(0) / E : 0;
  (void)training;  // PEFT adapts stacked parameters without dropout (lora_config.h refuses it)
  if (x.is_cuda() && grouped_gemm_for(x.scalar_type()).load()) {
    try {
      at::Tensor y = at::_grouped_mm(x, weight.transpose(1, 2), offsets);
      if (!lora) return y;
      at::Tensor a = experts.lora_a.view({E, rank, -1}).transpose(1, 2);                         // [E, in, r]
      at::Tensor b = experts.lora_b.view({experts.lora_b.size(0), rank, E}).permute({2, 1, 0});  // [E, r, out]
      at::Tensor xa = at::_grouped_mm(x.to(at::kFloat), a, offsets);
      return y + (at::_grouped_mm(xa, b.contiguous(), offsets) * experts.scaling).to(y.scalar_type());
    } catch (const c10::Error& error) {
      // A dtype or alignment the kernel lacks: the per-expert loop below from now on, said once.
      grouped_gemm_for(x.scalar_type()).store(false);
      ZT_LOG_WARN("torch's grouped GEMM refused the experts' product in " << c10::toString(x.scalar_type()) << " ("
                                                                         << std::string(error.what_without_backtrace()).substr(0, 200)
                                                                         << "); the experts run one product per expert");
    }
  }
  const at::Tensor none = at::empty({0}, weight.options());
  return ExpertProducts::apply(x.contiguous(), weight, lora ? experts.lora_a : none, lora ? experts.lora_b : none,
                               sizes, experts.scaling);
}

BlockOutput MixtureOfExperts::forward(const at::Tensor& x, bool training) const {
  const int64_t H = x.size(-1), E = moe_.experts, K = moe_.top_k;
  const at::Tensor flat = x.reshape({-1, H});                          // [N, H]
  const at::Tensor logits = linear_forward(*router_, flat, training);  // [N, E], in the model's dtype
  const at::Tensor probs = at::softmax(logits, -1, at::kFloat);
  auto [top_probs, top_experts] = at::topk(probs, K, -1);  // [N, K]
  if (moe_.norm_topk_prob) top_probs = top_probs / top_probs.sum(-1, true);
  top_probs = top_probs.to(x.scalar_type());

  // Every (token, choice) pair sorted by expert, tokens in order within an expert (a stable sort).
  const at::Tensor choices = top_experts.reshape({-1});  // [N * K]
  const at::Tensor order = at::argsort(choices, /*stable=*/true, 0);
  const at::Tensor tokens = at::floor_divide(order, K);    // the token of each sorted pair
  const at::Tensor counts = at::bincount(choices, {}, E);  // [E]
  // Each expert's row count on the host, for the CPU's per-expert products (on CUDA a wait for the router; the
  // grouped GEMM itself reads the offsets on the device).
  const at::Tensor host_counts = counts.to(at::kCPU);
  const std::vector<int64_t> sizes(host_counts.data_ptr<int64_t>(), host_counts.data_ptr<int64_t>() + E);
  const at::Tensor rows = flat.index_select(0, tokens);  // [N * K, H]
  at::Tensor down = exchange_ && exchange_->size() > 1 ? exchanged_experts_forward(rows, sizes, training)
                                                       : experts_forward(rows, sizes, training);  // [N * K, H]
  down = down * top_probs.reshape({-1}).index_select(0, order).unsqueeze(-1);
  at::Tensor out = at::zeros_like(flat).index_add(0, tokens, down.to(flat.scalar_type()));

  if (shared_expert_gate_ != nullptr) {
    at::Tensor shared = linear_forward(
        *shared_down_,
        at::silu(linear_forward(*shared_gate_, flat, training)) * linear_forward(*shared_up_, flat, training),
        training);
    out = out + at::sigmoid(linear_forward(*shared_expert_gate_, flat, training)) * shared;
  }

  // The load-balancing loss's statistics as transformers takes them from the router's logits: softmax in the
  // logits' dtype, its own top-k, the assignments counted and the probabilities summed over the tokens.
  // In fp32 those are the routing's own: its probabilities and its per-expert counts.
  const bool fp32 = logits.scalar_type() == at::kFloat;
  const at::Tensor load_probs = fp32 ? probs : at::softmax(logits, -1);
  const at::Tensor load_counts =
      fp32 ? counts : at::bincount(std::get<1>(at::topk(load_probs, K, -1)).reshape({-1}), {}, E);
  at::Tensor load = at::stack({load_counts.to(at::kFloat), load_probs.to(at::kFloat).sum(0)});
  return {out.view(x.sizes()), load};
}

void MixtureOfExperts::set_expert_exchange(std::shared_ptr<ExpertExchange> exchange) {
  if (exchange != nullptr && exchange->size() > 1)
    ZT_CHECK(gate_up_->weight.defined() && gate_up_->weight.size(0) * exchange->size() == moe_.experts,
             "mixture of experts '" << spec().path << "': the model was not loaded with this expert group's share");
  exchange_ = std::move(exchange);
}

int64_t MixtureOfExperts::first_expert() const {
  return exchange_ != nullptr && exchange_->size() > 1 ? exchange_->rank() * gate_up_->weight.size(0) : 0;
}

Linear MixtureOfExperts::local_adapter(const Linear& experts) const {
  const int64_t local = experts.weight.size(0);
  if (!experts.lora_a.defined() || local == moe_.experts) return experts;
  Linear share = experts;
  const int64_t rank = experts.lora_a.size(0) / moe_.experts, out = experts.lora_b.size(0);
  share.lora_a = experts.lora_a.narrow(0, first_expert() * rank, local * rank);
  share.lora_b = experts.lora_b.view({out, rank, moe_.experts}).narrow(2, first_expert(), local).reshape({out, rank * local});
  return share;
}

at::Tensor MixtureOfExperts::experts_forward(const at::Tensor& rows, const std::vector<int64_t>& sizes,
                                             bool training) const {
  const at::Tensor offsets =
      at::cumsum(at::tensor(sizes, at::kLong), 0).to(at::TensorOptions().dtype(at::kInt).device(rows.device()));
  const at::Tensor gate_up = expert_linear(local_adapter(*gate_up_), rows, sizes, offsets, training);  // [rows, 2I]
  const std::vector<at::Tensor> halves = gate_up.chunk(2, -1);
  return expert_linear(local_adapter(*down_), at::silu(halves[0]) * halves[1], sizes, offsets, training);
}

at::Tensor MixtureOfExperts::exchanged_experts_forward(const at::Tensor& rows, const std::vector<int64_t>& sizes,
                                                       bool training) const {
  const int n = exchange_->size();
  const int64_t local = moe_.experts / n;
  // Rows per destination rank, and each rank's rows per expert of this one: an all-to-all of the counts (on the
  // host; the exchange moves them to its device if it has one).
  std::vector<int64_t> send_rows(static_cast<size_t>(n), 0);
  for (int64_t e = 0; e < moe_.experts; ++e) send_rows[static_cast<size_t>(e / local)] += sizes[static_cast<size_t>(e)];
  at::Tensor mine = at::tensor(sizes, at::kLong), theirs = at::empty({n * local}, at::kLong);
  exchange_->all_to_all(mine, theirs, std::vector<int64_t>(static_cast<size_t>(n), local),
                        std::vector<int64_t>(static_cast<size_t>(n), local));
  const int64_t* from = theirs.data_ptr<int64_t>();  // [source rank][local expert]
  std::vector<int64_t> recv_rows(static_cast<size_t>(n), 0), local_sizes(static_cast<size_t>(local), 0);
  for (int s = 0; s < n; ++s)
    for (int64_t e = 0; e < local; ++e) {
      recv_rows[static_cast<size_t>(s)] += from[s * local + e];
      local_sizes[static_cast<size_t>(e)] += from[s * local + e];
    }
  const at::Tensor received = ExchangeRows::apply(rows, send_rows, recv_rows, exchange_.get());  // source-major
  // Received rows come by source, then by expert; the experts want them by expert, then by source.
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(received.size(0)));
  std::vector<int64_t> source_start(static_cast<size_t>(n), 0);
  for (size_t s = 1; s < source_start.size(); ++s) source_start[s] = source_start[s - 1] + recv_rows[s - 1];
  for (int64_t e = 0; e < local; ++e)
    for (int s = 0; s < n; ++s) {
      int64_t start = source_start[static_cast<size_t>(s)];
      for (int64_t j = 0; j < e; ++j) start += from[s * local + j];
      for (int64_t i = 0; i < from[s * local + e]; ++i) order.push_back(start + i);
    }
  const at::Tensor by_expert = at::tensor(order, at::kLong).to(rows.device());
  const at::Tensor back = at::empty_like(by_expert).index_copy_(
      0, by_expert, at::arange(static_cast<int64_t>(order.size()), by_expert.options()));
  const at::Tensor computed = experts_forward(received.index_select(0, by_expert), local_sizes, training);
  return ExchangeRows::apply(computed.index_select(0, back), recv_rows, send_rows, exchange_.get());
}

bool grouped_gemm_in_use(at::ScalarType dtype) { return grouped_gemm_for(dtype).load(); }

at::Tensor load_balancing_loss(const at::Tensor& router_load, double rows) {
  const int64_t E = router_load.size(1);
  return (router_load[0] / rows * (router_load[1] / rows)).sum() * static_cast<double>(E);
}

}  // namespace zt::model
