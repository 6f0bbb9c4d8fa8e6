// CUDA versions of the FP8 kernels (definitions in kernels/cuda/*.cu). Plain C++ declarations:
// host code includes this header without the CUDA toolchain. Only defined when the build has
// CUDA (GRPO_HAVE_CUDA); choose at run time with kernels::cuda_device_available().
//
// Every pointer is a DEVICE pointer; `stream` is a cudaStream_t (nullptr = legacy default
// stream). Shapes and layouts are exactly those of the CPU functions of the same name without
// the _cuda suffix (kernels/fp8_e4m3.h, fp8_quant.h, fp8_gemm.h), and the codec and the
// quantizers produce bit-identical results. Errors (a failed launch, a CUDA error) throw
// std::runtime_error naming the call, file and line.
#pragma once

#include <cstdint>

#include "kernels/fp8_gemm.h"

namespace grpo::kernels {

void fp8_e4m3_encode_cuda(const float* x, uint8_t* q, int64_t n, void* stream = nullptr);
void fp8_e4m3_decode_cuda(const uint8_t* q, float* x, int64_t n, void* stream = nullptr);

void fp8_quantize_weight_128x128_cuda(const float* w, int64_t rows, int64_t cols, uint8_t* q, float* scale_inv,
                                      void* stream = nullptr);
void fp8_dequantize_weight_128x128_cuda(const uint8_t* q, const float* scale_inv, int64_t rows, int64_t cols, float* w,
                                        void* stream = nullptr);
void fp8_quantize_act_1x128_cuda(const float* x, int64_t rows, int64_t k, uint8_t* q, float* scale,
                                 void* stream = nullptr);
void fp8_dequantize_act_1x128_cuda(const uint8_t* q, const float* scale, int64_t rows, int64_t k, float* x,
                                   void* stream = nullptr);

// Which implementation runs the GEMM.
//   kPortable: our tiled CUDA-core kernel (any sm_80+ GPU, any shape). FP32 FMA on decoded
//              values, partial sums scaled per 128 of K, so it matches the CPU reference to FP32
//              rounding.
//   kCublasLt: cuBLASLt's block-scaled FP8 mode on Hopper (A scales VEC128_32F, weight scales
//              BLK128x128_32F; CUDA >= 12.9), tensor cores. Needs sm_90, K and N multiples of
//              128 (its scale layout has no partial tiles).
//   kAuto:     kCublasLt when supported for the shape and device and cuBLASLt finds an
//              algorithm, else kPortable.
enum class Fp8GemmBackend { kAuto, kPortable, kCublasLt };
const char* fp8_gemm_backend_name(Fp8GemmBackend backend);

// Whether kCublasLt can take this shape on the current device (arch and alignment only; the
// library may still find no algorithm, which kAuto then handles by falling back).
bool fp8_gemm_cublaslt_supported(const Fp8GemmParams& p);

// Y = (A·sa)(W·sw)ᵀ on the GPU; returns the backend that actually ran. Asking for kCublasLt
// where it cannot run throws.
Fp8GemmBackend fp8_gemm_cuda(const Fp8GemmParams& p, Fp8GemmBackend backend = Fp8GemmBackend::kAuto,
                             void* stream = nullptr);

// The peer for benchmarks: Y[m, n] = Σ_k A[m, k] W[n, k] in BF16 through cuBLASLt, FP32 out.
// a, w hold bfloat16 bit patterns; float_to_bf16_cuda makes them (round to nearest even).
void bf16_gemm_cublaslt(const uint16_t* a, const uint16_t* w, float* y, int64_t m, int64_t n, int64_t k,
                        void* stream = nullptr);
void float_to_bf16_cuda(const float* x, uint16_t* y, int64_t n, void* stream = nullptr);

}  // namespace grpo::kernels
