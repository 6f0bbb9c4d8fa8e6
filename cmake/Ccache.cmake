# ccache makes rebuilds after a branch switch or a clean build nearly free.
# The sloppiness settings let it cache translation units that use a precompiled header.
if(GRPO_CCACHE)
  find_program(GRPO_CCACHE_PROGRAM ccache)
  if(GRPO_CCACHE_PROGRAM)
    set(CMAKE_C_COMPILER_LAUNCHER ${GRPO_CCACHE_PROGRAM} CACHE STRING "" FORCE)
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
        ${GRPO_CCACHE_PROGRAM} CACHE STRING "" FORCE)
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${GRPO_CCACHE_PROGRAM} CACHE STRING "" FORCE)
  endif()
endif()
