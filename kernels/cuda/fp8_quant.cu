// Block quantization on the GPU, bit-identical with kernels/fp8_quant.cpp: the same amax
// (max ignores NaN on both sides), the same IEEE division x / s (nvcc's default -prec-div=true),
// the same clamped cast.
//   weights 128x128: one 256-thread block per tile; amax by warp shuffles then shared memory.
//   activations 1x128: one warp per (row, 128-wide K tile), 4 elements per lane.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/fp8_cuda.h"
#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {
namespace {

constexpr int kTile = static_cast<int>(kFp8Block);

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  return v;
}

// grid (col_blocks, row_blocks), 256 threads: thread t covers column t % 128 of rows t / 128,
// t / 128 + 2, ...: a warp reads 32 consecutive floats of one row, coalesced.
__global__ void quantize_weight_kernel(const float* __restrict__ w, int64_t rows, int64_t cols, uint8_t* __restrict__ q,
                                       float* __restrict__ scale_inv) {
  __shared__ float warp_amax[8];
  const int64_t r0 = int64_t(blockIdx.y) * kTile, c0 = int64_t(blockIdx.x) * kTile;
  const int col = threadIdx.x % kTile, row_start = threadIdx.x / kTile;
  const int64_t c = c0 + col;
  float amax = kFp8AmaxFloor;
  if (c < cols)
    for (int r = row_start; r < kTile && r0 + r < rows; r += 2) amax = fmaxf(amax, fabsf(w[(r0 + r) * cols + c]));
  amax = warp_max(amax);
  if (threadIdx.x % 32 == 0) warp_amax[threadIdx.x / 32] = amax;
  __syncthreads();
  amax = warp_amax[0];
  for (int i = 1; i < 8; ++i) amax = fmaxf(amax, warp_amax[i]);
  const float s = amax / kFp8E4M3Max;
  if (threadIdx.x == 0) scale_inv[int64_t(blockIdx.y) * gridDim.x + blockIdx.x] = s;
  if (c < cols)
    for (int r = row_start; r < kTile && r0 + r < rows; r += 2)
      q[(r0 + r) * cols + c] = fp8_e4m3_from_float_saturate(w[(r0 + r) * cols + c] / s);
}

__global__ void dequantize_weight_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale_inv,
                                         int64_t rows, int64_t cols, float* __restrict__ w) {
  const int64_t col_blocks = fp8_num_blocks(cols);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * cols;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    w[i] = fp8_e4m3_to_float(q[i]) * scale_inv[(r / kTile) * col_blocks + c / kTile];
  }
}

// One warp per tile; warps = rows * k_blocks.
__global__ void quantize_act_kernel(const float* __restrict__ x, int64_t rows, int64_t k, uint8_t* __restrict__ q,
                                    float* __restrict__ scale) {
  const int64_t k_blocks = fp8_num_blocks(k);
  const int64_t tile = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  if (tile >= rows * k_blocks) return;  // whole warps exit together: tile is uniform per warp
  const int lane = threadIdx.x % 32;
  const int64_t r = tile / k_blocks, k0 = (tile % k_blocks) * kTile;
  const float* xr = x + r * k;
  float v[4];
  float amax = kFp8AmaxFloor;
  for (int j = 0; j < 4; ++j) {
    const int64_t i = k0 + lane + 32 * j;
    v[j] = i < k ? xr[i] : 0.0f;
    amax = fmaxf(amax, fabsf(v[j]));
  }
  amax = warp_max(amax);
  const float s = amax / kFp8E4M3Max;
  if (lane == 0) scale[tile] = s;
  for (int j = 0; j < 4; ++j) {
    const int64_t i = k0 + lane + 32 * j;
    if (i < k) q[r * k + i] = fp8_e4m3_from_float_saturate(v[j] / s);
  }
}

__global__ void dequantize_act_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, int64_t rows,
                                      int64_t k, float* __restrict__ x) {
  const int64_t k_blocks = fp8_num_blocks(k);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * k; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = fp8_e4m3_to_float(q[i]) * scale[(i / k) * k_blocks + (i % k) / kTile];
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

}  // namespace

void fp8_quantize_weight_128x128_cuda(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv,
                                      void* stream) {
  if (rows <= 0 || cols <= 0) return;
  const dim3 grid(static_cast<unsigned>(fp8_num_blocks(cols)), static_cast<unsigned>(fp8_num_blocks(rows)));
  quantize_weight_kernel<<<grid, 256, 0, detail::as_stream(stream)>>>(w, rows, cols, q, scale_inv);
  GRPO_CUDA_CHECK_LAUNCH();
}

void fp8_dequantize_weight_128x128_cuda(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols, float* w,
                                        void* stream) {
  if (rows <= 0 || cols <= 0) return;
  dequantize_weight_kernel<<<grid_for(rows * cols, 256), 256, 0, detail::as_stream(stream)>>>(q, scale_inv, rows, cols,
                                                                                              w);
  GRPO_CUDA_CHECK_LAUNCH();
}

void fp8_quantize_act_1x128_cuda(const float* x, int64_t rows, int64_t k, uint8_t* q, float* scale, void* stream) {
  if (rows <= 0 || k <= 0) return;
  const int64_t threads = rows * fp8_num_blocks(k) * 32;
  quantize_act_kernel<<<static_cast<unsigned>((threads + 255) / 256), 256, 0, detail::as_stream(stream)>>>(x, rows, k,
                                                                                                           q, scale);
  GRPO_CUDA_CHECK_LAUNCH();
}

void fp8_dequantize_act_1x128_cuda(const uint8_t* q, const float* scale, int64_t rows, int64_t k, float* x,
                                   void* stream) {
  if (rows <= 0 || k <= 0) return;
  dequantize_act_kernel<<<grid_for(rows * k, 256), 256, 0, detail::as_stream(stream)>>>(q, scale, rows, k, x);
  GRPO_CUDA_CHECK_LAUNCH();
}

}  // namespace grpo::kernels
