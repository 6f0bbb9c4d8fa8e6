# CUDA is optional: sources build when nvcc is found and GRPO_CUDA is ON.
# At run time the program still chooses CPU paths when no device is present.
set(GRPO_HAVE_CUDA OFF)
if(GRPO_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # sm_90a: Hopper with wgmma/TMA; sm_80: Ampere fallback.
      set(CMAKE_CUDA_ARCHITECTURES "80;90a")
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    find_package(CUDAToolkit REQUIRED)
    set(GRPO_HAVE_CUDA ON)
    message(STATUS "grpo: CUDA kernels ON (${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
  else()
    message(STATUS "grpo: nvcc not found, CUDA kernels OFF")
  endif()
else()
  message(STATUS "grpo: CUDA kernels OFF (GRPO_CUDA=OFF)")
endif()

# NCCL for the GPU weight broadcast (actor/nccl_broadcast.h): optional, needs CUDA. Without it
# actor/ still builds and the broadcast functions throw "built without NCCL".
option(GRPO_NCCL "Build the NCCL weight broadcast when CUDA and NCCL are found" ON)
set(GRPO_HAVE_NCCL OFF)
if(GRPO_HAVE_CUDA AND GRPO_NCCL)
  find_path(GRPO_NCCL_INCLUDE_DIR nccl.h HINTS ENV NCCL_HOME ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include
            PATH_SUFFIXES include)
  find_library(GRPO_NCCL_LIBRARY nccl HINTS ENV NCCL_HOME ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib
               PATH_SUFFIXES lib lib64)
  if(GRPO_NCCL_INCLUDE_DIR AND GRPO_NCCL_LIBRARY)
    add_library(grpo_nccl INTERFACE)
    target_include_directories(grpo_nccl INTERFACE ${GRPO_NCCL_INCLUDE_DIR})
    target_link_libraries(grpo_nccl INTERFACE ${GRPO_NCCL_LIBRARY} CUDA::cudart)
    target_compile_definitions(grpo_nccl INTERFACE GRPO_HAVE_NCCL=1)
    set(GRPO_HAVE_NCCL ON)
    message(STATUS "grpo: NCCL ON (${GRPO_NCCL_LIBRARY})")
  else()
    message(STATUS "grpo: NCCL not found, GPU weight broadcast OFF")
  endif()
endif()
