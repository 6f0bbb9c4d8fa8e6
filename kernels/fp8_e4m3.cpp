#include "kernels/fp8_e4m3.h"

#include <array>

namespace grpo::kernels {

const float* fp8_e4m3_lut() {
  static const std::array<float, 256> lut = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[c] = fp8_e4m3_to_float(static_cast<uint8_t>(c));
    return t;
  }();
  return lut.data();
}

void fp8_e4m3_encode(const float* x, uint8_t* q, int64_t n) {
  for (int64_t i = 0; i < n; ++i) q[i] = fp8_e4m3_from_float(x[i]);
}

void fp8_e4m3_decode(const uint8_t* q, float* x, int64_t n) {
  const float* lut = fp8_e4m3_lut();
  for (int64_t i = 0; i < n; ++i) x[i] = lut[q[i]];
}

}  // namespace grpo::kernels
