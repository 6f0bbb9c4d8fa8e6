// FP8 e4m3 codec, bit-exact with torch.float8_e4m3fn (spec §6.2).
//
// Layout `s eeee mmm`, exponent bias 7, no infinity, one NaN per sign (S.1111.111), max 448.
// float -> e4m3 rounds to nearest, ties to even, like PyTorch's C10 conversion. Measured against
// torch 2.11 (tests/reference/test_fp8_codec.py): |x| <= 464 rounds to 448 (464 is the tie
// between 448 and the NaN pattern 1.875*2^8, and 448's mantissa is even); 464 < |x| < 480 rounds
// onto the NaN pattern; |x| >= 480, ±inf and NaN give NaN. The sign is always kept. Callers that
// want saturation (the quantizers) clamp to ±448 first, as DeepSeek does.
//
// The inline functions here compile for host and device (GRPO_HD), so the CUDA kernels and the
// CPU code share one definition.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define GRPO_HD __host__ __device__ __forceinline__
#else
#define GRPO_HD inline
#endif

namespace grpo::kernels {

inline constexpr float kFp8E4M3Max = 448.0f;

GRPO_HD uint32_t fp8_float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

GRPO_HD float fp8_bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// float -> e4m3 code. Integer arithmetic only, so the result never depends on the FPU's rounding
// mode or on flush-to-zero settings (CUDA's -ftz would flush fp32 subnormal inputs otherwise).
GRPO_HD uint8_t fp8_e4m3_from_float(float f) {
  const uint32_t bits = fp8_float_bits(f);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t a = bits & 0x7FFFFFFFu;      // |f|
  if (a >= 0x43F00000u) return sign | 0x7Fu;  // |f| >= 480 (1.875 * 2^8), ±inf, NaN: NaN
  const uint32_t exp = a >> 23;
  if (exp < 121u) {
    // |f| < 2^-6: the result is an e4m3 subnormal m * 2^-9 (m = 8 lands exactly on the smallest
    // normal, code 0x08, so the carry needs no special case). m = round_even(|f| * 2^9).
    const uint32_t mant = (a & 0x7FFFFFu) | (exp != 0 ? 0x800000u : 0u);
    const uint32_t shift = (exp != 0 ? 141u - exp : 140u);  // |f| * 2^9 = mant * 2^-shift
    if (shift >= 32u) return sign;                          // below 2^-11: rounds to zero
    const uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    const uint32_t up = (rem > half || (rem == half && (q & 1u))) ? 1u : 0u;
    return sign | static_cast<uint8_t>(q + up);
  }
  // Normal: rebias the exponent (127 -> 7) and round the 23-bit mantissa to 3 bits, ties to even.
  // A carry out of the mantissa bumps the exponent, which is the correct next binade; from
  // 1.875 * 2^8 and up the code is 0x7F = NaN, as in torch.
  const uint32_t rebiased = a - (120u << 23);
  const uint32_t lsb = (rebiased >> 20) & 1u;
  return sign | static_cast<uint8_t>((rebiased + 0x7FFFFu + lsb) >> 20);
}

// e4m3 code -> float. NaN codes give the same bit pattern torch produces (0x7FF00000 with the
// sign), so a decoded tensor compares bit-for-bit with torch's, NaNs included.
GRPO_HD float fp8_e4m3_to_float(uint8_t code) {
  const uint32_t sign = static_cast<uint32_t>(code & 0x80u) << 24;
  const uint32_t exp = (code >> 3) & 0xFu;
  const uint32_t mant = code & 0x7u;
  if (exp == 0xFu && mant == 0x7u) return fp8_bits_float(sign | 0x7FF00000u);
  if (exp == 0u) {
    // Subnormal: mant * 2^-9, exact in float.
    const float v = static_cast<float>(mant) * (1.0f / 512.0f);
    return fp8_bits_float(fp8_float_bits(v) | sign);
  }
  return fp8_bits_float(sign | ((exp + 120u) << 23) | (mant << 20));
}

// The quantizers' cast: clamp to ±448 first, since e4m3fn has no saturating conversion and
// x / s may round a hair above 448. NaN stays NaN (comparisons with NaN are false), which
// fminf/fmaxf would not do; CPU and CUDA share this so they agree bit for bit.
GRPO_HD uint8_t fp8_e4m3_from_float_saturate(float v) {
  v = v < -kFp8E4M3Max ? -kFp8E4M3Max : (v > kFp8E4M3Max ? kFp8E4M3Max : v);
  return fp8_e4m3_from_float(v);
}

// The 256 decoded values, built once; the fast GEMM and the bulk decoder index it.
const float* fp8_e4m3_lut();

// Bulk conversions over contiguous arrays (CPU).
void fp8_e4m3_encode(const float* x, uint8_t* q, int64_t n);
void fp8_e4m3_decode(const uint8_t* q, float* x, int64_t n);

}  // namespace grpo::kernels
