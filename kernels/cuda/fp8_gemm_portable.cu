// Portable block-scaled FP8 GEMM (sm_80 and up, any shape): the fallback and the GPU's own
// reference. CUDA cores, FP32 FMA on decoded values.
//
// Block tile 64 (M) x 64 (N), 256 threads, each thread 4x4 outputs; K walks in steps of 32
// through shared memory, decoded from e4m3 on the way in. A 64-column tile lies inside one
// 128-column weight-scale block, so one w_scale_inv per (tile, kb). The per-block partial sums
// live in registers for 128 of K and are then scaled and added to the FP32 accumulators:
// the same per-block structure as the CPU reference, so results agree to FP32 rounding.
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/fp8_cuda.h"
#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {

void fp8_gemm_portable_cuda(const Fp8GemmParams& p, void* stream);  // used by fp8_gemm_cuda.cu

namespace {

constexpr int kBm = 64, kBn = 64, kBk = 32, kThreads = 256;
constexpr int kPad = 4;  // keeps the k-major shared tiles off a single bank column

// Loads a 64 x 32 byte tile of a row-major [rows, k] e4m3 matrix, decoded, into dst[k][row].
// Thread t takes row t / 4 and 8 consecutive k at (t % 4) * 8; 8-byte loads when in bounds and
// aligned, byte loads at the ragged edges.
__device__ __forceinline__ void load_tile(const uint8_t* __restrict__ src, int64_t rows, int64_t k, int64_t row0,
                                          int64_t k0, float (*dst)[kBm + kPad]) {
  const int r = threadIdx.x / 4, kk = (threadIdx.x % 4) * 8;
  const int64_t gr = row0 + r, gk = k0 + kk;
  uint8_t b[8];
  if (gr < rows && gk + 8 <= k && ((gr * k + gk) % 8) == 0) {
    const uint2 v = *reinterpret_cast<const uint2*>(src + gr * k + gk);
    for (int j = 0; j < 4; ++j) {
      b[j] = static_cast<uint8_t>(v.x >> (8 * j));
      b[4 + j] = static_cast<uint8_t>(v.y >> (8 * j));
    }
  } else {
    for (int j = 0; j < 8; ++j) b[j] = (gr < rows && gk + j < k) ? src[gr * k + gk + j] : uint8_t{0};
  }
  for (int j = 0; j < 8; ++j) dst[kk + j][r] = fp8_e4m3_to_float(b[j]);
}

__global__ void __launch_bounds__(kThreads) fp8_gemm_portable_kernel(Fp8GemmParams p) {
  __shared__ float as[kBk][kBm + kPad];  // [k][m]
  __shared__ float ws[kBk][kBn + kPad];  // [k][n]
  const int64_t m0 = int64_t(blockIdx.y) * kBm, n0 = int64_t(blockIdx.x) * kBn;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t k_blocks = fp8_num_blocks(p.k);
  const int64_t nb = n0 / kFp8Block;

  float acc[4][4] = {};
  for (int64_t kb = 0; kb < k_blocks; ++kb) {
    float part[4][4] = {};
    const int64_t k_end = min(p.k, (kb + 1) * kFp8Block);
    for (int64_t k0 = kb * kFp8Block; k0 < k_end; k0 += kBk) {
      load_tile(p.a, p.m, p.k, m0, k0, as);
      load_tile(p.w, p.n, p.k, n0, k0, ws);
      __syncthreads();
#pragma unroll 8
      for (int k = 0; k < kBk; ++k) {
        float a[4], b[4];
        for (int i = 0; i < 4; ++i) a[i] = as[k][ty * 4 + i];
        for (int j = 0; j < 4; ++j) b[j] = ws[k][tx * 4 + j];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) part[i][j] = fmaf(a[i], b[j], part[i][j]);
      }
      __syncthreads();
    }
    const float sw = p.w_scale_inv[nb * k_blocks + kb];
    for (int i = 0; i < 4; ++i) {
      const int64_t m = m0 + ty * 4 + i;
      const float s = m < p.m ? p.a_scale[m * k_blocks + kb] * sw : 0.0f;
      for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(part[i][j], s, acc[i][j]);
    }
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= p.m) continue;
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx * 4 + j;
      if (n < p.n) p.y[m * p.n + n] = acc[i][j];
    }
  }
}

}  // namespace

void fp8_gemm_portable_cuda(const Fp8GemmParams& p, void* stream) {
  if (p.m <= 0 || p.n <= 0) return;
  if (p.k <= 0) {
    GRPO_CUDA_CHECK(cudaMemsetAsync(p.y, 0, sizeof(float) * p.m * p.n, detail::as_stream(stream)));
    return;
  }
  const dim3 grid(static_cast<unsigned>((p.n + kBn - 1) / kBn), static_cast<unsigned>((p.m + kBm - 1) / kBm));
  fp8_gemm_portable_kernel<<<grid, kThreads, 0, detail::as_stream(stream)>>>(p);
  GRPO_CUDA_CHECK_LAUNCH();
}

}  // namespace grpo::kernels
