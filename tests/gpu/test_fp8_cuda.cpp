// CUDA FP8 kernels against their CPU references (label gpu; skipped without a CUDA device).
// Codec and quantizers must match bit for bit; the GEMMs within stated tolerances, on random
// shapes that include ragged ones (K, N not multiples of 128; M not a multiple of the tiles).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/device.h"
#include "kernels/fp8_e4m3.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"

#if defined(GRPO_HAVE_CUDA)
#include <cuda_runtime.h>

#include "kernels/cuda/fp8_cuda.h"
#endif

namespace grpo::kernels {
namespace {

#if defined(GRPO_HAVE_CUDA)

#define SKIP_WITHOUT_DEVICE() \
  if (!cuda_device_available()) GTEST_SKIP() << cuda_device_description()

#define CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

// A device copy of a host vector; poisoned (0xFF bytes: NaN floats, NaN e4m3 codes) when made
// from a size, so an element the kernel forgets to write shows.
template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) {
    EXPECT_EQ(cudaMalloc(&ptr, sizeof(T) * std::max<size_t>(n, 1)), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr, 0xFF, sizeof(T) * std::max<size_t>(n, 1)), cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), sizeof(T) * n, cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  std::vector<T> to_host() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(h.data(), ptr, sizeof(T) * n, cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Normals, uniform up to and past 448, subnormal-range values, and specials.
std::vector<float> adversarial_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-600.0f, 600.0f);
  std::uniform_int_distribution<int> exponent(-24, 12);
  const float specials[] = {0.0f,
                            -0.0f,
                            448.0f,
                            -448.0f,
                            464.0f,
                            465.0f,
                            480.0f,
                            -1e30f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min()};
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    switch (i % 4) {
      case 0:
        x[i] = normal(rng);
        break;
      case 1:
        x[i] = uni(rng);
        break;
      case 2:
        x[i] = std::ldexp(normal(rng), exponent(rng));
        break;
      default:
        x[i] = specials[rng() % (sizeof specials / sizeof specials[0])];
    }
  }
  return x;
}

std::vector<float> tiled_matrix(int64_t rows, int64_t cols, float base, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      x[r * cols + c] = base * normal(rng) * std::ldexp(1.0f, static_cast<int>((r / 128 + c / 128 + r % 3) % 4));
  return x;
}

TEST(Fp8Cuda, CodecMatchesCpuBitForBit) {
  SKIP_WITHOUT_DEVICE();
  const auto x = adversarial_floats(1 << 20, 1);
  DeviceBuffer<float> dx(x);
  DeviceBuffer<uint8_t> dq(x.size());
  fp8_e4m3_encode_cuda(dx.ptr, dq.ptr, static_cast<int64_t>(x.size()));
  const auto q = dq.to_host();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(q[i], fp8_e4m3_from_float(x[i])) << "x = " << x[i];

  std::vector<uint8_t> codes(256);
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<uint8_t>(c);
  DeviceBuffer<uint8_t> dcodes(codes);
  DeviceBuffer<float> dvals(256);
  fp8_e4m3_decode_cuda(dcodes.ptr, dvals.ptr, 256);
  const auto vals = dvals.to_host();
  for (int c = 0; c < 256; ++c) EXPECT_EQ(bits(vals[c]), bits(fp8_e4m3_to_float(static_cast<uint8_t>(c)))) << c;
}

struct Dims {
  int64_t rows, cols;
};

