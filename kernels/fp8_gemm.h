// Block-scaled FP8 GEMM (spec §6.3, DeepSeek's fp8_gemm):
//   Y[m, n] = Σ_kb ( Σ_{k in block kb} A[m, k] · W[n, k] ) · a_scale[m, kb] · w_scale_inv[n / 128, kb]
// i.e. Y = (A·sa)(W·sw)ᵀ with FP32 accumulation. A is the activation quantized in 1x128 tiles,
// W the weight in 128x128 tiles (kernels/fp8_quant.h). K and N need not be multiples of 128.
//
// The CPU and CUDA versions take the same params struct (FlashMLA style: a plain struct of
// pointers and sizes). For CUDA the pointers are device pointers (kernels/cuda/fp8_cuda.h).
#pragma once

#include <cstdint>

namespace grpo::kernels {

struct Fp8GemmParams {
  const uint8_t* a = nullptr;          // [m, k] e4m3, row-major
  const float* a_scale = nullptr;      // [m, ceil(k/128)]
  const uint8_t* w = nullptr;          // [n, k] e4m3, row-major (nn.Linear weight layout)
  const float* w_scale_inv = nullptr;  // [ceil(n/128), ceil(k/128)]
  float* y = nullptr;                  // [m, n] row-major, overwritten
  int64_t m = 0, n = 0, k = 0;
};

// Plain reference: a scalar loop in exactly the formula's order (per-block FP32 partial sums,
// scaled, accumulated in FP32). The test oracle; slow.
void fp8_gemm_ref(const Fp8GemmParams& p);

// Fast CPU path: 128x128 weight tiles and 1x128 activation tiles are decoded once into float
// panels through the 256-entry LUT, an 8x32 register-blocked micro-kernel (vectorised, with
// AVX-512/AVX2 clones picked at run time) accumulates each 128-wide K block, and the block's
// scales are applied once per output. Tasks (128-column strips x row blocks) are spread over
// `threads` std::threads (0 = hardware concurrency). Each output element is summed in the same
// order whatever the thread count, so results are bit-identical across thread counts.
void fp8_gemm_cpu(const Fp8GemmParams& p, int threads = 0);

}  // namespace grpo::kernels
