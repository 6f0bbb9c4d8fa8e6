#!/usr/bin/env bash
# GPU check, meant for the lent GPU machine: builds the CUDA targets for sm_90a, runs the
# gpu-labelled tests (and the FP8 unit tests), then the FP8 GEMM benchmark, and prints a short
# table last. One call, sized to fit a 10-minute command:
#   scripts/gpu_check.sh            # build in build-gpu/, logs to $OUT (or build-gpu/) when set
# Environment: GRPO_PYTHON (python with torch; default python3), GRPO_GPU_BUILD_DIR, GRPO_GPU_M
# (tokens for the GPU GEMM table, default 4096), GRPO_CUDA_ARCHS (default 90a).
#
# It only reads the GPU's state (nvidia-smi queries); it never changes clocks or modes.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${GRPO_GPU_BUILD_DIR:-$ROOT/build-gpu}"
PY="${GRPO_PYTHON:-python3}"
LOGS="${OUT:-$BUILD}"
ARCHS="${GRPO_CUDA_ARCHS:-90a}"
GPU_M="${GRPO_GPU_M:-4096}"
mkdir -p "$BUILD" "$LOGS"
declare -a SUMMARY=()
note() { SUMMARY+=("$1"); echo "== $1"; }

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1 | tee "$LOGS/gpu.txt"
nvcc --version | tail -1

TORCH_PREFIX="$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)" || {
  echo "gpu_check: $PY cannot import torch; set GRPO_PYTHON to a python with torch" >&2
  exit 1
}

start=$(date +%s)
if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DGRPO_PYTHON="$PY" -DGRPO_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCHS" >"$LOGS/configure.log" 2>&1; then
  tail -30 "$LOGS/configure.log"
  echo "gpu_check: configure failed (log: $LOGS/configure.log). The build needs the Debian packages of" >&2
  echo "scripts/setup.sh (libzmq3-dev cppzmq-dev nlohmann-json3-dev liblua5.4-dev libgtest-dev libpcre2-dev)." >&2
  exit 1
fi

# Targets that exist in this checkout (bench_fp8_gemm only once bench/ is wired into CMake).
targets=(test_gpu test_kernels)
if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^bench_fp8_gemm:'; then targets+=(bench_fp8_gemm); fi
if cmake --build "$BUILD" --target "${targets[@]}" -j "$(nproc)" >"$LOGS/build.log" 2>&1; then
  note "build ${targets[*]}: ok ($(($(date +%s) - start)) s)"
else
  tail -40 "$LOGS/build.log"
  note "build: FAILED (log $LOGS/build.log)"
  printf '%s\n' "${SUMMARY[@]}"
  exit 1
fi

ctest --test-dir "$BUILD" -L gpu --output-on-failure 2>&1 | tee "$LOGS/ctest_gpu.log" | tail -25
note "gpu tests: $(grep -E 'tests passed|tests failed' "$LOGS/ctest_gpu.log" | tail -1)"
skipped=$(grep -c "Skipped" "$LOGS/ctest_gpu.log" || true)
[ "$skipped" -gt 0 ] && note "gpu tests skipped: $skipped (no device visible?)"
# The cuBLASLt accuracy lines the test prints.
"$BUILD/tests/test_gpu" --gtest_filter='Fp8Cuda.CublasLt*' 2>&1 | grep -E "relative error|SKIPPED|FAILED" | sed 's/^/   /'

ctest --test-dir "$BUILD" -L unit -R 'Fp8' --output-on-failure >"$LOGS/ctest_unit.log" 2>&1
note "fp8 unit tests: $(grep -E 'tests passed|tests failed' "$LOGS/ctest_unit.log" | tail -1)"

if [ -x "$BUILD/bench/bench_fp8_gemm" ]; then
  "$BUILD/bench/bench_fp8_gemm" --m 128 --gpu-m "$GPU_M" 2>&1 | tee "$LOGS/bench_fp8_gemm.txt"
  note "bench: $LOGS/bench_fp8_gemm.txt"
else
  note "bench_fp8_gemm not built (bench/ not in CMake yet)"
fi

echo
echo "== gpu_check summary ($(($(date +%s) - start)) s) =="
printf '  %s\n' "${SUMMARY[@]}"
grep -A20 '^== GPU' "$LOGS/bench_fp8_gemm.txt" 2>/dev/null | head -20