TEST(Fp8Cuda, WeightQuantizationMatchesCpuBitForBit) {
  SKIP_WITHOUT_DEVICE();
  const Dims dims[] = {{1, 1}, {576, 1000}, {129, 130}, {300, 260}, {256, 7168}};
  uint32_t seed = 2;
  for (const Dims& d : dims) {
    const auto w = tiled_matrix(d.rows, d.cols, 0.05f, seed++);
    const int64_t ns = fp8_num_blocks(d.rows) * fp8_num_blocks(d.cols);
    std::vector<uint8_t> q(w.size());
    std::vector<float> s(ns), back(w.size());
    fp8_quantize_weight_128x128(w.data(), d.rows, d.cols, q.data(), s.data());
    fp8_dequantize_weight_128x128(q.data(), s.data(), d.rows, d.cols, back.data());

    DeviceBuffer<float> dw(w), ds(ns), dback(w.size());
    DeviceBuffer<uint8_t> dq(w.size());
    fp8_quantize_weight_128x128_cuda(dw.ptr, d.rows, d.cols, dq.ptr, ds.ptr);
    fp8_dequantize_weight_128x128_cuda(dq.ptr, ds.ptr, d.rows, d.cols, dback.ptr);
    const auto gq = dq.to_host();
    const auto gs = ds.to_host();
    const auto gback = dback.to_host();
    for (int64_t i = 0; i < ns; ++i) ASSERT_EQ(bits(gs[i]), bits(s[i])) << d.rows << "x" << d.cols << " tile " << i;
    for (size_t i = 0; i < w.size(); ++i) {
      ASSERT_EQ(gq[i], q[i]) << d.rows << "x" << d.cols << " at " << i;
      ASSERT_EQ(bits(gback[i]), bits(back[i])) << d.rows << "x" << d.cols << " at " << i;
    }
  }
}

TEST(Fp8Cuda, ActivationQuantizationMatchesCpuBitForBit) {
  SKIP_WITHOUT_DEVICE();
  const Dims dims[] = {{1, 1}, {7, 300}, {64, 7168}, {33, 129}, {1000, 512}};
  uint32_t seed = 3;
  for (const Dims& d : dims) {
    const auto x = tiled_matrix(d.rows, d.cols, 3.0f, seed++);
    const int64_t ns = d.rows * fp8_num_blocks(d.cols);
    std::vector<uint8_t> q(x.size());
    std::vector<float> s(ns), back(x.size());
    fp8_quantize_act_1x128(x.data(), d.rows, d.cols, q.data(), s.data());
    fp8_dequantize_act_1x128(q.data(), s.data(), d.rows, d.cols, back.data());

    DeviceBuffer<float> dx(x), ds(ns), dback(x.size());
    DeviceBuffer<uint8_t> dq(x.size());
    fp8_quantize_act_1x128_cuda(dx.ptr, d.rows, d.cols, dq.ptr, ds.ptr);
    fp8_dequantize_act_1x128_cuda(dq.ptr, ds.ptr, d.rows, d.cols, dback.ptr);
    const auto gq = dq.to_host();
    const auto gs = ds.to_host();
    const auto gback = dback.to_host();
    for (int64_t i = 0; i < ns; ++i) ASSERT_EQ(bits(gs[i]), bits(s[i])) << d.rows << "x" << d.cols << " tile " << i;
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(gq[i], q[i]) << d.rows << "x" << d.cols << " at " << i;
      ASSERT_EQ(bits(gback[i]), bits(back[i])) << d.rows << "x" << d.cols << " at " << i;
    }
  }
}

struct GemmCase {
  int64_t m, n, k;
};

// Quantizes random operands on the CPU, runs the CPU reference and the GPU backend, and returns
// ‖y_gpu − y_ref‖ / ‖y_ref‖ (NaN if any output was left unwritten: the output is poisoned).
double gemm_relative_error(const GemmCase& g, Fp8GemmBackend backend, uint32_t seed, Fp8GemmBackend* ran) {
  const auto x = tiled_matrix(g.m, g.k, 1.0f, seed);
  const auto w = tiled_matrix(g.n, g.k, 0.02f, seed + 1000);
  const int64_t kb = fp8_num_blocks(g.k);
  std::vector<uint8_t> a(x.size()), wq(w.size());
  std::vector<float> sa(g.m * kb), sw(fp8_num_blocks(g.n) * kb), y_ref(g.m * g.n);
  fp8_quantize_act_1x128(x.data(), g.m, g.k, a.data(), sa.data());
  fp8_quantize_weight_128x128(w.data(), g.n, g.k, wq.data(), sw.data());
  fp8_gemm_ref(Fp8GemmParams{a.data(), sa.data(), wq.data(), sw.data(), y_ref.data(), g.m, g.n, g.k});

  DeviceBuffer<uint8_t> da(a), dw(wq);
  DeviceBuffer<float> dsa(sa), dsw(sw), dy(y_ref.size());
  *ran = fp8_gemm_cuda(Fp8GemmParams{da.ptr, dsa.ptr, dw.ptr, dsw.ptr, dy.ptr, g.m, g.n, g.k}, backend);
  const auto y = dy.to_host();
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    num += (double(y[i]) - y_ref[i]) * (double(y[i]) - y_ref[i]);
    den += double(y_ref[i]) * y_ref[i];
  }
  return std::sqrt(num / den);
}

