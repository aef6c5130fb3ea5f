#include "model/attention.h"

#include <ATen/ATen.h>

#include "core/check.h"

namespace zt::model {

const char* packed_kernel_name(PackedKernel kernel) {
  switch (kernel) {
    case PackedKernel::kPerSample: return "SDPA per sample";
    case PackedKernel::kPaddedBatch: return "SDPA over the samples as one padded batch";
    case PackedKernel::kFlashVarlen: return "flash attention varlen";
  }
  return "?";
}

PackedKernel packed_kernel_for(at::Device device, at::ScalarType dtype, int64_t head_dim) {
  if (!device.is_cuda()) return PackedKernel::kPerSample;
  const bool half = dtype == at::kBFloat16 || dtype == at::kHalf;
  // FlashAttention-2 takes 16-bit inputs with head sizes up to 256 (multiples of 8).
  if (half && head_dim <= 256 && head_dim % 8 == 0) return PackedKernel::kFlashVarlen;
  return PackedKernel::kPaddedBatch;
}

AttentionLayout layout_from_cu_seqlens(const std::vector<int32_t>& cu_seqlens) {
  ZT_CHECK(cu_seqlens.size() >= 2 && cu_seqlens.front() == 0, "a packed row's cu_seqlens must start at 0 and hold a sample");
  AttentionLayout layout;
  layout.host_cu_seqlens = cu_seqlens;
  std::vector<std::pair<int64_t, int64_t>> segments;
  for (size_t i = 1; i < cu_seqlens.size(); ++i) {
    ZT_CHECK(cu_seqlens[i] > cu_seqlens[i - 1], "a packed row's cu_seqlens must increase");
    segments.emplace_back(cu_seqlens[i - 1], cu_seqlens[i] - cu_seqlens[i - 1]);
    layout.max_length = std::max<int64_t>(layout.max_length, cu_seqlens[i] - cu_seqlens[i - 1]);
  }
  layout.segments.push_back(std::move(segments));
  layout.single_segment = cu_seqlens.size() == 2;
  return layout;
}

void prepare_varlen(AttentionLayout& layout, at::Device device, int64_t row_length) {
  std::vector<int32_t> cumulative{0};
  int64_t longest = 0;
  if (!layout.host_cu_seqlens.empty()) {  // one row, its offsets as packing wrote them
    ZT_CHECK(layout.host_cu_seqlens.back() == row_length,
             "prepare_varlen: the samples cover " << layout.host_cu_seqlens.back() << " of " << row_length << " tokens");
    cumulative = layout.host_cu_seqlens;
    longest = layout.max_length;
  } else {
    int64_t offset = 0;
    for (const auto& row : layout.segments) {
      int64_t covered = 0;
      for (auto [start, length] : row) {
        ZT_CHECK(start == covered, "prepare_varlen: the segments of a row must follow each other from 0");
        cumulative.push_back(static_cast<int32_t>(offset + start + length));
        longest = std::max(longest, length);
        covered = start + length;
      }
      ZT_CHECK(covered == row_length, "prepare_varlen: the segments cover " << covered << " of " << row_length << " tokens");
      offset += row_length;
    }
  }
  at::Tensor host = at::empty({static_cast<int64_t>(cumulative.size())},
                              at::TensorOptions().dtype(at::kInt).pinned_memory(device.is_cuda()));
  std::copy(cumulative.begin(), cumulative.end(), host.mutable_data_ptr<int32_t>());
  layout.cu_seqlens = device.is_cpu() ? host : host.to(device, /*non_blocking=*/true);
  layout.max_length = longest;
}

at::Tensor window_band(int64_t queries, int64_t keys, int64_t window, at::Device device) {
  auto options = at::TensorOptions().dtype(at::kLong).device(device);
  if (window <= 0) return at::ones({queries, keys}, options.dtype(at::kBool));
  const at::Tensor query_position = at::arange(keys - queries, keys, options).unsqueeze(1);
  return (query_position - at::arange(keys, options).unsqueeze(0)) < window;
}

namespace {

at::Tensor per_sample(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionLayout& layout,
                      int64_t window) {
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < q.size(0); ++b) {
    std::vector<at::Tensor> pieces;
    for (auto [start, length] : layout.segments[static_cast<size_t>(b)]) {
      auto slice = [&](const at::Tensor& x) { return x.narrow(0, b, 1).narrow(2, start, length); };
      // enable_gqa: query head h reads kv head h / (heads / kv_heads) without copying k and v.
      if (window > 0 && length > window) {
        const at::Tensor mask = window_band(length, length, window, q.device()).tril();
        pieces.push_back(at::scaled_dot_product_attention(slice(q), slice(k), slice(v), mask, 0.0, false, std::nullopt, true));
      } else {
        pieces.push_back(at::scaled_dot_product_attention(slice(q), slice(k), slice(v), {}, 0.0, true, std::nullopt, true));
      }
    }
    rows.push_back(pieces.size() == 1 ? pieces[0] : at::cat(pieces, 2));
  }
  return rows.size() == 1 ? rows[0] : at::cat(rows, 0);
}

// Every segment as one row of a padded batch; positions past a segment's end read its own keys (so no
// softmax row is empty) and are dropped afterwards.
at::Tensor padded_batch(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionLayout& layout,
                        int64_t window) {
  const int64_t rows = q.size(0), length = q.size(2);
  int64_t samples = 0, longest = 0;
  for (const auto& row : layout.segments)
    for (auto [start, size] : row) ++samples, longest = std::max(longest, size);
  // gather[s, i]: the flat token (row * length + position) at place i of sample s (its first token past
  // the end); keep: which places are real.
  std::vector<int64_t> gather(static_cast<size_t>(samples * longest)), kept;
  std::vector<uint8_t> valid(static_cast<size_t>(samples * longest));
  int64_t s = 0;
  for (int64_t b = 0; b < rows; ++b)
    for (auto [start, size] : layout.segments[static_cast<size_t>(b)]) {
      for (int64_t i = 0; i < longest; ++i) {
        const bool real = i < size;
        gather[static_cast<size_t>(s * longest + i)] = b * length + start + (real ? i : 0);
        valid[static_cast<size_t>(s * longest + i)] = real;
        if (real) kept.push_back(s * longest + i);
      }
      ++s;
    }
  const at::Device device = q.device();
  const at::Tensor gather_index = at::tensor(gather, at::kLong).to(device);
  const at::Tensor keep_index = at::tensor(kept, at::kLong).to(device);
  const at::Tensor key_valid = at::from_blob(valid.data(), {samples, 1, 1, longest}, at::kByte).to(device, at::kBool);
  const at::Tensor causal = window_band(longest, longest, window, device).tril();
  const at::Tensor mask = causal.view({1, 1, longest, longest}) & key_valid;
  auto pad = [&](const at::Tensor& x) {  // [B, h, T, D] -> [samples, h, longest, D]
    const int64_t heads = x.size(1), dim = x.size(3);
    return x.transpose(1, 2).reshape({rows * length, heads, dim}).index_select(0, gather_index)
        .view({samples, longest, heads, dim}).transpose(1, 2);
  };
  const at::Tensor out = at::scaled_dot_product_attention(pad(q), pad(k), pad(v), mask, 0.0, false, std::nullopt, true);
  const int64_t heads = q.size(1), dim = q.size(3);
  return out.transpose(1, 2).reshape({samples * longest, heads, dim}).index_select(0, keep_index)
      .view({rows, length, heads, dim}).transpose(1, 2);
}

// FlashAttention-2 over the flattened rows: [tokens, heads, D] with cumulative sample lengths; kv heads
// fewer than query heads are read in place.
at::Tensor flash_varlen(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionLayout& layout,
                        int64_t window) {
  ZT_CHECK(layout.cu_seqlens.defined() && layout.cu_seqlens.device() == q.device(),
           "flash varlen attention needs the layout's cu_seqlens on " << q.device() << " (prepare_varlen)");
  const int64_t rows = q.size(0), length = q.size(2), heads = q.size(1), dim = q.size(3);
  auto flat = [&](const at::Tensor& x) { return x.transpose(1, 2).reshape({rows * length, x.size(1), dim}); };
  auto result = at::_flash_attention_forward(flat(q), flat(k), flat(v), layout.cu_seqlens, layout.cu_seqlens,
                                             layout.max_length, layout.max_length, 0.0, /*is_causal=*/true,
                                             /*return_debug_mask=*/false, std::nullopt,
                                             window > 0 ? std::optional<int64_t>(window - 1) : std::nullopt,
                                             window > 0 ? std::optional<int64_t>(0) : std::nullopt);
  return std::get<0>(result).view({rows, length, heads, dim}).transpose(1, 2);
}

}  // namespace

at::Tensor packed_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const AttentionLayout& layout, PackedKernel kernel, int64_t window) {
  ZT_CHECK(static_cast<int64_t>(layout.segments.size()) == q.size(0), "the layout does not describe this batch");
  switch (kernel) {
    case PackedKernel::kPerSample: return per_sample(q, k, v, layout, window);
    case PackedKernel::kPaddedBatch: return padded_batch(q, k, v, layout, window);
    case PackedKernel::kFlashVarlen: return flash_varlen(q, k, v, layout, window);
  }
  ZT_CHECK(false, "unknown attention kernel");
  return {};
}

}  // namespace zt::model
