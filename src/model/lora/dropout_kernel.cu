#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "model/lora/dropout_hash.h"
#include "model/lora/dropout_kernel.h"

namespace zt::model {
namespace {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
// Round to nearest even, as c10::BFloat16 and c10::Half do on the CPU.
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

template <typename T>
__global__ void seeded_dropout_kernel(const T* in, T* out, int64_t n, uint32_t key_low, uint32_t key_high,
                                      uint32_t threshold, float scale) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint32_t h = dropout_draw(static_cast<uint32_t>(i), key_low, key_high);
    // __fmul_rn: no contraction into an FMA, so the product rounds as the CPU's does.
    out[i] = h >= threshold ? from_float<T>(__fmul_rn(to_float(in[i]), scale)) : from_float<T>(0.0f);
  }
}

template <typename T>
void launch(const void* in, void* out, int64_t n, uint32_t key_low, uint32_t key_high, uint32_t threshold, float scale,
            cudaStream_t stream) {
  const int threads = 256;
  const int64_t wanted = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(wanted < 65535 * 8 ? wanted : 65535 * 8);
  seeded_dropout_kernel<T><<<blocks, threads, 0, stream>>>(static_cast<const T*>(in), static_cast<T*>(out), n, key_low,
                                                           key_high, threshold, scale);
}

}  // namespace

void launch_seeded_dropout(const void* in, void* out, int64_t n, DropoutElement element, uint32_t key_low,
                           uint32_t key_high, uint32_t threshold, float scale, void* stream) {
  if (n == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (element) {
    case DropoutElement::kFloat: launch<float>(in, out, n, key_low, key_high, threshold, scale, s); break;
    case DropoutElement::kBFloat16: launch<__nv_bfloat16>(in, out, n, key_low, key_high, threshold, scale, s); break;
    case DropoutElement::kHalf: launch<__half>(in, out, n, key_low, key_high, threshold, scale, s); break;
  }
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) throw std::runtime_error(std::string("seeded dropout kernel: ") + cudaGetErrorString(error));
}

}  // namespace zt::model
