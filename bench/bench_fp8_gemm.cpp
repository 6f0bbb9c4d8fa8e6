// bench_fp8_gemm: block-scaled FP8 GEMM throughput, printed as tables (never a test).
//
// CPU, on DeepSeek-V3's own GEMM shapes (spec §10) with M tokens:
//   fp8 fast        kernels::fp8_gemm_cpu, all threads and one thread
//   deq+naive fp32  dequantize A and W to float, then a plain i-k-j FP32 loop (one thread)
//   deq+torch.mm    dequantize, then LibTorch's FP32 matmul (MKL, all threads): the strong peer
//   scalar ref      kernels::fp8_gemm_ref, timed on a few rows
//   CPU peak        a measured FMA loop (AVX-512/AVX2 where present) on the same threads
// GPU (when a CUDA device is present): FP8 through cuBLASLt's block-scaled mode and through the
// portable kernel, next to BF16 cuBLASLt on the same shapes, and the card's dense peaks.
//
// Usage: bench_fp8_gemm [--m M] [--gpu-m M] [--all-shapes] [--threads T] [--no-gpu]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kernels/device.h"
#include "kernels/fp8_gemm.h"
#include "kernels/fp8_quant.h"

#if defined(GRPO_HAVE_CUDA)
#include <cuda_runtime.h>

#include "kernels/cuda/fp8_cuda.h"
#endif

namespace {

using namespace grpo::kernels;
using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  int64_t n, k;
};

// Spec §10: the DeepGEMM test shapes, which are V3's GEMMs (N x K of the weight).
const Shape kDeepSeekShapes[] = {
    {"q_a+kv_a (fused)", 2112, 7168}, {"q_b", 24576, 1536},           {"kv_b", 32768, 512},
    {"o_proj", 7168, 16384},          {"expert gate+up", 4096, 7168}, {"expert down", 7168, 2048},
};
// The CPU default: the smaller ones, plus kv_a alone for a ragged (576-row) weight.
const Shape kCpuShapes[] = {
    {"kv_a (576 rows)", 576, 7168},
    {"q_a+kv_a (fused)", 2112, 7168},
    {"expert gate+up", 4096, 7168},
    {"expert down", 7168, 2048},
};

// Cheap deterministic fill (xorshift → roughly normal by summing 4 uniforms); std::normal_distribution
// is too slow for the 100M-element weights of the GPU shapes.
void fill(std::vector<float>& v, uint64_t seed, float scale) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<float>(s >> 40) * (1.0f / 16777216.0f);
  };
  for (auto& x : v) x = scale * 1.7f * (next() + next() + next() + next() - 2.0f);
}

// Median wall time of `reps` runs after one warm-up, in seconds.
double time_median(const std::function<void()>& fn, int reps) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// ---- CPU peak: independent FMA chains, no memory traffic ------------------------------------
typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

template <class V>
__attribute__((always_inline)) inline double fma_loop(int64_t iters) {
  V acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = V{} + static_cast<float>(i) * 1e-3f;
  const V mul = V{} + 0.999999f, add = V{} + 1e-7f;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12  // keeps the 12 accumulators in registers
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * mul + add;
  }
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += acc[i][0];
  return sink;
}
#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) double fma_avx512(int64_t iters) { return fma_loop<v16f>(iters); }
__attribute__((target("avx2,fma"))) double fma_avx2(int64_t iters) { return fma_loop<v8f>(iters); }
#endif

// GFLOP/s of `threads` threads each running the FMA loop; 2 flops per lane per FMA.
double measure_cpu_peak(int threads, const char** isa) {
  int lanes = 4;
  double (*fn)(int64_t) = nullptr;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    fn = fma_avx512, lanes = 16, *isa = "AVX-512 FMA";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    fn = fma_avx2, lanes = 8, *isa = "AVX2 FMA";
  }
