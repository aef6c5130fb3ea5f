#include "dist/grad_sync.h"

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include "core/torch_api.h"

#include <algorithm>

#include "core/check.h"

namespace zt::dist {

std::vector<BucketRange> gradient_buckets(const FlatLayout& layout, int64_t reduce_bucket_size) {
  std::vector<BucketRange> buckets;
  for (size_t i = 0; i < layout.entries.size(); ++i) {
    const FlatEntry& e = layout.entries[i];
    if (buckets.empty() || buckets.back().end - buckets.back().begin + e.numel > reduce_bucket_size) {
      if (buckets.empty() || !buckets.back().params.empty()) buckets.emplace_back();
      buckets.back().begin = e.offset;
    }
    buckets.back().params.push_back(i);
    buckets.back().end = e.offset + e.numel;
  }
  if (!buckets.empty()) buckets.back().end = layout.padded;
  return buckets;
}

int64_t GradientSync::gradient_bytes() const {
  return static_cast<int64_t>(full_grad_.defined() ? full_grad_.nbytes() : partition_grad_.nbytes());
}

GradientSync::GradientSync(Communicator& comm, const FlatLayout& layout, std::vector<at::Tensor> params, int stage,
                           int64_t reduce_bucket_size, int64_t owned_begin)
    : comm_(comm),
      layout_(layout),
      params_(std::move(params)),
      stage_(stage),
      owned_begin_(owned_begin),
      options_(at::TensorOptions().dtype(at::kFloat).device(params_[0].device())) {
  if (stage_ <= 1) {
    full_grad_ = at::zeros({layout_.padded}, options_);
    return;
  }
  partition_grad_ = at::zeros({layout_.partition_size()}, options_);
  bucket_of_.resize(params_.size());
  seen_.assign(params_.size(), false);
  for (BucketRange& range : gradient_buckets(layout_, reduce_bucket_size)) {
    Bucket bucket;
    bucket.begin = range.begin;
    bucket.end = range.end;
    bucket.params = std::move(range.params);
    for (size_t i : bucket.params) bucket_of_[i] = buckets_.size();
    largest_bucket_ = std::max(largest_bucket_, bucket.end - bucket.begin);
    buckets_.push_back(std::move(bucket));
  }
  next_bucket_ = static_cast<int64_t>(buckets_.size()) - 1;
  // After autograd has accumulated a parameter's gradient (DDP's hook point): staged, then freed.
  for (size_t i = 0; i < params_.size(); ++i) {
    std::shared_ptr<torch::autograd::Node> accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
    ZT_CHECK(accumulator != nullptr, "trainable parameter '" << layout_.entries[i].name << "' has no gradient accumulator");
    const uintptr_t key = accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          at::Tensor& grad = params_[i].mutable_grad();
          if (grad.defined()) {
            on_gradient(i, grad);
            grad = at::Tensor();
          }
          return outputs;
        }));
    hooks_.emplace_back(std::move(accumulator), key);
  }
}

GradientSync::~GradientSync() {
  for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
}

// Staging buffers are kept between micro-batches (each as large as the largest bucket) and handed out
// again, so that reducing a bucket allocates nothing after the first micro-batch.
void GradientSync::stage(Bucket& bucket) {
  if (bucket.staging.defined()) return;
  if (spare_staging_.empty()) spare_staging_.push_back(at::empty({largest_bucket_}, options_));
  at::Tensor buffer = std::move(spare_staging_.back());
  spare_staging_.pop_back();
  bucket.staging_buffer = buffer;
  bucket.staging = buffer.narrow(0, 0, bucket.end - bucket.begin).zero_();
  staged_bytes_ += static_cast<int64_t>(buffer.nbytes());
  peak_staged_bytes_ = std::max(peak_staged_bytes_, staged_bytes_);
}

void GradientSync::unstage(Bucket& bucket) {
  if (bucket.staging.defined()) {
    staged_bytes_ -= static_cast<int64_t>(bucket.staging_buffer.nbytes());
    spare_staging_.push_back(std::move(bucket.staging_buffer));
  }
  bucket.staging = at::Tensor();
  bucket.staging_buffer = at::Tensor();
  bucket.received = at::Tensor();
}

