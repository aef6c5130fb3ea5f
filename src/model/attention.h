// Causal attention over packed rows: several samples side by side in one row, none seeing another.
//
// Three ways to run it, chosen by device and dtype (packed_kernel_for):
//  - flash varlen (CUDA, bf16/fp16): one call over the whole row with the samples' cumulative lengths
//    (cu_seqlens), grouped-query heads read in place (no k/v copies); FlashAttention-2 in libtorch;
//  - padded batch (CUDA fp32, or asked for): the samples gathered into one [samples, heads, longest, D]
//    batch with a causal + key-length mask, one SDPA call (PyTorch's memory-efficient or math kernel);
//  - per sample (CPU): one SDPA call per sample, which on the CPU is the fastest of the three.
// All three are the same function of q, k, v and the layout; tests/unit/test_model.cpp holds them to it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace zt::model {

// Which keys each query may see. Training rows: causal within each packed sample (segments per row), the
// sample boundaries as packing made them (layout_from_cu_seqlens); inference with a cache: an explicit boolean
// mask [B, 1, t, T]. Mixers read the boundaries from here; none re-derives them.
struct AttentionLayout {
  at::Tensor mask;  // defined: use it (and nothing else)
  std::vector<std::vector<std::pair<int64_t, int64_t>>> segments;  // per row: (start, length)
  bool single_segment = false;  // every row is one causal sequence: plain causal attention
  // The cumulative sample lengths over the flattened rows ([samples + 1], int32), on the host as packing
  // wrote them, and on the model's device once per forward (prepare_varlen), with the longest sample.
  std::vector<int32_t> host_cu_seqlens;
  at::Tensor cu_seqlens;
  int64_t max_length = 0;
};

// The layout of one packed row [1, T] from its sample offsets (data::PackedRow::cu_seqlens: 0, ..., T).
AttentionLayout layout_from_cu_seqlens(const std::vector<int32_t>& cu_seqlens);

enum class PackedKernel { kPerSample, kPaddedBatch, kFlashVarlen };
const char* packed_kernel_name(PackedKernel kernel);
// The kernel for queries on `device` in `dtype` with heads of `head_dim`.
PackedKernel packed_kernel_for(at::Device device, at::ScalarType dtype, int64_t head_dim);

// Fills layout.cu_seqlens / max_length for `device` (a non-blocking copy from pinned memory on CUDA).
// The segments must tile each row of `row_length` tokens exactly (as layout_from_positions makes them).
void prepare_varlen(AttentionLayout& layout, at::Device device, int64_t row_length);

// q [B, heads, T, D], k and v [B, kv_heads, T, D] (heads a multiple of kv_heads): causal attention inside
// each segment of layout, with `kernel`; with `window` > 0 each query sees at most the last `window` keys
// (its own included: sliding-window attention). Returns [B, heads, T, D].
at::Tensor packed_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const AttentionLayout& layout, PackedKernel kernel, int64_t window = 0);

// [queries, keys] bool: true where query i (the last `queries` of `keys` positions) is at most `window` - 1
// positions after key j; all true when window is 0. And-ed with a causal mask it gives sliding-window attention.
at::Tensor window_band(int64_t queries, int64_t keys, int64_t window, at::Device device);

}  // namespace zt::model
