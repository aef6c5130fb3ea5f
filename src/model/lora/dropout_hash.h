// The counter-based hash behind LoRA dropout, shared by the CPU loop (lora_linear.cpp) and the CUDA kernel
// (dropout_kernel.cu) so that both draw the same mask for a seed: element i's 32-bit draw is two rounds of
// an integer mixer over a Weyl sequence keyed by the seed's halves; it is kept when draw >= p * 2^32.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ZT_HOST_DEVICE __host__ __device__
#else
#define ZT_HOST_DEVICE
#endif

namespace zt::model {

inline constexpr uint32_t kDropoutWeyl = 0x9E3779B9u, kDropoutMulA = 0x7FEB352Du, kDropoutMulB = 0x846CA68Bu;

ZT_HOST_DEVICE inline uint32_t dropout_mix32(uint32_t h) {
  h ^= h >> 16;
  h *= kDropoutMulA;
  h ^= h >> 15;
  h *= kDropoutMulB;
  h ^= h >> 16;
  return h;
}

ZT_HOST_DEVICE inline uint32_t dropout_draw(uint32_t index, uint32_t key_low, uint32_t key_high) {
  return dropout_mix32(dropout_mix32(index * kDropoutWeyl + key_low) ^ key_high);
}

}  // namespace zt::model
