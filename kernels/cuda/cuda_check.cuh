// Error checks for the .cu files (device-side helpers; host code never includes this).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace grpo::kernels::detail {

[[noreturn]] inline void cuda_fail(const char* what, const char* detail, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " + detail);
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace grpo::kernels::detail

// GRPO_CUDA_CHECK(cudaMemcpy(...)): throws with the call, file:line and CUDA's message.
#define GRPO_CUDA_CHECK(call)                                                                       \
  do {                                                                                              \
    const cudaError_t grpo_err_ = (call);                                                           \
    if (grpo_err_ != cudaSuccess)                                                                   \
      ::grpo::kernels::detail::cuda_fail(#call, cudaGetErrorString(grpo_err_), __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration shows up only in cudaGetLastError.
#define GRPO_CUDA_CHECK_LAUNCH() GRPO_CUDA_CHECK(cudaGetLastError())

#define GRPO_CUBLAS_CHECK(call)                                                                               \
  do {                                                                                                        \
    const cublasStatus_t grpo_st_ = (call);                                                                   \
    if (grpo_st_ != CUBLAS_STATUS_SUCCESS)                                                                    \
      ::grpo::kernels::detail::cuda_fail(                                                                     \
          #call, ("cublasStatus " + std::to_string(static_cast<int>(grpo_st_))).c_str(), __FILE__, __LINE__); \
  } while (0)
