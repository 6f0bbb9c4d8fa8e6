// GPU dispatch of the block-scaled FP8 GEMM, the cuBLASLt Hopper path, and the BF16 cuBLASLt
// peer used by the benchmark.
//
// cuBLASLt is column-major. Our row-major Y[m, n] = Σ_k A[m, k] W[n, k] is, read column-major,
// Yᵀ (n x m, ld n) = W (n x k) · Aᵀ (k x m): cuBLASLt's "A" is our weight W, stored k-major with
// ld k and used transposed (TN, the only layout Hopper FP8 supports), and its "B" is our
// activation A, stored k-major with ld k. Scale modes (CUDA >= 12.9, sm_90):
//   cuBLASLt A (weight):     BLK128x128_32F, one float per 128x128 tile, element (kb, nb) at
//                            kb + nb * round_up(k_blocks, 4): DeepSeek's [n_blocks, k_blocks]
//                            row-major scale_inv with its rows padded to a multiple of 4.
//   cuBLASLt B (activation): VEC128_32F, one float per 1x128 tile, element (m, kb) at
//                            m + kb * m_rows: DeepSeek's [m, k_blocks] transposed (M-major).
// These are the layouts PyTorch's _scaled_mm checks before handing the same pointers to
// cuBLASLt (torch/_meta_registrations.py, recipe "1x128 x 128x128"). The scales are re-laid out
// into scratch space by a small kernel on the same stream.
//
// GPU verification is pending (no device was available when this was written): kAuto falls
// back to the portable kernel whenever cuBLASLt rejects the problem, and tests/gpu compares
// both paths with the CPU reference.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/fp8_cuda.h"
#include "kernels/fp8_quant.h"

namespace grpo::kernels {

void fp8_gemm_portable_cuda(const Fp8GemmParams& p, void* stream);  // fp8_gemm_portable.cu

namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // NVIDIA's recommendation for Hopper

cublasLtHandle_t lt_handle() {
  static cublasLtHandle_t handle = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { GRPO_CUBLAS_CHECK(cublasLtCreate(&handle)); });
  return handle;
}

// RAII for the cuBLASLt descriptors of one call.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// Stream-ordered scratch: freed on the same stream after the work that uses it.
struct StreamBuffer {
  void* ptr = nullptr;
  cudaStream_t stream;
  StreamBuffer(size_t bytes, cudaStream_t s) : stream(s) { GRPO_CUDA_CHECK(cudaMallocAsync(&ptr, bytes, stream)); }
  ~StreamBuffer() { cudaFreeAsync(ptr, stream); }
  StreamBuffer(const StreamBuffer&) = delete;
  StreamBuffer& operator=(const StreamBuffer&) = delete;
};

// a_scale [m, kb] row-major -> [kb, m]; w_scale_inv [nb, kb] -> [nb, ld_w] (ld_w = round_up(kb, 4), zero pad).
__global__ void relayout_scales_kernel(const float* __restrict__ a_scale, const float* __restrict__ w_scale, int64_t m,
                                       int64_t n_blocks, int64_t k_blocks, int64_t ld_w, float* __restrict__ a_out,
                                       float* __restrict__ w_out) {
  const int64_t total_a = m * k_blocks, total_w = n_blocks * ld_w;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total_a + total_w;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (i < total_a) {
      const int64_t kb = i / m, row = i % m;
      a_out[i] = a_scale[row * k_blocks + kb];
    } else {
      const int64_t j = i - total_a, nb = j / ld_w, kb = j % ld_w;
      w_out[j] = kb < k_blocks ? w_scale[nb * k_blocks + kb] : 0.0f;
    }
  }
}

bool device_is_hopper() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  return major == 9;
}

