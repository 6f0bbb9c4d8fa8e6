#include <gtest/gtest.h>

#include <cmath>

#include "model/config.h"
#include "model/rope.h"

using grpo::model::ModelConfig;

namespace {
ModelConfig v3() {
  ModelConfig c;  // defaults are the 671B values
  c.max_position_embeddings = 163840;
  c.rope_scaling = grpo::model::RopeScaling{"yarn", 40.0, 4096, 32.0, 1.0, 1.0, 1.0};
  return c;
}
}  // namespace

// spec §3.2: for V3 low = 10, high = 23; i <= 10 keeps f_i, i >= 23 uses f_i/40, i = 16 ≈ 0.55 f_i.
TEST(Rope, YarnFrequenciesOfV3) {
  auto f = grpo::model::rope_inv_freq(v3());
  ASSERT_EQ(f.size(0), 32);
  for (int i = 0; i < 32; ++i) {
    const double base = std::pow(10000.0, -2.0 * i / 64);
    const double ramp = std::clamp((i - 10.0) / 13.0, 0.0, 1.0);
    const double expected = base * (1 - ramp) + base / 40 * ramp;
    // FP32 frequencies computed from FP32 θ^(2i/64): relative error ~1e-7.
    EXPECT_NEAR(f[i].item<double>() / expected, 1.0, 1e-6) << "i = " << i;
    if (i <= 10) EXPECT_NEAR(f[i].item<double>() / base, 1.0, 1e-6);
    if (i >= 23) EXPECT_NEAR(f[i].item<double>() / (base / 40), 1.0, 1e-6);
  }
  EXPECT_NEAR(f[16].item<double>() / std::pow(10000.0, -32.0 / 64), 0.55, 0.001);
  EXPECT_DOUBLE_EQ(grpo::model::rope_attention_factor(v3()), 1.0);
}

TEST(Rope, PlainRopeWithoutScaling) {
  ModelConfig c;
  c.rope_scaling.reset();
  auto f = grpo::model::rope_inv_freq(c);
  // FP32 frequencies: ~1e-7 relative.
  EXPECT_NEAR(f[5].item<double>() / std::pow(10000.0, -10.0 / 64), 1.0, 1e-6);
}

// Interleaved pairs (x[2i], x[2i+1]) rotate by φ_i = pos·f_i, in place (REF convention).
TEST(Rope, InterleavedPairsHandComputed) {
  ModelConfig c;
  c.rope_scaling.reset();
  c.qk_rope_head_dim = 4;
  c.rope_theta = 100.0;  // f = [1, 0.1]
  grpo::model::RotaryEmbedding rope(c);
  auto pos = torch::tensor({{3}}, torch::kLong);  // [1, 1]
  auto [cos, sin] = rope.cos_sin(pos, torch::kFloat64);
  auto x = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({1, 1, 4});
  auto y = grpo::model::apply_rope_interleaved(x, cos, sin).view({4});
  const double a = 3.0, b = 0.3;
  const double expected[4] = {1 * std::cos(a) - 2 * std::sin(a), 1 * std::sin(a) + 2 * std::cos(a),
                              3 * std::cos(b) - 4 * std::sin(b), 3 * std::sin(b) + 4 * std::cos(b)};
  // Angles are FP32 (as transformers computes them): ~1e-7 relative.
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i].item<double>(), expected[i], 1e-6) << i;
  // Per head as well: [B, S, H, R] broadcasts cos/sin over H.
  auto xh = x.view({1, 1, 1, 4}).expand({1, 1, 3, 4});
  auto yh = grpo::model::apply_rope_interleaved(xh, cos, sin);
  EXPECT_TRUE(torch::allclose(yh[0][0][2], y));
}
