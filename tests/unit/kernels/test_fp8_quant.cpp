// Block quantization: tile geometry (partial edge tiles, the 5-row scale grid of a 576-row
// weight), scale = amax/448 with the 1e-4 floor, scales that multiply, and the rounding bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {
namespace {

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  // Magnitudes differ by tile so that a scale read from the wrong tile shows.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      x[r * cols + c] = normal(rng) * std::ldexp(1.0f, static_cast<int>((r / 128 + 2 * (c / 128)) % 7) - 3);
  return x;
}

// e4m3 keeps 3 mantissa bits: rounding moves a normal value by at most 2^-4 of itself; below
// 2^-6 the step is 2^-9, so at most 2^-10 absolute. In units of the tile scale s.
void expect_within_rounding(float x, float dq, float s, const char* what) {
  const double bound = s * (std::ldexp(std::fabs(x / s), -4) + std::ldexp(1.0, -10)) * (1 + 1e-6);
  EXPECT_LE(std::fabs(static_cast<double>(dq) - x), bound) << what << ": x=" << x << " dq=" << dq << " s=" << s;
}

TEST(Fp8Quant, WeightTilesOf576RowsUseFiveScaleRows) {
  const int64_t rows = 576, cols = 300;  // kv_a_proj_with_mqa's 576 rows; 300 = 2 full + 44 cols
  auto w = random_matrix(rows, cols, 1);
  for (int64_t r = 256; r < 384; ++r)  // one all-zero tile: the amax floor keeps its scale finite
    for (int64_t c = 128; c < 256; ++c) w[r * cols + c] = 0.0f;
  ASSERT_EQ(fp8_num_blocks(rows), 5);
  ASSERT_EQ(fp8_num_blocks(cols), 3);
  std::vector<uint8_t> q(rows * cols);
  std::vector<float> s(5 * 3, -1.0f), dq(rows * cols);
  fp8_quantize_weight_128x128(w.data(), rows, cols, q.data(), s.data());
  fp8_dequantize_weight_128x128(q.data(), s.data(), rows, cols, dq.data());

  for (int64_t rb = 0; rb < 5; ++rb) {
    for (int64_t cb = 0; cb < 3; ++cb) {
      float amax = 0.0f;
      int max_code_mag = 0;
      for (int64_t r = rb * 128; r < std::min(rows, rb * 128 + 128); ++r)
        for (int64_t c = cb * 128; c < std::min(cols, cb * 128 + 128); ++c) {
          amax = std::max(amax, std::fabs(w[r * cols + c]));
          max_code_mag = std::max(max_code_mag, q[r * cols + c] & 0x7F);
        }
      const float expect = std::max(amax, 1e-4f) / 448.0f;
      EXPECT_EQ(s[rb * 3 + cb], expect) << rb << "," << cb;
      // The largest element lands on ±448 exactly (code 0x7E), unless the tile is all zero.
      EXPECT_EQ(max_code_mag, amax > 0 ? 0x7E : 0x00) << rb << "," << cb;
    }
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float scale = s[(i / cols / 128) * 3 + (i % cols) / 128];
    // Dequantization multiplies by scale_inv.
    EXPECT_EQ(dq[i], fp8_e4m3_to_float(q[i]) * scale);
    expect_within_rounding(w[i], dq[i], scale, "weight");
  }
}

TEST(Fp8Quant, WeightTileScaleDependsOnlyOnItsTile) {
  const int64_t rows = 200, cols = 260;
  auto w = random_matrix(rows, cols, 2);
  std::vector<uint8_t> q(rows * cols);
  std::vector<float> s1(2 * 3), s2(2 * 3);
  fp8_quantize_weight_128x128(w.data(), rows, cols, q.data(), s1.data());
  w[130 * cols + 259] = 1000.0f;  // inside tile (1, 2), the partial corner tile
  fp8_quantize_weight_128x128(w.data(), rows, cols, q.data(), s2.data());
  for (int i = 0; i < 6; ++i) {
    if (i == 1 * 3 + 2)
      EXPECT_EQ(s2[i], 1000.0f / 448.0f);
    else
      EXPECT_EQ(s1[i], s2[i]) << i;
  }
}

TEST(Fp8Quant, ActivationTilesRunAlongKIncludingARaggedLastTile) {
  const int64_t rows = 5, k = 300;
  auto x = random_matrix(rows, k, 3);
  for (int64_t i = 0; i < 128; ++i) x[2 * k + 128 + i] = 0.0f;  // row 2, tile 1 all zero
  std::vector<uint8_t> q(rows * k);
  std::vector<float> s(rows * 3), dq(rows * k);
  fp8_quantize_act_1x128(x.data(), rows, k, q.data(), s.data());
  fp8_dequantize_act_1x128(q.data(), s.data(), rows, k, dq.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t kb = 0; kb < 3; ++kb) {
      float amax = 0.0f;
      for (int64_t i = kb * 128; i < std::min(k, kb * 128 + 128); ++i) amax = std::max(amax, std::fabs(x[r * k + i]));
      EXPECT_EQ(s[r * 3 + kb], std::max(amax, 1e-4f) / 448.0f) << r << "," << kb;
    }
  }
  EXPECT_EQ(s[2 * 3 + 1], 1e-4f / 448.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) {
      EXPECT_EQ(dq[r * k + i], fp8_e4m3_to_float(q[r * k + i]) * s[r * 3 + i / 128]);
      expect_within_rounding(x[r * k + i], dq[r * k + i], s[r * 3 + i / 128], "activation");
    }
}

TEST(Fp8Quant, NeverProducesNaNFromFiniteInput) {
  // x / s can round a hair above 448; without the clamp e4m3fn would not saturate (465 -> NaN).
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const int64_t rows = 64, k = 1024;
  std::vector<float> x(rows * k);
  for (auto& v : x) v = uni(rng) * 3e4f;
  std::vector<uint8_t> q(rows * k);
  std::vector<float> s(rows * 8);
  fp8_quantize_act_1x128(x.data(), rows, k, q.data(), s.data());
  for (uint8_t c : q) ASSERT_NE(c & 0x7F, 0x7F);
}

}  // namespace
}  // namespace grpo::kernels
