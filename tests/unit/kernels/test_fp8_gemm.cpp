// Block-scaled FP8 GEMM on the CPU: the scalar reference and the fast path against an FP64
// GEMM of the dequantized operands, on random shapes including ragged ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {
namespace {

struct Problem {
  int64_t m, n, k;
  std::vector<uint8_t> a, w;
  std::vector<float> a_scale, w_scale_inv, a_dq, w_dq;

  Problem(int64_t m_, int64_t n_, int64_t k_, uint32_t seed) : m(m_), n(n_), k(k_) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(m * k), wf(n * k);
    // Tile magnitudes vary so that every scale matters and a misplaced one shows.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) x[i * k + j] = normal(rng) * (1.0f + static_cast<float>((i + 3 * (j / 128)) % 5));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        wf[i * k + j] = normal(rng) * 0.02f * std::ldexp(1.0f, static_cast<int>((i / 128 + j / 128) % 4));
    const int64_t kb = fp8_num_blocks(k);
    a.resize(m * k);
    w.resize(n * k);
    a_scale.resize(m * kb);
    w_scale_inv.resize(fp8_num_blocks(n) * kb);
    a_dq.resize(m * k);
    w_dq.resize(n * k);
    fp8_quantize_act_1x128(x.data(), m, k, a.data(), a_scale.data());
    fp8_quantize_weight_128x128(wf.data(), n, k, w.data(), w_scale_inv.data());
    fp8_dequantize_act_1x128(a.data(), a_scale.data(), m, k, a_dq.data());
    fp8_dequantize_weight_128x128(w.data(), w_scale_inv.data(), n, k, w_dq.data());
  }

  Fp8GemmParams params(float* y) const {
    return Fp8GemmParams{a.data(), a_scale.data(), w.data(), w_scale_inv.data(), y, m, n, k};
  }

  std::vector<double> fp64_reference() const {
    std::vector<double> y(m * n, 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t t = 0; t < k; ++t) acc += static_cast<double>(a_dq[i * k + t]) * w_dq[j * k + t];
        y[i * n + j] = acc;
      }
    return y;
  }
};

double relative_error(const std::vector<float>& y, const std::vector<double>& ref) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    num += (y[i] - ref[i]) * (y[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

struct Shape {
  int64_t m, n, k;
};

// Ragged on purpose: K and N not multiples of 128, M not a multiple of the 8-row micro-kernel.
const Shape kShapes[] = {
    {1, 1, 1},       {1, 129, 130}, {3, 128, 128},  {7, 200, 300},  {17, 257, 385}, {65, 576, 640},
    {130, 300, 520}, {9, 64, 1000}, {64, 384, 256}, {300, 140, 200}};  // the last spans two 256-row tasks

TEST(Fp8Gemm, ReferenceAndFastPathMatchFp64OnDequantizedInputs) {
  uint32_t seed = 10;
  for (const Shape& s : kShapes) {
    Problem pr(s.m, s.n, s.k, seed++);
    const auto ref = pr.fp64_reference();
    std::vector<float> y_ref(s.m * s.n, std::numeric_limits<float>::quiet_NaN());
    std::vector<float> y_fast(s.m * s.n, std::numeric_limits<float>::quiet_NaN());  // poison: all written?
    fp8_gemm_ref(pr.params(y_ref.data()));
    fp8_gemm_cpu(pr.params(y_fast.data()), 2);
    // FP32 accumulation of K exact-ish products against FP64: rounding ~1e-7 per add, growing
    // with sqrt(K) at most for random signs; 1e-5 is the bound with margin.
    EXPECT_LE(relative_error(y_ref, ref), 1e-5) << s.m << "x" << s.n << "x" << s.k;
    EXPECT_LE(relative_error(y_fast, ref), 1e-5) << s.m << "x" << s.n << "x" << s.k;
  }
}

TEST(Fp8Gemm, FastPathIsBitIdenticalAcrossThreadCounts) {
  Problem pr(150, 400, 700, 99);
  std::vector<float> y1(pr.m * pr.n), y3(pr.m * pr.n);
  fp8_gemm_cpu(pr.params(y1.data()), 1);
  fp8_gemm_cpu(pr.params(y3.data()), 3);
  for (size_t i = 0; i < y1.size(); ++i) ASSERT_EQ(std::memcmp(&y1[i], &y3[i], 4), 0) << i;
}

TEST(Fp8Gemm, NaNCodeInARowPoisonsOnlyThatRow) {
  Problem pr(9, 140, 260, 5);
  pr.a[4 * pr.k + 200] = 0x7F;  // NaN in row 4, second K block
  std::vector<float> y(pr.m * pr.n), y_ref(pr.m * pr.n);
  fp8_gemm_cpu(pr.params(y.data()), 2);
  fp8_gemm_ref(pr.params(y_ref.data()));
  for (int64_t i = 0; i < pr.m; ++i)
    for (int64_t j = 0; j < pr.n; ++j) {
      EXPECT_EQ(std::isnan(y[i * pr.n + j]), i == 4) << i << "," << j;
      EXPECT_EQ(std::isnan(y_ref[i * pr.n + j]), i == 4) << i << "," << j;
    }
}

}  // namespace
}  // namespace grpo::kernels
