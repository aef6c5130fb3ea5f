#include "data/packing.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "core/check.h"

namespace zt::data {
namespace {

void append_sample(PackedRow& row, SampleWithSource& item) {
  const EncodedSample& sample = item.sample;
  row.cu_seqlens.push_back(static_cast<int32_t>(row.input_ids.size()) + static_cast<int32_t>(sample.input_ids.size()));
  row.input_ids.insert(row.input_ids.end(), sample.input_ids.begin(), sample.input_ids.end());
  size_t first_label = row.labels.size();
  row.labels.insert(row.labels.end(), sample.labels.begin(), sample.labels.end());
  if (!sample.labels.empty()) row.labels[first_label] = -100;
  for (int32_t p = 0; p < static_cast<int32_t>(sample.input_ids.size()); ++p) row.position_ids.push_back(p);
  row.sources.push_back(item.source);
}

}  // namespace

PackedRow single_row(SampleWithSource sample) {
  PackedRow row;
  row.cu_seqlens.push_back(0);
  append_sample(row, sample);
  return row;
}

Packer::Packer(int32_t packing_length, size_t buffer_samples)
    : packing_length_(packing_length), buffer_samples_(std::max<size_t>(buffer_samples, 1)) {
  ZT_REQUIRE(packing_length > 0, "--packing_length must be positive, got " << packing_length);
}

void Packer::push(SampleWithSource sample) {
  ZT_CHECK(static_cast<int32_t>(sample.sample.input_ids.size()) <= packing_length_,
           "sample of " << sample.sample.input_ids.size() << " tokens exceeds packing_length " << packing_length_);
  if (sample.sample.input_ids.empty()) return;
  buffer_.push_back(std::move(sample));
  if (buffer_.size() >= buffer_samples_) pack_buffer(false);
}

std::optional<PackedRow> Packer::pop() {
  if (ready_.empty()) return std::nullopt;
  PackedRow row = std::move(ready_.front());
  ready_.pop_front();
  return row;
}

void Packer::finish() {
  if (!buffer_.empty()) pack_buffer(true);
}

void Packer::pack_buffer(bool final) {
  // Best fit decreasing: longest first, each into the bin whose free space it fills most tightly.
  std::stable_sort(buffer_.begin(), buffer_.end(), [](const SampleWithSource& a, const SampleWithSource& b) {
    return a.sample.input_ids.size() > b.sample.input_ids.size();
  });
  std::vector<std::vector<size_t>> bins;
  std::vector<int32_t> free_space;
  std::multimap<int32_t, size_t> by_free;  // free tokens -> bin
  for (size_t i = 0; i < buffer_.size(); ++i) {
    auto length = static_cast<int32_t>(buffer_[i].sample.input_ids.size());
    auto fit = by_free.lower_bound(length);
    size_t bin;
    if (fit == by_free.end()) {
      bin = bins.size();
      bins.emplace_back();
      free_space.push_back(packing_length_);
    } else {
      bin = fit->second;
      by_free.erase(fit);
    }
    bins[bin].push_back(i);
    free_space[bin] -= length;
    by_free.emplace(free_space[bin], bin);
  }
  // Carry the emptiest bin into the next round unless the stream is over.
  size_t carried = bins.size();
  if (!final && !bins.empty())
    carried = static_cast<size_t>(std::max_element(free_space.begin(), free_space.end()) - free_space.begin());
  std::vector<SampleWithSource> keep;
  for (size_t b = 0; b < bins.size(); ++b) {
    if (b == carried) {
      for (size_t i : bins[b]) keep.push_back(std::move(buffer_[i]));
      continue;
    }
    PackedRow row;
    row.cu_seqlens.push_back(0);
    for (size_t i : bins[b]) append_sample(row, buffer_[i]);
    tokens_emitted_ += row.input_ids.size();
    ++rows_emitted_;
    ready_.push_back(std::move(row));
  }
  buffer_ = std::move(keep);
}

std::vector<std::vector<RowRef>> Packer::ready_sources() const {
  std::vector<std::vector<RowRef>> rows;
  for (const PackedRow& row : ready_) rows.push_back(row.sources);
  return rows;
}

std::vector<RowRef> Packer::buffer_sources() const {
  std::vector<RowRef> sources;
  for (const SampleWithSource& item : buffer_) sources.push_back(item.source);
  return sources;
}

void Packer::restore(std::vector<std::vector<SampleWithSource>> ready_rows, std::vector<SampleWithSource> buffer,
                     uint64_t tokens_emitted, uint64_t rows_emitted) {
  tokens_emitted_ = tokens_emitted;
  rows_emitted_ = rows_emitted;
  ready_.clear();
  for (auto& samples : ready_rows) {
    PackedRow row;
    row.cu_seqlens.push_back(0);
    for (SampleWithSource& item : samples) append_sample(row, item);
    ready_.push_back(std::move(row));
  }
  buffer_ = std::move(buffer);
}

double Packer::fill_ratio() const {
  return rows_emitted_ == 0 ? 0.0
                            : static_cast<double>(tokens_emitted_) / (static_cast<double>(rows_emitted_) * packing_length_);
}

}  // namespace zt::data