#endif
  if (!fn) {
    *isa = "scalar";
    return 0.0;
  }
  const int64_t iters = 20'000'000;
  std::vector<std::thread> pool;
  std::vector<double> sink(threads);
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sink[t] = fn(iters); });
  for (auto& th : pool) th.join();
  const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
  return 2.0 * lanes * 12 * iters * threads / sec / 1e9;
}

// ---- CPU baselines ----------------------------------------------------------------------------
// Dequantize both operands, then the textbook i-k-j loop over a transposed weight.
void dequant_naive_fp32(const Fp8GemmParams& p, std::vector<float>& a, std::vector<float>& w, std::vector<float>& wt) {
  fp8_dequantize_act_1x128(p.a, p.a_scale, p.m, p.k, a.data());
  fp8_dequantize_weight_128x128(p.w, p.w_scale_inv, p.n, p.k, w.data());
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t k = 0; k < p.k; ++k) wt[k * p.n + n] = w[n * p.k + k];
  std::fill(p.y, p.y + p.m * p.n, 0.0f);
  for (int64_t m = 0; m < p.m; ++m)
    for (int64_t k = 0; k < p.k; ++k) {
      const float av = a[m * p.k + k];
      const float* wr = &wt[k * p.n];
      float* yr = p.y + m * p.n;
      for (int64_t n = 0; n < p.n; ++n) yr[n] += av * wr[n];
    }
}

void dequant_torch_mm(const Fp8GemmParams& p, std::vector<float>& a, std::vector<float>& w) {
  fp8_dequantize_act_1x128(p.a, p.a_scale, p.m, p.k, a.data());
  fp8_dequantize_weight_128x128(p.w, p.w_scale_inv, p.n, p.k, w.data());
  auto ta = torch::from_blob(a.data(), {p.m, p.k});
  auto tw = torch::from_blob(w.data(), {p.n, p.k});
  auto ty = torch::from_blob(p.y, {p.m, p.n});
  torch::mm_out(ty, ta, tw.t());
}

