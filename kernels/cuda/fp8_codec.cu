// e4m3 encode/decode on the GPU: the same inline bit-level functions as the CPU
// (kernels/fp8_e4m3.h), one element per thread in a grid-stride loop.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/fp8_cuda.h"
#include "kernels/fp8_e4m3.h"

namespace grpo::kernels {
namespace {

__global__ void encode_kernel(const float* __restrict__ x, uint8_t* __restrict__ q, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    q[i] = fp8_e4m3_from_float(x[i]);
}

__global__ void decode_kernel(const uint8_t* __restrict__ q, float* __restrict__ x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = fp8_e4m3_to_float(q[i]);
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

}  // namespace

void fp8_e4m3_encode_cuda(const float* x, uint8_t* q, int64_t n, void* stream) {
  if (n <= 0) return;
  encode_kernel<<<grid_for(n, 256), 256, 0, detail::as_stream(stream)>>>(x, q, n);
  GRPO_CUDA_CHECK_LAUNCH();
}

void fp8_e4m3_decode_cuda(const uint8_t* q, float* x, int64_t n, void* stream) {
  if (n <= 0) return;
  decode_kernel<<<grid_for(n, 256), 256, 0, detail::as_stream(stream)>>>(q, x, n);
  GRPO_CUDA_CHECK_LAUNCH();
}

}  // namespace grpo::kernels
