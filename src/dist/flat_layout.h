// The flat layout of the trainable parameters (DeepSpeed's stage 0-2 layout): one padded fp32 buffer, each
// parameter at an offset, contiguous near-equal partitions per rank (a parameter may straddle two). The ZeRO
// engine (zero.h), the gradient buckets (grad_sync.h), the checkpoint manifest and the estimate share it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace zt::dist {

struct FlatEntry {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, numel = 0;
  bool decay = true;  // biases and norm weights are not decayed (as the transformers Trainer does)
};

// Where each trainable parameter sits in the flat buffer and which range each rank owns.
struct FlatLayout {
  std::vector<FlatEntry> entries;
  int64_t numel = 0;   // sum of the parameters' sizes
  int64_t padded = 0;  // numel rounded up to a multiple of 2 x world
  int world = 1;
  int64_t partition_size() const { return padded / world; }
  // How many elements of [begin, end) fall in each rank's partition.
  std::vector<int64_t> piece_counts(int64_t begin, int64_t end) const;
  static FlatLayout build(const std::vector<std::pair<std::string, at::Tensor>>& params, int world);
  // The same from names and shapes alone (ztune estimate).
  static FlatLayout build(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes, int world);
};

}  // namespace zt::dist
