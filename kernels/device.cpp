#include "kernels/device.h"

#if defined(GRPO_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace grpo::kernels {

bool cuda_device_available() {
#if defined(GRPO_HAVE_CUDA)
  static const bool available = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
      return false;
    }
    return count > 0;
  }();
  return available;
#else
  return false;
#endif
}

std::string cuda_device_description() {
#if defined(GRPO_HAVE_CUDA)
  if (!cuda_device_available()) return "no CUDA device (built with CUDA)";
  int dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess)
    return "CUDA device present, properties unreadable";
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.multiProcessorCount) + " SMs)";
#else
  return "no CUDA device (built without CUDA)";
#endif
}

}  // namespace grpo::kernels
