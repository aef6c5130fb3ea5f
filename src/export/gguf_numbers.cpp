#include "export/gguf_numbers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace zt::exporting::gguf {

namespace {

uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

}  // namespace

// float32 -> IEEE half, round to nearest even (numpy's astype(float16)): past 65504 to infinity, a NaN keeps its
// high payload bits and stays a NaN.
uint16_t float_to_half(float value) {
  const uint32_t f = bits_of(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t magnitude = f & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) {
    const uint32_t payload = (magnitude >> 13) & 0x3FFu;
    return static_cast<uint16_t>(sign | 0x7C00u | (payload != 0 ? payload : 1u));
  }
  if (magnitude >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65536, or infinity
  if (magnitude < 0x38800000u) {  // below 2^-14: a half subnormal, in units of 2^-24
    const uint32_t exponent = magnitude >> 23;
    if (exponent < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
    const uint32_t mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((magnitude >> 23) - 112) << 10 | ((magnitude >> 13) & 0x3FFu);
  const uint32_t rest = magnitude & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry into the exponent is right
  return static_cast<uint16_t>(sign | half);
}

// float32 -> bfloat16 as ggml_compute_fp32_to_bf16 (and gguf-py's BF16): round to nearest even, a NaN made quiet.
uint16_t float_to_bf16(float value) {
  const uint32_t u = bits_of(value);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 64u);
  return static_cast<uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

// Q8_0 blocks of 32 as ggml's quantize_row_q8_0_ref: d = max|x| / 127 (stored as half), q = round(x / d) away
// from zero, computed as x * (1 / d) in float32 like gguf-py.
void quantize_q8_0(const float* x, uint64_t num_elements, uint8_t* out) {
  for (uint64_t b = 0; b < num_elements / 32; ++b, x += 32, out += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t d_half = float_to_half(d);
    std::memcpy(out, &d_half, 2);
    for (int j = 0; j < 32; ++j) out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * inverse)));
  }
}

}  // namespace zt::exporting::gguf
