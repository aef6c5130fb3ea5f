// The flat layout of the trainable parameters and the reduction of their gradients over the ranks
// (DeepSpeed's stage 0-2 layout: one padded fp32 buffer, contiguous near-equal partitions, a parameter may
// straddle two).
//
//   stages 0-1  each micro-batch's gradients are added into a whole flat buffer; at the step it is
//               all-reduced (0) or reduce-scattered (1)
//   stages 2-3  a hook after each parameter's gradient is accumulated moves it into its bucket and frees it
//               (no parameter keeps a .grad); a bucket is reduce-scattered as soon as it is complete
//               (buckets go out from the last to the first, the order backward fills them, the same on every
//               rank), at most kBucketsInFlight at a time: the oldest is waited for, added into this rank's
//               partition and freed before another goes out, so gradient memory stays at a few buckets
//               plus the partition (DeepSpeed's ZeRO-2 promise) instead of a whole model's gradients
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dist/comm.h"
#include "dist/flat_layout.h"

namespace torch::autograd {
struct Node;
}

namespace zt::dist {

// The gradient buckets of stages 2-3 as ranges [begin, end) of the padded flat buffer: consecutive
// parameters up to `reduce_bucket_size` elements (a larger parameter is a bucket of its own), the last one
// running to the padded end so that the reduce-scatters cover every partition exactly.
struct BucketRange {
  int64_t begin = 0, end = 0;
  std::vector<size_t> params;  // indices into layout.entries
};
std::vector<BucketRange> gradient_buckets(const FlatLayout& layout, int64_t reduce_bucket_size);

class GradientSync {
 public:
  // `params` in layout order; this rank's range starts at `owned_begin` (stage 0: the whole buffer).
  GradientSync(Communicator& comm, const FlatLayout& layout, std::vector<at::Tensor> params, int stage,
               int64_t reduce_bucket_size, int64_t owned_begin);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // The weight of the next micro-batch's gradients as they are added into the fp32 buffers (its label
  // tokens: backward ran on its mean loss, and the step normalises by the tokens of the whole step).
  void set_micro_batch_weight(double weight) { weight_ = weight; }
  // Gives back the spare staging buffers (kept between micro-batches), e.g. before the optimizer step.
  void release_spare_buffers() { spare_staging_.clear(); }
  // After each micro-batch's backward: collects the gradients (stages 0-1) or sends the buckets still
  // open and adds the reduced pieces (stages 2-3); clears the parameters' .grad.
  void after_backward();
  // A rank without data for a micro-batch: these parameters' gradients count as zero, and the buckets
  // that completes go out in the order they would have on a rank with data.
  void mark_zero_gradients(const std::vector<size_t>& params);
  // At the step: the gradient of this rank's range summed over all ranks (stage 0: the whole buffer).
  // It may be scaled in place; reset() zeroes it for the next step.
  at::Tensor reduced();
  void reset();
  // The most bytes of gradient staging buffers in use at once since construction (stages 2-3; each buffer
  // is as large as the largest bucket), and that size in bytes.
  int64_t peak_staged_bytes() const { return peak_staged_bytes_; }
  int64_t largest_bucket_bytes() const { return largest_bucket_ * static_cast<int64_t>(sizeof(float)); }
  // The fp32 gradient this rank keeps between micro-batches: the whole flat buffer (stages 0-1) or its
  // partition (stages 2-3).
  int64_t gradient_bytes() const;
  static constexpr size_t kBucketsInFlight = 2;

 private:
  struct Bucket {
    int64_t begin = 0, end = 0;   // range of the padded flat buffer
    std::vector<size_t> params;   // indices into params_
    int64_t arrived = 0;
    at::Tensor staging;           // fp32 [end - begin], taken from the spare buffers when the first gradient arrives
    at::Tensor staging_buffer;    // the whole buffer it is a view of
    at::Tensor received;          // this rank's reduced piece
    WorkPtr work;
    bool sent = false;            // this micro-batch
  };
  void on_gradient(size_t param, const at::Tensor& grad);
  void launch_ready_buckets(bool all);
  void launch_bucket(Bucket& bucket);
  void finish_oldest_bucket();  // waits for it, adds its piece into the partition, frees its buffers
  void stage(Bucket& bucket);
  void unstage(Bucket& bucket);

  Communicator& comm_;
  const FlatLayout& layout_;
  std::vector<at::Tensor> params_;
  int stage_;
  int64_t owned_begin_;
  at::TensorOptions options_;
  at::Tensor full_grad_;       // stages 0-1: the whole flat gradient
  at::Tensor partition_grad_;  // stages 2-3: this rank's accumulated range
  std::vector<size_t> bucket_of_;
  std::vector<bool> seen_;
  std::vector<Bucket> buckets_;
  std::deque<size_t> in_flight_;  // sent, not yet added into the partition, oldest first
  int64_t next_bucket_ = -1;  // the next bucket to start; they start from the last one down
  // The post-accumulation hooks on each parameter's gradient accumulator (kept alive here).
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;
  int64_t staged_bytes_ = 0, peak_staged_bytes_ = 0;
  double weight_ = 1;
  int64_t largest_bucket_ = 0;
  std::vector<at::Tensor> spare_staging_;
};

}  // namespace zt::dist