double rel_error(const float* y, const float* ref, int64_t count) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < count; ++i) {
    num += (double(y[i]) - ref[i]) * (double(y[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

void bench_cpu(int64_t m, int threads, bool all_shapes) {
  const char* isa = "";
  const double peak_all = measure_cpu_peak(threads, &isa);
  const double peak_one = measure_cpu_peak(1, &isa);
  std::printf("\n== CPU: M = %ld tokens, %d threads, torch threads %d ==\n", long(m), threads,
              torch::get_num_threads());
  std::printf("CPU rough peak (measured %s loop): %.1f GFLOP/s on %d threads, %.1f on 1 thread\n", isa, peak_all,
              threads, peak_one);
  std::printf("%-20s %6s %6s | %10s %10s %11s %11s %11s %10s | %10s %9s\n", "shape", "N", "K", "fp8 fast", "fp8 fast1",
              "deq+naive1", "deq+torch", "torch.mm", "scalar ref", "fast/deq+t", "fast err");
  std::vector<Shape> shapes(std::begin(kCpuShapes), std::end(kCpuShapes));
  if (all_shapes) shapes.assign(std::begin(kDeepSeekShapes), std::end(kDeepSeekShapes));
  for (const Shape& s : shapes) {
    const int64_t n = s.n, k = s.k, kb = fp8_num_blocks(k);
    std::vector<float> x(m * k), wf(n * k);
    fill(x, 1, 1.0f);
    fill(wf, 2, 0.02f);
    std::vector<uint8_t> a(m * k), w(n * k);
    std::vector<float> sa(m * kb), sw(fp8_num_blocks(n) * kb), y(m * n), y_ref(m * n);
    fp8_quantize_act_1x128(x.data(), m, k, a.data(), sa.data());
    fp8_quantize_weight_128x128(wf.data(), n, k, w.data(), sw.data());
    const Fp8GemmParams p{a.data(), sa.data(), w.data(), sw.data(), y.data(), m, n, k};
    const double flops = 2.0 * m * n * k;

    const double t_fast = time_median([&] { fp8_gemm_cpu(p, threads); }, 5);
    const double t_fast1 = time_median([&] { fp8_gemm_cpu(p, 1); }, 3);
    std::vector<float> ad(m * k), wd(n * k), wt(n * k);
    const int64_t naive_rows = std::min<int64_t>(m, 16);  // the naive loop is slow: time a row subset
    Fp8GemmParams p_naive = p;
    p_naive.m = naive_rows;
    const double t_naive = time_median([&] { dequant_naive_fp32(p_naive, ad, wd, wt); }, 1);
    const double t_torch = time_median([&] { dequant_torch_mm(p, ad, wd); }, 5);
    // FP32 matmul alone, operands already dequantized (a cached FP32 weight copy, 4x the bytes).
    const double t_mm = time_median(
        [&] {
          auto out = torch::from_blob(y.data(), {m, n});
          torch::mm_out(out, torch::from_blob(ad.data(), {m, k}), torch::from_blob(wd.data(), {n, k}).t());
        },
        5);
    const int64_t ref_rows = std::min<int64_t>(m, 2);
    Fp8GemmParams p_ref = p;
    p_ref.m = ref_rows;
    p_ref.y = y_ref.data();
    const double t_ref = time_median([&] { fp8_gemm_ref(p_ref); }, 1);
    fp8_gemm_cpu(p, threads);
    const double err = rel_error(y.data(), y_ref.data(), ref_rows * n);

    std::printf("%-20s %6ld %6ld | %10.1f %10.1f %11.2f %11.1f %11.1f %10.2f | %9.2fx %9.1e\n", s.name, long(n),
                long(k), flops / t_fast / 1e9, flops / t_fast1 / 1e9, 2.0 * naive_rows * n * k / t_naive / 1e9,
                flops / t_torch / 1e9, flops / t_mm / 1e9, 2.0 * ref_rows * n * k / t_ref / 1e9, t_torch / t_fast, err);
  }
  std::printf(
      "GFLOP/s throughout (2*M*N*K per call). 'fast1' = one thread; 'deq+naive1' = dequantize + i-k-j FP32 loop,\n"
      "one thread, timed on %d rows; 'deq+torch' = dequantize both operands + torch.mm (MKL FP32), all threads;\n"
      "dequantization is counted because it is part of that path on every call; 'torch.mm' = the FP32 matmul alone on\n"
      "already-dequantized operands (a cached FP32 weight: 4x the memory of FP8). 'fast err' = relative error of the\n"
      "fast path against the scalar reference on the rows the reference ran. Where torch.mm wins: MKL's SGEMM is a\n"
      "tuned kernel on FP32 operands already in memory; the FP8 path first decodes and transposes every weight tile\n"
      "through the LUT (1/(2*rows) extra work per tile) in exchange for reading 4x fewer weight bytes.\n",
      int(std::min<int64_t>(m, 16)));
}

#if defined(GRPO_HAVE_CUDA)
#define BENCH_CUDA(call)                                                                                 \
  do {                                                                                                   \
    const cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) throw std::runtime_error(std::string(#call) + ": " + cudaGetErrorString(e_)); \
  } while (0)

template <class T>
T* device_alloc(size_t count) {
  void* p = nullptr;
  BENCH_CUDA(cudaMalloc(&p, sizeof(T) * std::max<size_t>(count, 1)));
  return static_cast<T*>(p);
}

// Median of `reps` event-timed runs after warm-up, in seconds.
double gpu_time(const std::function<void()>& fn, int reps) {
  for (int i = 0; i < 3; ++i) fn();
  BENCH_CUDA(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  BENCH_CUDA(cudaEventCreate(&e0));
  BENCH_CUDA(cudaEventCreate(&e1));
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    BENCH_CUDA(cudaEventRecord(e0));
    fn();
    BENCH_CUDA(cudaEventRecord(e1));
    BENCH_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms * 1e-3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench_gpu(const std::vector<int64_t>& ms) {
  int dev = 0, sms = 0, clock_khz = 0, major = 0;
  BENCH_CUDA(cudaGetDevice(&dev));
  BENCH_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  BENCH_CUDA(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
  BENCH_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  // Dense tensor-core rate per SM per clock on Hopper: 4096 BF16 / 8192 FP8 flops (H100 SXM:
  // 132 SMs x 1.83 GHz boost -> 989 / 1979 TFLOP/s, NVIDIA's datasheet figures).
  const double per_clk_bf16 = major == 9 ? 4096 : 2048, per_clk_fp8 = major == 9 ? 8192 : 0;
  const double peak_bf16 = sms * (clock_khz * 1e3) * per_clk_bf16 / 1e12;
  const double peak_fp8 = sms * (clock_khz * 1e3) * per_clk_fp8 / 1e12;
  std::printf("\n== GPU: %s, max clock %.2f GHz ==\n", cuda_device_description().c_str(), clock_khz / 1e6);
  std::printf("dense peak at that clock: FP8 %.0f TFLOP/s, BF16 %.0f TFLOP/s\n", peak_fp8, peak_bf16);
  std::printf("%-18s %6s %6s %6s | %12s %12s %12s | %8s %8s | %9s %9s\n", "shape", "M", "N", "K", "fp8 cublasLt",
              "fp8 portable", "bf16 cublasLt", "fp8/bf16", "%fp8pk", "err lt", "err port");
  for (int64_t m : ms) {
    for (const Shape& s : kDeepSeekShapes) {
      const int64_t n = s.n, k = s.k, kb = fp8_num_blocks(k);
      std::vector<float> x(m * k), wf(n * k);
      fill(x, 3, 1.0f);
      fill(wf, 4, 0.02f);
      float* dx = device_alloc<float>(m * k);
      float* dwf = device_alloc<float>(n * k);
      uint8_t* da = device_alloc<uint8_t>(m * k);
      uint8_t* dw = device_alloc<uint8_t>(n * k);
      float* dsa = device_alloc<float>(m * kb);
      float* dsw = device_alloc<float>(fp8_num_blocks(n) * kb);
      float* dy = device_alloc<float>(m * n);
      uint16_t* dxb = device_alloc<uint16_t>(m * k);
      uint16_t* dwb = device_alloc<uint16_t>(n * k);
      BENCH_CUDA(cudaMemcpy(dx, x.data(), 4 * x.size(), cudaMemcpyHostToDevice));
      BENCH_CUDA(cudaMemcpy(dwf, wf.data(), 4 * wf.size(), cudaMemcpyHostToDevice));
      fp8_quantize_act_1x128_cuda(dx, m, k, da, dsa);
      fp8_quantize_weight_128x128_cuda(dwf, n, k, dw, dsw);
      float_to_bf16_cuda(dx, dxb, m * k);
      float_to_bf16_cuda(dwf, dwb, n * k);
      const Fp8GemmParams p{da, dsa, dw, dsw, dy, m, n, k};
      const double flops = 2.0 * m * n * k;
      double t_lt = 0;
      if (fp8_gemm_cublaslt_supported(p)) {
        try {
          t_lt = gpu_time([&] { fp8_gemm_cuda(p, Fp8GemmBackend::kCublasLt); }, 20);
        } catch (const std::exception& e) {
          std::printf("  (cuBLASLt FP8 failed on %s: %s)\n", s.name, e.what());
        }
      }
      const double t_port = gpu_time([&] { fp8_gemm_cuda(p, Fp8GemmBackend::kPortable); }, 5);
      const double t_bf16 = gpu_time([&] { bf16_gemm_cublaslt(dxb, dwb, dy, m, n, k); }, 20);
      const double best_fp8 = t_lt > 0 ? t_lt : t_port;
      auto tf = [&](double t) { return t > 0 ? flops / t / 1e12 : 0.0; };
      // Correctness on the side: the first rows of Y from each FP8 backend against the CPU reference
      // on the same (GPU-quantized) operands.
      const int64_t rows = std::min<int64_t>(m, 4);
      std::vector<uint8_t> ha(rows * k), hw(n * k);
      std::vector<float> hsa(rows * kb), hsw(fp8_num_blocks(n) * kb), ref(rows * n), got(rows * n);
      BENCH_CUDA(cudaMemcpy(ha.data(), da, ha.size(), cudaMemcpyDeviceToHost));
      BENCH_CUDA(cudaMemcpy(hw.data(), dw, hw.size(), cudaMemcpyDeviceToHost));
      BENCH_CUDA(cudaMemcpy(hsa.data(), dsa, 4 * hsa.size(), cudaMemcpyDeviceToHost));
      BENCH_CUDA(cudaMemcpy(hsw.data(), dsw, 4 * hsw.size(), cudaMemcpyDeviceToHost));
      fp8_gemm_cpu(Fp8GemmParams{ha.data(), hsa.data(), hw.data(), hsw.data(), ref.data(), rows, n, k});
      auto backend_error = [&](Fp8GemmBackend b) {
        BENCH_CUDA(cudaMemset(dy, 0xFF, 4 * m * n));  // NaN poison: unwritten outputs show
        fp8_gemm_cuda(p, b);
        BENCH_CUDA(cudaMemcpy(got.data(), dy, 4 * got.size(), cudaMemcpyDeviceToHost));
        return rel_error(got.data(), ref.data(), rows * n);
      };
      const double err_lt = t_lt > 0 ? backend_error(Fp8GemmBackend::kCublasLt) : -1.0;
      const double err_port = backend_error(Fp8GemmBackend::kPortable);
      std::printf("%-18s %6ld %6ld %6ld | %12.1f %12.1f %12.1f | %7.2fx %7.1f%% | %9.1e %9.1e\n", s.name, long(m),
                  long(n), long(k), tf(t_lt), tf(t_port), tf(t_bf16), t_bf16 / best_fp8,
                  peak_fp8 > 0 ? 100 * tf(best_fp8) / peak_fp8 : 0, err_lt, err_port);
      for (void* ptr :
           {(void*)dx, (void*)dwf, (void*)da, (void*)dw, (void*)dsa, (void*)dsw, (void*)dy, (void*)dxb, (void*)dwb})
        cudaFree(ptr);
    }
  }
  std::printf(
      "TFLOP/s (2*M*N*K, median of event-timed runs). 0.0 under cublasLt = not supported for the shape\n"
      "(N or K not a multiple of 128) or rejected by cuBLASLt. fp8/bf16 = BF16 time over the best FP8 time.\n"
      "err = relative L2 error of the first rows against the CPU fast path (which matches the FP64 reference\n"
      "to 1e-5); -1 = not run.\n");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int64_t m = 64;
  std::vector<int64_t> gpu_ms = {128, 4096};
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool all_shapes = false, gpu = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--m" && i + 1 < argc) {
      m = std::stoll(argv[++i]);
    } else if (arg == "--gpu-m" && i + 1 < argc) {
      gpu_ms = {std::stoll(argv[++i])};
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::stoi(argv[++i]);
    } else if (arg == "--all-shapes") {
      all_shapes = true;
    } else if (arg == "--no-gpu") {
      gpu = false;
    } else {
      std::fprintf(stderr, "usage: bench_fp8_gemm [--m M] [--gpu-m M] [--all-shapes] [--threads T] [--no-gpu]\n");
      return 2;
    }
  }
  torch::set_num_threads(threads);
  try {
    bench_cpu(m, threads, all_shapes);
#if defined(GRPO_HAVE_CUDA)
    if (gpu && cuda_device_available()) bench_gpu(gpu_ms);
#endif
    if (gpu && !cuda_device_available())
      std::printf("\nGPU: %s; GPU table skipped\n", cuda_device_description().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fp8_gemm: %s\n", e.what());
    return 1;
  }
  return 0;
}
