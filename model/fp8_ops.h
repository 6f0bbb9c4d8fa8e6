// FP8 block-scaled tensors as LibTorch tensors: the glue between the model and the kernels in
// kernels/ (codec, 128x128 / 1x128 quantization, FP8 GEMM). Each call picks the CUDA kernel when
// the tensor lives on a GPU (and the build has CUDA), else the CPU one. Spec §6.3.
#pragma once

#include <torch/torch.h>

namespace grpo::model {

// An FP8 matrix and its scales, DeepSeek semantics: value ≈ float(q) · scale[tile].
//   q:     [rows, cols] torch::kFloat8_e4m3fn (bit-identical to the kernels' uint8 codes)
//   scale: FP32, [ceil(rows/128), ceil(cols/128)] for 128x128 weight tiles,
//                [rows, ceil(cols/128)] for 1x128 activation tiles.
struct Fp8Matrix {
  torch::Tensor q;
  torch::Tensor scale;
};

// x: [rows, cols] (any float dtype; converted to contiguous FP32 first).
Fp8Matrix fp8_quantize_weight(const torch::Tensor& w);    // 128x128 tiles
Fp8Matrix fp8_quantize_act(const torch::Tensor& x);       // 1x128 tiles along the last dim
torch::Tensor fp8_dequantize_weight(const Fp8Matrix& w);  // -> FP32 [rows, cols]
torch::Tensor fp8_dequantize_act(const Fp8Matrix& a);     // -> FP32 [rows, cols]

// Y[m, n] = Σ_k A[m, k] W[n, k] with the block scales, FP32 accumulation, FP32 out [m, n].
// a: 1x128 activation tiles, w: 128x128 weight tiles, same K.
torch::Tensor fp8_gemm(const Fp8Matrix& a, const Fp8Matrix& w);

// The transpose of a 128x128-tiled matrix is again 128x128-tiled with the transposed scale grid:
// no requantization, no rounding (used by the input-gradient GEMM, dX = dY · W).
Fp8Matrix fp8_transpose_weight(const Fp8Matrix& w);

}  // namespace grpo::model
