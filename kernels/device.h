// Run-time backend selection: the CUDA kernels (kernels/cuda/) are compiled in when nvcc was
// found (GRPO_HAVE_CUDA), but a binary built with them still runs on machines without a GPU.
#pragma once

#include <string>

namespace grpo::kernels {

// True when this build has the CUDA kernels AND a usable CUDA device is present. Cached after
// the first call. Never throws: a missing driver reads as "no device".
bool cuda_device_available();

// One line for logs and benchmarks: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)" or why there is none.
std::string cuda_device_description();

}  // namespace grpo::kernels
