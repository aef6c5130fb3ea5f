#include "dist/zero.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "optim/clip.h"

namespace zt::dist {
namespace {

optim::LossScaleConfig loss_scale_config(const ZeroConfig& config) {
  return {config.precision == "fp16", config.static_loss_scale, config.initial_scale_power, config.loss_scale_window,
          config.hysteresis, config.min_loss_scale};
}

}  // namespace

ZeroEngine::ZeroEngine(Communicator& comm, const ZeroConfig& config,
                       std::vector<std::pair<std::string, at::Tensor>> trainable, const optim::AdamWConfig& adam)
    : comm_(comm), config_(config), adam_(adam), scaler_(loss_scale_config(config)) {
  ZT_REQUIRE(!trainable.empty(), "nothing to train: no parameter requires a gradient");
  layout_ = FlatLayout::build(trainable, comm.size());
  for (auto& [name, tensor] : trainable) {
    ZT_CHECK(tensor.requires_grad() && tensor.is_leaf(), "trainable parameter '" << name << "' is not a leaf");
    params_.push_back(tensor);
  }
  const auto options = at::TensorOptions().dtype(at::kFloat).device(params_[0].device());
  at::Tensor full = at::zeros({layout_.padded}, options);
  at::Tensor decay = at::zeros({layout_.padded}, options);
  {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      const FlatEntry& e = layout_.entries[i];
      full.narrow(0, e.offset, e.numel).copy_(params_[i].detach().reshape({-1}));
      if (e.decay) decay.narrow(0, e.offset, e.numel).fill_(1);
    }
  }
  const int64_t owned = config_.stage == 0 ? layout_.padded : layout_.partition_size();
  owned_begin_ = config_.stage == 0 ? 0 : comm.rank() * layout_.partition_size();
  adam_state_.master = full.narrow(0, owned_begin_, owned).clone();
  decay_mask_ = decay.narrow(0, owned_begin_, owned).clone();
  adam_state_.exp_avg = at::zeros_like(adam_state_.master);
  adam_state_.exp_avg_sq = at::zeros_like(adam_state_.master);
  sync_ = std::make_unique<GradientSync>(comm, layout_, params_, config_.stage, config_.reduce_bucket_size, owned_begin_);
}

int ZeroEngine::add_release_callback(std::function<void()> callback) {
  release_callbacks_.emplace_back(++last_callback_id_, std::move(callback));
  return last_callback_id_;
}

void ZeroEngine::remove_release_callback(int id) {
  release_callbacks_.erase(std::remove_if(release_callbacks_.begin(), release_callbacks_.end(),
                                          [id](const auto& entry) { return entry.first == id; }),
                           release_callbacks_.end());
}

ZeroEngine::~ZeroEngine() = default;

std::vector<int64_t> ZeroEngine::piece_counts(int64_t begin, int64_t end) const { return layout_.piece_counts(begin, end); }

void ZeroEngine::after_backward() {
  at::NoGradGuard no_grad;
  sync_->after_backward();
  for (auto& [id, callback] : release_callbacks_) callback();
}

void ZeroEngine::set_micro_batch_weight(double weight) { sync_->set_micro_batch_weight(weight); }

void ZeroEngine::mark_zero_gradients(const std::vector<size_t>& params) { sync_->mark_zero_gradients(params); }

void ZeroEngine::write_back(const at::Tensor& full) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const FlatEntry& e = layout_.entries[i];
    params_[i].detach().copy_(full.narrow(0, e.offset, e.numel).view(e.shape));
  }
}

at::Tensor ZeroEngine::gather_full_parameters() {
  at::NoGradGuard no_grad;
  return config_.stage == 0 ? master().clone() : gather_partitions(at::kFloat);
}

std::vector<std::pair<std::string, at::Tensor>> ZeroEngine::gather_named_parameters() {
  at::Tensor full = gather_full_parameters();
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (const FlatEntry& e : layout_.entries) named.emplace_back(e.name, full.narrow(0, e.offset, e.numel).view(e.shape));
  return named;
}

// Every rank's updated partition, in pieces of at most allgather_bucket_size elements in all.
at::Tensor ZeroEngine::gather_partitions(at::ScalarType dtype) {
  const int64_t world = comm_.size(), size = layout_.partition_size();
  const at::Tensor mine = master().to(dtype);
  at::Tensor full = at::empty({layout_.padded}, mine.options());
  const int64_t piece = std::max<int64_t>(1, std::min(size, config_.allgather_bucket_size / world));
  std::vector<std::pair<int64_t, int64_t>> pieces;
  for (int64_t begin = 0; begin < size; begin += piece) pieces.emplace_back(begin, std::min(piece, size - begin));
  if (pieces.size() == 1) {
    comm_.all_gather(mine, full, std::vector<int64_t>(static_cast<size_t>(world), size))->wait();
    return full;
  }
  for (auto [begin, length] : pieces) {
    at::Tensor gathered = at::empty({world * length}, mine.options());
    comm_.all_gather(mine.narrow(0, begin, length).contiguous(), gathered,
                     std::vector<int64_t>(static_cast<size_t>(world), length))->wait();
    for (int64_t r = 0; r < world; ++r)
      full.narrow(0, r * size + begin, length).copy_(gathered.narrow(0, r * length, length));
  }
  return full;
}

