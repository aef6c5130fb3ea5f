// The number formats GGUF out writes, rounded as the gguf package (numpy and ggml's reference code) rounds them.
#pragma once

#include <cstdint>

namespace zt::exporting::gguf {

// float32 -> IEEE half, round to nearest even (numpy's astype(float16)).
uint16_t float_to_half(float value);
// float32 -> bfloat16 as ggml_compute_fp32_to_bf16: round to nearest even, a NaN made quiet by setting bit 6.
uint16_t float_to_bf16(float value);
// Q8_0: `num_elements` / 32 blocks of 34 bytes each (a half scale, 32 signed bytes) into `out`.
void quantize_q8_0(const float* x, uint64_t num_elements, uint8_t* out);

}  // namespace zt::exporting::gguf
