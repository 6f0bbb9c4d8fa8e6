# LibTorch comes from the `torch` Python package (torch.utils.cmake_prefix_path), the same
# way on this machine and on the GPU machine. scripts/setup.sh passes CMAKE_PREFIX_PATH.
# Without TORCH_CUDA_ARCH_LIST, Torch's CMake probes for installed GPUs (none here) by compiling
# and running a program; name the architectures we build for instead.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;9.0a")
endif()
find_package(Torch REQUIRED)
message(STATUS "grpo: LibTorch ${Torch_VERSION} from ${TORCH_INSTALL_PREFIX}")

# One precompiled header for every LibTorch target: parsing torch/torch.h costs ~15 s per
# translation unit on this machine, the PCH makes that once per build.
add_library(grpo_torch_pch STATIC cmake/torch_pch_anchor.cpp)
target_link_libraries(grpo_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_include_directories(grpo_torch_pch PUBLIC ${TORCH_INCLUDE_DIRS})
target_precompile_headers(grpo_torch_pch PRIVATE <torch/torch.h>)

# Use in every target that includes torch headers.
function(grpo_use_torch target)
  target_link_libraries(${target} PUBLIC grpo_torch_pch)
  target_precompile_headers(${target} REUSE_FROM grpo_torch_pch)
endfunction()
