// Fast CPU path of the block-scaled FP8 GEMM (math in kernels/fp8_gemm.h, design in
// docs/fp8_gemm.md).
//
// Work unit ("task"): one 128-column strip of Y (one weight scale row) x up to kRowBlock rows.
// For each 128-wide K block the task decodes the weight tile once into float panels laid out
// k-major, [4 panels][128 k][32 n], then for every 8 (or 4/2/1) rows decodes the activation
// row pieces and runs an 8x32 micro-kernel: 16 accumulators of 16 floats, one broadcast of A and
// two vector loads of W per k. The block's partial sums are scaled by a_scale * w_scale_inv and
// added to Y once per 128 of K, which is where FP8 tensor-core kernels "promote" too.
//
// Vectorisation uses GCC/Clang vector extensions, so it does not depend on -O3 or -march; the
// task body is compiled three times (AVX-512, AVX2+FMA, baseline) and picked at run time.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {
namespace {

constexpr int kMr = 8;   // rows per micro-kernel
constexpr int kNr = 32;  // columns per micro-kernel = one panel (two 16-float vectors)
constexpr int kPanels = static_cast<int>(kFp8Block) / kNr;  // panels per 128-column strip
constexpr int64_t kRowBlock = 256;  // rows per task: the weight tile decode is shared by these rows

typedef float v16f __attribute__((vector_size(64)));

// Per-thread scratch: the decoded weight tile and one micro-kernel's activation rows.
struct Scratch {
  alignas(64) float wp[kPanels][kFp8Block][kNr];  // [panel][k][n], zero-padded
  alignas(64) float ap[kMr][kFp8Block];           // [row][k], zero-padded
};

#define GRPO_ALWAYS_INLINE inline __attribute__((always_inline))

// acc[i][0..31] = Σ_k ap[i][k] * wp[k][0..31] over the 128 k of one block, then
// y[i][0..cols) += acc * scale[i]. MR is a template argument so the register arrays unroll.
template <int MR>
GRPO_ALWAYS_INLINE void micro_kernel(const float (*ap)[kFp8Block], const float (*wp)[kNr], const float* scale, float* y,
                                     int64_t ldy, int cols) {
  v16f c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = v16f{};
  for (int k = 0; k < kFp8Block; ++k) {
    const v16f b0 = *reinterpret_cast<const v16f*>(&wp[k][0]);
    const v16f b1 = *reinterpret_cast<const v16f*>(&wp[k][16]);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const float a = ap[i][k];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* yr = y + i * ldy;
    const v16f s0 = c0[i] * scale[i], s1 = c1[i] * scale[i];
    if (cols == kNr) {
      v16f y0, y1;
      std::memcpy(&y0, yr, sizeof y0);
      std::memcpy(&y1, yr + 16, sizeof y1);
      y0 += s0;
      y1 += s1;
      std::memcpy(yr, &y0, sizeof y0);
      std::memcpy(yr + 16, &y1, sizeof y1);
    } else {
      for (int j = 0; j < cols; ++j) yr[j] += j < 16 ? s0[j] : s1[j - 16];
    }
  }
}

// One task: rows [m0, m1) x columns of strip `strip`.
GRPO_ALWAYS_INLINE void run_task_body(const Fp8GemmParams& p, int64_t strip, int64_t m0, int64_t m1, Scratch& s) {
  const float* lut = fp8_e4m3_lut();
  const int64_t k_blocks = fp8_num_blocks(p.k);
  const int64_t n0 = strip * kFp8Block;
  const int64_t n_valid = std::min<int64_t>(kFp8Block, p.n - n0);
  for (int64_t m = m0; m < m1; ++m) std::fill(p.y + m * p.n + n0, p.y + m * p.n + n0 + n_valid, 0.0f);

  for (int64_t kb = 0; kb < k_blocks; ++kb) {
    const int64_t k0 = kb * kFp8Block;
    const int64_t k_valid = std::min<int64_t>(kFp8Block, p.k - k0);
    // Decode the 128x128 weight tile once: wp[panel][k][j] = W[n0 + panel*32 + j, k0 + k].
    if (n_valid < kFp8Block || k_valid < kFp8Block) std::memset(s.wp, 0, sizeof s.wp);  // ragged edge: zero pad
    for (int64_t nn = 0; nn < n_valid; ++nn) {
      const uint8_t* wr = p.w + (n0 + nn) * p.k + k0;
      float* dst = &s.wp[nn / kNr][0][nn % kNr];
      for (int64_t kk = 0; kk < k_valid; ++kk) dst[kk * kNr] = lut[wr[kk]];
    }
    const float w_scale = p.w_scale_inv[strip * k_blocks + kb];

    for (int64_t m = m0; m < m1;) {
      const int64_t left = m1 - m;
      const int mr = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
      float scale[kMr];
      for (int i = 0; i < mr; ++i) {
        const uint8_t* ar = p.a + (m + i) * p.k + k0;
        for (int64_t kk = 0; kk < k_valid; ++kk) s.ap[i][kk] = lut[ar[kk]];
        for (int64_t kk = k_valid; kk < kFp8Block; ++kk) s.ap[i][kk] = 0.0f;
        scale[i] = p.a_scale[(m + i) * k_blocks + kb] * w_scale;
      }
      for (int panel = 0; panel * kNr < n_valid; ++panel) {
        const int cols = static_cast<int>(std::min<int64_t>(kNr, n_valid - panel * kNr));
        float* y = p.y + m * p.n + n0 + panel * kNr;
        switch (mr) {
          case 8:
            micro_kernel<8>(s.ap, s.wp[panel], scale, y, p.n, cols);
            break;
          case 4:
            micro_kernel<4>(s.ap, s.wp[panel], scale, y, p.n, cols);
            break;
          case 2:
            micro_kernel<2>(s.ap, s.wp[panel], scale, y, p.n, cols);
            break;
          default:
            micro_kernel<1>(s.ap, s.wp[panel], scale, y, p.n, cols);
            break;
        }
      }
      m += mr;
    }
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma,avx2"))) void run_task_avx512(const Fp8GemmParams& p,
                                                                                            int64_t strip, int64_t m0,
                                                                                            int64_t m1, Scratch& s) {
  run_task_body(p, strip, m0, m1, s);
}
__attribute__((target("avx2,fma"))) void run_task_avx2(const Fp8GemmParams& p, int64_t strip, int64_t m0, int64_t m1,
                                                       Scratch& s) {
  run_task_body(p, strip, m0, m1, s);
}
#endif
void run_task_baseline(const Fp8GemmParams& p, int64_t strip, int64_t m0, int64_t m1, Scratch& s) {
  run_task_body(p, strip, m0, m1, s);
}

using TaskFn = void (*)(const Fp8GemmParams&, int64_t, int64_t, int64_t, Scratch&);

TaskFn pick_task_fn() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq"))
    return run_task_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return run_task_avx2;
#endif
  return run_task_baseline;
}

}  // namespace

void fp8_gemm_cpu(const Fp8GemmParams& p, int threads) {
  if (p.m <= 0 || p.n <= 0) return;
  if (p.k <= 0) {
    std::fill(p.y, p.y + p.m * p.n, 0.0f);
    return;
  }
  static const TaskFn task_fn = pick_task_fn();
  const int64_t strips = fp8_num_blocks(p.n);
  const int64_t row_blocks = (p.m + kRowBlock - 1) / kRowBlock;
  const int64_t tasks = strips * row_blocks;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<int64_t>(threads, tasks));

  // Tasks are handed out by an atomic counter; the partition itself never depends on `threads`.
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    auto scratch = std::make_unique<Scratch>();
    for (int64_t t; (t = next.fetch_add(1)) < tasks;) {
      const int64_t strip = t % strips, rb = t / strips;
      task_fn(p, strip, rb * kRowBlock, std::min(p.m, (rb + 1) * kRowBlock), *scratch);
    }
  };
  if (threads == 1) {
    worker();
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int i = 0; i < threads - 1; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace grpo::kernels
