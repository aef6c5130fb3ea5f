// Packing encoded samples into rows of a fixed token budget.
//
// Samples collect in a buffer; when it is full, they are placed best-fit-decreasing into bins of
// `packing_length` tokens. Every bin but the emptiest is emitted; the emptiest is carried into the next
// round, so rows stay full while the stream goes on. finish() empties everything at the end of an epoch.
// In a row, position ids restart at 0 for each sample, cu_seqlens marks the sample boundaries (attention
// never crosses them), and each sample's first label is -100 (nothing before it may predict it).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "data/chat_template.h"
#include "data/shard_reader.h"

namespace zt::data {

struct SampleWithSource {
  EncodedSample sample;
  RowRef source;
};

struct PackedRow {
  std::vector<int32_t> input_ids;     // [T]
  std::vector<int32_t> labels;        // [T], -100 where no loss
  std::vector<int32_t> position_ids;  // [T], restarting at each sample
  std::vector<int32_t> cu_seqlens;    // [num_samples + 1], offsets of the samples
  std::vector<RowRef> sources;        // the rows it holds
};

// One sample alone as a row (no packing).
PackedRow single_row(SampleWithSource sample);

class Packer {
 public:
  Packer(int32_t packing_length, size_t buffer_samples);
  void push(SampleWithSource sample);  // its length must not exceed packing_length
  std::optional<PackedRow> pop();      // a finished row, if one is ready
  void finish();                       // the end of the stream: everything left becomes rows

  // What is held back, as row references (part of a data cursor): rows ready to pop, then the buffer.
  std::vector<std::vector<RowRef>> ready_sources() const;
  std::vector<RowRef> buffer_sources() const;
  // Rebuilds that state from the re-encoded samples, in the same order.
  void restore(std::vector<std::vector<SampleWithSource>> ready_rows, std::vector<SampleWithSource> buffer,
               uint64_t tokens_emitted, uint64_t rows_emitted);
  uint64_t tokens_emitted() const { return tokens_emitted_; }
  int32_t packing_length() const { return packing_length_; }
  // Tokens in emitted rows over their capacity.
  double fill_ratio() const;
  uint64_t rows_emitted() const { return rows_emitted_; }

 private:
  void pack_buffer(bool final);
  int32_t packing_length_;
  size_t buffer_samples_;
  std::vector<SampleWithSource> buffer_;
  std::deque<PackedRow> ready_;
  uint64_t tokens_emitted_ = 0;
  uint64_t rows_emitted_ = 0;
};

}  // namespace zt::data