void GradientSync::on_gradient(size_t param, const at::Tensor& grad) {
  Bucket& bucket = buckets_[bucket_of_[param]];
  ZT_CHECK(!bucket.sent, "a gradient of '" << layout_.entries[param].name
                                           << "' arrived after its bucket was sent; call after_backward() "
                                              "between two backward passes");
  stage(bucket);
  const FlatEntry& e = layout_.entries[param];
  bucket.staging.narrow(0, e.offset - bucket.begin, e.numel).add_(grad.detach().reshape({-1}).to(at::kFloat), weight_);
  if (!seen_[param]) {
    seen_[param] = true;
    ++bucket.arrived;
    launch_ready_buckets(false);
  }
}

// Collectives must start in the same order on every rank, so buckets go out strictly from the last to the
// first (the order backward produces them in): a complete bucket waits for the ones after it. At the end
// of a micro-batch (`all`), the rest go out in that order too, complete or not; a rank without data for
// this micro-batch sends zeros in the same sequence.
void GradientSync::launch_ready_buckets(bool all) {
  while (next_bucket_ >= 0) {
    Bucket& bucket = buckets_[static_cast<size_t>(next_bucket_)];
    if (!all && bucket.arrived < static_cast<int64_t>(bucket.params.size())) return;
    launch_bucket(bucket);
    --next_bucket_;
  }
}

void GradientSync::launch_bucket(Bucket& bucket) {
  stage(bucket);
  std::vector<int64_t> counts = layout_.piece_counts(bucket.begin, bucket.end);
  bucket.received = at::empty({counts[static_cast<size_t>(comm_.rank())]}, options_);
  bucket.work = comm_.reduce_scatter(bucket.staging, bucket.received, counts);
  bucket.sent = true;
  in_flight_.push_back(static_cast<size_t>(&bucket - buckets_.data()));
  while (in_flight_.size() > kBucketsInFlight) finish_oldest_bucket();
}

void GradientSync::finish_oldest_bucket() {
  Bucket& bucket = buckets_[in_flight_.front()];
  in_flight_.pop_front();
  bucket.work->wait();
  const int64_t lo = std::max(bucket.begin, comm_.rank() * layout_.partition_size());
  if (bucket.received.numel() > 0)
    partition_grad_.narrow(0, lo - owned_begin_, bucket.received.numel()).add_(bucket.received);
  bucket.work.reset();
  unstage(bucket);
}

void GradientSync::after_backward() {
  at::NoGradGuard no_grad;
  if (stage_ <= 1) {
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& grad = params_[i].grad();
      if (grad.defined()) {
        const FlatEntry& e = layout_.entries[i];
        full_grad_.narrow(0, e.offset, e.numel).add_(grad.reshape({-1}).to(at::kFloat), weight_);
      }
      params_[i].mutable_grad() = at::Tensor();
    }
    return;
  }
  launch_ready_buckets(true);
  while (!in_flight_.empty()) finish_oldest_bucket();
  for (Bucket& bucket : buckets_) bucket.arrived = 0, bucket.sent = false;
  next_bucket_ = static_cast<int64_t>(buckets_.size()) - 1;
  seen_.assign(params_.size(), false);
  for (at::Tensor& p : params_) p.mutable_grad() = at::Tensor();
}

void GradientSync::mark_zero_gradients(const std::vector<size_t>& params) {
  for (size_t i : params) {
    Bucket& bucket = buckets_[bucket_of_[i]];
    if (seen_[i] || bucket.sent) continue;
    stage(bucket);
    seen_[i] = true;
    ++bucket.arrived;
  }
  launch_ready_buckets(false);
}


at::Tensor GradientSync::reduced() {
  if (stage_ == 0) {
    comm_.all_reduce(full_grad_)->wait();
    return full_grad_;
  }
  if (stage_ == 1) {
    at::Tensor grad = at::empty({layout_.partition_size()}, options_);
    comm_.reduce_scatter(full_grad_, grad, std::vector<int64_t>(static_cast<size_t>(comm_.size()),
                                                                layout_.partition_size()))->wait();
    return grad;
  }
  return partition_grad_;
}

void GradientSync::reset() {
  if (full_grad_.defined()) full_grad_.zero_();
  if (partition_grad_.defined()) partition_grad_.zero_();
}

}  // namespace zt::dist
