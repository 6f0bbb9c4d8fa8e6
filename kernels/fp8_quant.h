// Block-scaled FP8 quantization (spec §6.3): weights in 128x128 tiles, activations in 1x128
// tiles along K, one FP32 scale per tile.
//
// Scale semantics follow DeepSeek's checkpoints: the stored FP32 value is `scale_inv`, and
// dequantization MULTIPLIES, x ≈ float(q) * scale_inv. Quantization, as DeepGEMM's
// per_block_cast_to_fp8 and DeepSeek's act_quant:
//   amax = max(max |x| over the tile, 1e-4);  s = amax / 448;  q = e4m3(clamp(x / s, ±448))
// and s is stored as the tile's scale_inv. Tiles at the right/bottom edge are partial when a
// dimension is not a multiple of 128 (kv_a_proj_with_mqa has 576 = 4.5 * 128 rows, so 5 scale
// rows); their amax is over the elements that exist, which equals zero-padding to 128 first.
// Activations accept a ragged K the same way (DeepSeek requires K % 128 == 0; we do not).
#pragma once

#include <cstdint>

#include "kernels/fp8_e4m3.h"  // GRPO_HD

namespace grpo::kernels {

inline constexpr int64_t kFp8Block = 128;      // tile edge, weights and activations
inline constexpr float kFp8AmaxFloor = 1e-4f;  // keeps all-zero tiles from dividing by zero

GRPO_HD constexpr int64_t fp8_num_blocks(int64_t dim) { return (dim + kFp8Block - 1) / kFp8Block; }

// w [rows, cols] row-major -> q [rows, cols] e4m3, scale_inv [ceil(rows/128), ceil(cols/128)].
void fp8_quantize_weight_128x128(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv);
// q, scale_inv as above -> w [rows, cols].
void fp8_dequantize_weight_128x128(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols, float* w);

// x [rows, k] row-major -> q [rows, k] e4m3, scale [rows, ceil(k/128)] (a scale_inv, too).
void fp8_quantize_act_1x128(const float* x, int64_t rows, int64_t k, uint8_t* q, float* scale);
// q, scale as above -> x [rows, k].
void fp8_dequantize_act_1x128(const uint8_t* q, const float* scale, int64_t rows, int64_t k, float* x);

}  // namespace grpo::kernels