// Runs the cuBLASLt block-scaled GEMM; returns false (having launched nothing) when cuBLASLt
// offers no algorithm for the problem.
bool fp8_gemm_cublaslt(const Fp8GemmParams& p, cudaStream_t stream) {
  const int64_t k_blocks = fp8_num_blocks(p.k), n_blocks = fp8_num_blocks(p.n);
  const int64_t ld_w = (k_blocks + 3) / 4 * 4;

  LtDescs d;
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
  const cublasLtMatmulMatrixScale_t mode_a = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  const cublasLtMatmulMatrixScale_t mode_b = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode_a, sizeof mode_a));
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode_b, sizeof mode_b));

  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, CUDA_R_8F_E4M3, p.k, p.n, p.k));  // W: k x n, ld k
  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, CUDA_R_8F_E4M3, p.k, p.m, p.k));  // A: k x m, ld k
  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32F, p.n, p.m, p.n));      // Yᵀ: n x m, ld n
  GRPO_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref));
  const size_t ws_bytes = kWorkspaceBytes;
  GRPO_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                         sizeof ws_bytes));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), d.op, d.a, d.b, d.c, d.c, d.pref, 1, &heuristic, &found);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;

  StreamBuffer scales(sizeof(float) * (p.m * k_blocks + n_blocks * ld_w), stream);
  float* a_scale_mmajor = static_cast<float*>(scales.ptr);
  float* w_scale_padded = a_scale_mmajor + p.m * k_blocks;
  const int64_t total = p.m * k_blocks + n_blocks * ld_w;
  relayout_scales_kernel<<<static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 4096)), 256, 0, stream>>>(
      p.a_scale, p.w_scale_inv, p.m, n_blocks, k_blocks, ld_w, a_scale_mmajor, w_scale_padded);
  GRPO_CUDA_CHECK_LAUNCH();
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale_padded,
                                                   sizeof w_scale_padded));
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a_scale_mmajor,
                                                   sizeof a_scale_mmajor));

  StreamBuffer workspace(kWorkspaceBytes, stream);
  const float alpha = 1.0f, beta = 0.0f;
  GRPO_CUBLAS_CHECK(cublasLtMatmul(lt_handle(), d.op, &alpha, p.w, d.a, p.a, d.b, &beta, p.y, d.c, p.y, d.c,
                                   &heuristic.algo, workspace.ptr, kWorkspaceBytes, stream));
  return true;
}

__global__ void float_to_bf16_kernel(const float* __restrict__ x, __nv_bfloat16* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(x[i]);
}

}  // namespace

const char* fp8_gemm_backend_name(Fp8GemmBackend backend) {
  switch (backend) {
    case Fp8GemmBackend::kAuto:
      return "auto";
    case Fp8GemmBackend::kPortable:
      return "portable";
    case Fp8GemmBackend::kCublasLt:
      return "cublaslt";
  }
  return "?";
}

bool fp8_gemm_cublaslt_supported(const Fp8GemmParams& p) {
  return p.m > 0 && p.k % kFp8Block == 0 && p.n % kFp8Block == 0 && p.k > 0 && p.n > 0 && device_is_hopper();
}

Fp8GemmBackend fp8_gemm_cuda(const Fp8GemmParams& p, Fp8GemmBackend backend, void* stream) {
  const cudaStream_t s = detail::as_stream(stream);
  if (backend != Fp8GemmBackend::kPortable && fp8_gemm_cublaslt_supported(p) && fp8_gemm_cublaslt(p, s))
    return Fp8GemmBackend::kCublasLt;
  if (backend == Fp8GemmBackend::kCublasLt)
    throw std::runtime_error("fp8_gemm_cuda: cuBLASLt block-scaled FP8 cannot run m=" + std::to_string(p.m) +
                             " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k) +
                             " here (needs sm_90, n and k multiples of 128, and an algorithm from cuBLASLt)");
  fp8_gemm_portable_cuda(p, stream);
  return Fp8GemmBackend::kPortable;
}

void bf16_gemm_cublaslt(const uint16_t* a, const uint16_t* w, float* y, int64_t m, int64_t n, int64_t k, void* stream) {
  LtDescs d;
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  GRPO_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, CUDA_R_16BF, k, n, k));
  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, CUDA_R_16BF, k, m, k));
  GRPO_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32F, n, m, n));
  GRPO_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref));
  const size_t ws_bytes = kWorkspaceBytes;
  GRPO_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                         sizeof ws_bytes));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  GRPO_CUBLAS_CHECK(
      cublasLtMatmulAlgoGetHeuristic(lt_handle(), d.op, d.a, d.b, d.c, d.c, d.pref, 1, &heuristic, &found));
  if (found == 0) throw std::runtime_error("bf16_gemm_cublaslt: cuBLASLt found no algorithm");
  const cudaStream_t s = detail::as_stream(stream);
  StreamBuffer workspace(kWorkspaceBytes, s);
  const float alpha = 1.0f, beta = 0.0f;
  GRPO_CUBLAS_CHECK(cublasLtMatmul(lt_handle(), d.op, &alpha, w, d.a, a, d.b, &beta, y, d.c, y, d.c, &heuristic.algo,
                                   workspace.ptr, kWorkspaceBytes, s));
}

void float_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, void* stream) {
  if (n <= 0) return;
  const int64_t blocks = std::min<int64_t>((n + 255) / 256, 65535 * 16);
  float_to_bf16_kernel<<<static_cast<unsigned>(blocks), 256, 0, detail::as_stream(stream)>>>(
      x, reinterpret_cast<__nv_bfloat16*>(y), n);
  GRPO_CUDA_CHECK_LAUNCH();
}

}  // namespace grpo::kernels
