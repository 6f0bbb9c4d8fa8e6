// The scalar reference of the block-scaled FP8 GEMM: the formula of kernels/fp8_gemm.h, written
// as plainly as possible so that it can serve as the oracle for the fast and CUDA paths.
#include <algorithm>

#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {

void fp8_gemm_ref(const Fp8GemmParams& p) {
  const int64_t k_blocks = fp8_num_blocks(p.k);
  for (int64_t m = 0; m < p.m; ++m) {
    for (int64_t n = 0; n < p.n; ++n) {
      float acc = 0.0f;
      for (int64_t kb = 0; kb < k_blocks; ++kb) {
        float partial = 0.0f;  // one 128-wide K block, unscaled
        for (int64_t k = kb * kFp8Block; k < std::min(p.k, (kb + 1) * kFp8Block); ++k)
          partial += fp8_e4m3_to_float(p.a[m * p.k + k]) * fp8_e4m3_to_float(p.w[n * p.k + k]);
        acc += partial * p.a_scale[m * k_blocks + kb] * p.w_scale_inv[(n / kFp8Block) * k_blocks + kb];
      }
      p.y[m * p.n + n] = acc;
    }
  }
}

}  // namespace grpo::kernels
