#include "kernels/fp8_quant.h"

#include <algorithm>
#include <cmath>

#include "kernels/fp8_e4m3.h"

namespace grpo::kernels {
namespace {

// The one quantization step both tile shapes share; `s` is amax / 448 of the element's tile.
inline uint8_t quantize_one(float x, float s) { return fp8_e4m3_from_float_saturate(x / s); }

}  // namespace

void fp8_quantize_weight_128x128(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv) {
  const int64_t col_blocks = fp8_num_blocks(cols);
  for (int64_t rb = 0; rb < fp8_num_blocks(rows); ++rb) {
    const int64_t r0 = rb * kFp8Block, r1 = std::min(rows, r0 + kFp8Block);
    for (int64_t cb = 0; cb < col_blocks; ++cb) {
      const int64_t c0 = cb * kFp8Block, c1 = std::min(cols, c0 + kFp8Block);
      float amax = kFp8AmaxFloor;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const float s = amax / kFp8E4M3Max;
      scale_inv[rb * col_blocks + cb] = s;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) q[r * cols + c] = quantize_one(w[r * cols + c], s);
    }
  }
}

void fp8_dequantize_weight_128x128(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols, float* w) {
  const float* lut = fp8_e4m3_lut();
  const int64_t col_blocks = fp8_num_blocks(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* s_row = scale_inv + (r / kFp8Block) * col_blocks;
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = lut[q[r * cols + c]] * s_row[c / kFp8Block];
  }
}

void fp8_quantize_act_1x128(const float* x, int64_t rows, int64_t k, uint8_t* q, float* scale) {
  const int64_t k_blocks = fp8_num_blocks(k);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * kFp8Block, k1 = std::min(k, k0 + kFp8Block);
      const float* xr = x + r * k;
      float amax = kFp8AmaxFloor;
      for (int64_t i = k0; i < k1; ++i) amax = std::max(amax, std::fabs(xr[i]));
      const float s = amax / kFp8E4M3Max;
      scale[r * k_blocks + kb] = s;
      for (int64_t i = k0; i < k1; ++i) q[r * k + i] = quantize_one(xr[i], s);
    }
  }
}

void fp8_dequantize_act_1x128(const uint8_t* q, const float* scale, int64_t rows, int64_t k, float* x) {
  const float* lut = fp8_e4m3_lut();
  const int64_t k_blocks = fp8_num_blocks(k);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) x[r * k + i] = lut[q[r * k + i]] * scale[r * k_blocks + i / kFp8Block];
}

}  // namespace grpo::kernels
