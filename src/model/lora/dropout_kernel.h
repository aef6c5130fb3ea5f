// The counter-based LoRA dropout as one CUDA kernel (compiled only with ZTUNE_CUDA): the same hash,
// threshold and scaling as the CPU loop in lora_linear.cpp, so the masks are bitwise equal for a seed.
// Plain types only, so that nvcc compiles it without the torch headers.
#pragma once

#include <cstdint>

namespace zt::model {

enum class DropoutElement { kFloat, kBFloat16, kHalf };

// out[i] = draw(i) >= threshold ? in[i] * scale : 0 for i < n, on `stream` (a cudaStream_t).
void launch_seeded_dropout(const void* in, void* out, int64_t n, DropoutElement element, uint32_t key_low,
                           uint32_t key_high, uint32_t threshold, float scale, void* stream);

}  // namespace zt::model
