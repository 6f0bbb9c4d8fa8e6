// e4m3 codec: decoding checked against the format's definition (spec §6.2), encoding against a
// brute-force nearest-value search over all codes. Bit-exactness with torch itself is the job of
// tests/reference/test_fp8_codec.py; these tests pin the same behaviour without Python.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "kernels/fp8_e4m3.h"

namespace grpo::kernels {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Value of a code straight from the definition: (-1)^s 2^(e-7) (1 + m/8), subnormal 2^-6 m/8.
double definition_value(int code) {
  const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  const double mag = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
  return s ? -mag : mag;
}

TEST(Fp8Codec, DecodesEveryCodeAsTheFormatDefines) {
  for (int c = 0; c < 256; ++c) {
    const float v = fp8_e4m3_to_float(static_cast<uint8_t>(c));
    if ((c & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(v)) << c;
      EXPECT_EQ(std::signbit(v), c >= 0x80) << c;
      EXPECT_EQ(bits(v) & 0x7FFFFFFFu, 0x7FF00000u) << "torch's NaN payload, code " << c;
      continue;
    }
    EXPECT_EQ(static_cast<double>(v), definition_value(c)) << c;
    EXPECT_EQ(std::signbit(v), c >= 0x80) << c;  // 0x80 is -0
    EXPECT_EQ(bits(fp8_e4m3_lut()[c]), bits(v)) << c;
  }
  EXPECT_EQ(fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x08), 0.015625f);     // smallest normal 2^-6
  EXPECT_EQ(fp8_e4m3_to_float(0x01), 0.001953125f);  // smallest subnormal 2^-9
}

TEST(Fp8Codec, EveryFiniteCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(fp8_e4m3_from_float(fp8_e4m3_to_float(static_cast<uint8_t>(c))), c) << c;
  }
}

TEST(Fp8Codec, SpecialValuesMatchTorch) {
  // Values measured with torch 2.11: x.to(torch.float8_e4m3fn).view(torch.uint8).
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(fp8_e4m3_from_float(448.0f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(460.0f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(464.0f), 0x7E);  // tie 448|480: 448 has the even mantissa
  EXPECT_EQ(fp8_e4m3_from_float(465.0f), 0x7F);  // rounds onto the NaN pattern, no saturation
  EXPECT_EQ(fp8_e4m3_from_float(-470.0f), 0xFF);
  EXPECT_EQ(fp8_e4m3_from_float(480.0f), 0x7F);
  EXPECT_EQ(fp8_e4m3_from_float(1e9f), 0x7F);
  EXPECT_EQ(fp8_e4m3_from_float(inf), 0x7F);
  EXPECT_EQ(fp8_e4m3_from_float(-inf), 0xFF);
  EXPECT_EQ(fp8_e4m3_from_float(nan), 0x7F);
  EXPECT_EQ(fp8_e4m3_from_float(-nan), 0xFF);
  EXPECT_EQ(fp8_e4m3_from_float(-0.0f), 0x80);
  EXPECT_EQ(fp8_e4m3_from_float(1.0625f), 0x38);                // tie 1|1.125 -> mantissa 0
  EXPECT_EQ(fp8_e4m3_from_float(1.1875f), 0x3A);                // tie 1.125|1.25 -> mantissa 2
  EXPECT_EQ(fp8_e4m3_from_float(std::ldexp(1.0f, -10)), 0x00);  // tie 0|2^-9 -> 0
  EXPECT_EQ(fp8_e4m3_from_float(std::ldexp(3.0f, -10)), 0x02);  // tie 1|2 (x 2^-9) -> 2
  EXPECT_EQ(fp8_e4m3_from_float(std::ldexp(1.0001f, -10)), 0x01);
  EXPECT_EQ(fp8_e4m3_from_float(std::ldexp(15.0f, -10)), 0x08);  // tie 7|8 subnormal -> normal
  EXPECT_EQ(fp8_e4m3_from_float(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(fp8_e4m3_from_float(-std::numeric_limits<float>::denorm_min()), 0x80);
}

// Independent oracle: the nearest code by exhaustive search, ties to the even code (the even
// mantissa), with the NaN pattern 0x7F standing for 480 = 1.875 * 2^8 as its bits would, and
// |x| >= 480 NaN outright.
uint8_t nearest_code(float x) {
  if (std::isnan(x)) return std::signbit(x) ? 0xFF : 0x7F;
  const double a = std::fabs(static_cast<double>(x));
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (a >= 480.0) return sign | 0x7F;
  int best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (int c = 0; c <= 0x7F; ++c) {
    const double v = c == 0x7F ? 480.0 : definition_value(c);
    const double d = std::fabs(v - a);
    if (d < best_d || (d == best_d && (c & 1) == 0)) {
      best = c;
      best_d = d;
    }
  }
  return sign | static_cast<uint8_t>(best);
}

TEST(Fp8Codec, EncodesRandomFloatsToTheNearestCode) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-520.0f, 520.0f);
  std::uniform_int_distribution<int> exponent(-20, 10);
  for (int i = 0; i < 200000; ++i) {
    float x;
    switch (i % 4) {
      case 0:
        x = normal(rng);
        break;
      case 1:
        x = uni(rng);
        break;
      case 2:
        x = std::ldexp(normal(rng), exponent(rng));
        break;  // subnormals and tiny values
      default: {
        // Exact midpoints between neighbouring codes: the ties that round-to-even decides.
        const int c = static_cast<int>(rng() % 0x7F);
        const double mid = 0.5 * (definition_value(c) + (c == 0x7E ? 480.0 : definition_value(c + 1)));
        x = static_cast<float>(rng() % 2 ? mid : -mid);
      }
    }
    ASSERT_EQ(fp8_e4m3_from_float(x), nearest_code(x)) << "x = " << x;
  }
}

TEST(Fp8Codec, BulkEncodeDecodeMatchScalar) {
  std::vector<float> x = {0.3f, -2.5f, 500.0f, 1e-4f, -0.0f};
  std::vector<uint8_t> q(x.size());
  std::vector<float> back(x.size());
  fp8_e4m3_encode(x.data(), q.data(), static_cast<int64_t>(x.size()));
  fp8_e4m3_decode(q.data(), back.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(q[i], fp8_e4m3_from_float(x[i]));
    EXPECT_EQ(bits(back[i]), bits(fp8_e4m3_to_float(q[i])));
  }
}

}  // namespace
}  // namespace grpo::kernels