StepResult ZeroEngine::step(double lr, double grad_scale) {
  at::NoGradGuard no_grad;
  // Whatever holds copies of the parameters lets go of them before they change; the gradient staging
  // buffers are not needed again before the next micro-batch.
  for (auto& [id, callback] : release_callbacks_) callback();
  sync_->release_spare_buffers();
  at::Tensor grad = sync_->reduced();
  grad.mul_(grad_scale / scaler_.scale());
  StepResult result;
  result.loss_scale = scaler_.scale();
  at::Tensor squares = grad.to(at::kDouble).pow(2).sum().reshape({1});
  if (config_.stage > 0) comm_.all_reduce(squares)->wait();  // each rank holds only its range
  result.grad_norm = std::sqrt(squares.item<double>());
  if (!std::isfinite(result.grad_norm)) {
    // The norm is the same number on every rank, so every rank skips together.
    result.skipped = true;
    scaler_.update(true);
  } else {
    scaler_.update(false);
    const double coefficient = optim::clip_coefficient(result.grad_norm, config_.gradient_clipping);
    if (coefficient < 1) grad.mul_(coefficient);
    if (keep_last_gradient_) last_gradient_ = grad.clone();
    optim::adamw_step(adam_, adam_state_, grad, decay_mask_, lr);
    if (config_.stage == 0) {
      write_back(adam_state_.master);
    } else if (!parameters_partitioned_) {
      write_back(gather_partitions(params_[0].scalar_type()));
    }
  }
  sync_->reset();
  return result;
}

void ZeroEngine::check_entries(const std::vector<FlatEntry>& entries) const {
  ZT_REQUIRE(entries.size() == layout_.entries.size(),
             "the checkpoint has " << entries.size() << " trainable tensors, this run " << layout_.entries.size()
                                   << " (different --train_type, --target_modules or --lora_rank?)");
  for (size_t i = 0; i < entries.size(); ++i)
    ZT_REQUIRE(entries[i].name == layout_.entries[i].name && entries[i].shape == layout_.entries[i].shape,
               "checkpoint tensor '" << entries[i].name << "' " << at::IntArrayRef(entries[i].shape)
                                     << " does not match this run's '" << layout_.entries[i].name << "' "
                                     << at::IntArrayRef(layout_.entries[i].shape));
}

void ZeroEngine::load_owned_state(const std::vector<FlatEntry>& entries, int64_t begin, const at::Tensor& master,
                                  const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, int64_t steps) {
  check_entries(entries);
  const int64_t owned = adam_state_.master.numel();
  const int64_t real = std::max<int64_t>(0, std::min(owned_begin_ + owned, layout_.numel) - owned_begin_);
  ZT_CHECK(begin == owned_begin_ && master.numel() == real && exp_avg.numel() == real && exp_avg_sq.numel() == real,
           "load_owned_state: got [" << begin << ", " << begin + master.numel() << "), this rank owns ["
                                     << owned_begin_ << ", " << owned_begin_ + real << ")");
  at::NoGradGuard no_grad;
  auto fill = [&](at::Tensor& target, const at::Tensor& values) {
    target.zero_();
    if (real > 0) target.narrow(0, 0, real).copy_(values);
  };
  fill(adam_state_.master, master);
  fill(adam_state_.exp_avg, exp_avg);
  fill(adam_state_.exp_avg_sq, exp_avg_sq);
  adam_state_.steps = steps;
  if (config_.stage == 0)
    write_back(adam_state_.master);
  else if (!parameters_partitioned_)
    write_back(gather_partitions(params_[0].scalar_type()));
}

void ZeroEngine::load_full_state(const std::vector<FlatEntry>& entries, const at::Tensor& master,
                                 const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, int64_t steps) {
  check_entries(entries);
  at::NoGradGuard no_grad;
  auto owned_slice = [&](const at::Tensor& whole) {
    ZT_REQUIRE(whole.numel() == layout_.numel, "checkpoint buffer of " << whole.numel() << " values, expected "
                                                                       << layout_.numel);
    at::Tensor padded = at::zeros({layout_.padded}, adam_state_.master.options());
    padded.narrow(0, 0, layout_.numel).copy_(whole);
    return padded.narrow(0, owned_begin_, adam_state_.master.numel()).clone();
  };
  adam_state_.master = owned_slice(master);
  adam_state_.exp_avg = owned_slice(exp_avg);
  adam_state_.exp_avg_sq = owned_slice(exp_avg_sq);
  adam_state_.steps = steps;
  if (!parameters_partitioned_) {
    at::Tensor full = at::zeros({layout_.padded}, adam_state_.master.options());
    full.narrow(0, 0, layout_.numel).copy_(master);
    write_back(full);
  }
}

int64_t ZeroEngine::optimizer_state_bytes() const {
  return (adam_state_.master.numel() + adam_state_.exp_avg.numel() + adam_state_.exp_avg_sq.numel()) *
         static_cast<int64_t>(sizeof(float));
}

}  // namespace zt::dist