TEST(Fp8Cuda, PortableGemmMatchesCpuReference) {
  SKIP_WITHOUT_DEVICE();
  const GemmCase cases[] = {{1, 1, 1},      {1, 129, 130},   {3, 128, 128},    {7, 200, 300},    {17, 257, 385},
                            {65, 576, 640}, {130, 300, 520}, {64, 2112, 7168}, {200, 1536, 576}, {1, 7168, 2048}};
  uint32_t seed = 40;
  for (const GemmCase& g : cases) {
    Fp8GemmBackend ran;
    const double err = gemm_relative_error(g, Fp8GemmBackend::kPortable, seed++, &ran);
    EXPECT_EQ(ran, Fp8GemmBackend::kPortable);
    // Same per-128-K-block structure as the reference, FP32 both: only summation order and
    // FMA contraction differ, ~1e-7 per add.
    EXPECT_LE(err, 1e-5) << g.m << "x" << g.n << "x" << g.k;
  }
}

TEST(Fp8Cuda, CublasLtGemmMatchesCpuReference) {
  SKIP_WITHOUT_DEVICE();
  const GemmCase probe{128, 256, 512};
  Fp8GemmParams shape{};
  shape.m = probe.m, shape.n = probe.n, shape.k = probe.k;
  if (!fp8_gemm_cublaslt_supported(shape))
    GTEST_SKIP() << "cuBLASLt block-scaled FP8 needs sm_90: " << cuda_device_description();
  const GemmCase cases[] = {{128, 256, 512}, {1, 128, 128}, {17, 384, 1024}, {256, 1536, 7168}, {100, 512, 2048}};
  uint32_t seed = 60;
  for (const GemmCase& g : cases) {
    Fp8GemmBackend ran;
    const double err = gemm_relative_error(g, Fp8GemmBackend::kCublasLt, seed++, &ran);
    EXPECT_EQ(ran, Fp8GemmBackend::kCublasLt);
    // Tensor-core FP8 products are exact; the accumulator inside a 128-wide K block is narrower
    // than FP32 (the technical report's ~14 bits) before promotion, so allow 1e-3 relative.
    EXPECT_LE(err, 1e-3) << g.m << "x" << g.n << "x" << g.k;
    std::printf("cublaslt %ldx%ldx%ld: relative error %.3g\n", long(g.m), long(g.n), long(g.k), err);
  }
}

TEST(Fp8Cuda, AutoBackendFallsBackOnRaggedShapes) {
  SKIP_WITHOUT_DEVICE();
  Fp8GemmBackend ran;
  const double err = gemm_relative_error({5, 200, 300}, Fp8GemmBackend::kAuto, 77, &ran);
  EXPECT_EQ(ran, Fp8GemmBackend::kPortable);  // cuBLASLt's block scales have no partial tiles
  EXPECT_LE(err, 1e-5);
}

#else

TEST(Fp8Cuda, BuiltWithoutCuda) { GTEST_SKIP() << "built without CUDA (GRPO_HAVE_CUDA unset)"; }

#endif

}  // namespace
}  // namespace grpo::kernels
