#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ and runs each for a
# bounded time from a small generated seed corpus.
#   scripts/fuzz.sh [seconds per target, default 30]
# Exits non-zero when a target crashes (or fails to build); the crashing input is kept in
# build-fuzz/artifacts/ and can be replayed with: build-fuzz/.../fuzz_safetensors_header FILE
set -euo pipefail
export LC_ALL=C

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
python="${GRPO_PYTHON:-$root/.venv/bin/python}"
mkdir -p "$build/artifacts"

# The top-level CMake needs LibTorch even though the fuzzers do not, so configure through CMake
# when torch is importable and otherwise compile the (torch-free) sources directly.
exe=""
prefix="$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)"
if [[ -n "$prefix" ]] &&
   CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DGRPO_FUZZ=ON -DGRPO_TESTS=ON -DGRPO_CUDA=OFF \
     -DCMAKE_PREFIX_PATH="$prefix" >"$build/configure.log" 2>&1; then
  cmake --build "$build" --target fuzz_safetensors_header fuzz_actor_messages
  exe="$build/tests/fuzz/fuzz_safetensors_header"
  msg_exe="$build/tests/fuzz/fuzz_actor_messages"
else
  echo "fuzz.sh: CMake configure failed or torch not found (see $build/configure.log); compiling directly"
  flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
         -fno-omit-frame-pointer -I"$root")
  exe="$build/fuzz_safetensors_header"
  clang++ "${flags[@]}" "$root/tests/fuzz/fuzz_safetensors_header.cpp" "$root/model/safetensors_format.cpp" \
    "$root/common/error.cpp" -o "$exe"
  msg_exe="$build/fuzz_actor_messages"
  clang++ "${flags[@]}" "$root/tests/fuzz/fuzz_actor_messages.cpp" "$root/actor/transport/messages.cpp" \
    "$root/common/error.cpp" -o "$msg_exe"
fi

# Seed corpus: a few small valid files covering metadata, scalars, zero-size and sub-byte dtypes.
seeds="$build/seeds/safetensors_header"
corpus="$build/corpus/safetensors_header"
mkdir -p "$seeds" "$corpus"
seed() {  # seed NAME HEADER DATA_BYTES: 8-byte little-endian length, header, zero data
  local n=${#2}
  printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\000\\000\\000\\000' $((n & 255)) $((n >> 8 & 255)) \
    $((n >> 16 & 255)) $((n >> 24 & 255)))" >"$seeds/$1"
  printf '%s' "$2" >>"$seeds/$1"
  head -c "$3" /dev/zero >>"$seeds/$1"
}
seed f32 '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
seed meta '{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[8,11]}}' 11
seed empty '{}' 0
seed padded '{"__metadata__":{"format":"pt"}}       ' 0
seed scalar_zero '{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[0,5],"data_offsets":[8,8]}}' 8
seed subbyte '{"p":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},"q":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[2,5]}}' 5
seed escapes '{"a\u0041\n\"":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}' 1

echo "fuzz.sh: running fuzz_safetensors_header for ${seconds}s"
# libFuzzer reports every new input; keep that in a log and print its end only on a crash.
run_fuzzer() {  # run_fuzzer NAME EXE ARGS...
  local name="$1" exe="$2"; shift 2
  if ! "$exe" "$@" >"$build/$name.log" 2>&1; then
    tail -40 "$build/$name.log"
    echo "fuzz.sh: $name found a crash; input kept in $build/artifacts/ (full log: $build/$name.log)"
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units" "$build/$name.log" | sed "s/^/fuzz.sh: $name: /"
}
run_fuzzer safetensors_header "$exe" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$root/tests/fuzz/safetensors.dict" -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  "$corpus" "$seeds"

# Actor messages: seeds are small length-prefixed frame lists (see fuzz_actor_messages.cpp).
msg_seeds="$build/seeds/actor_messages"
msg_corpus="$build/corpus/actor_messages"
mkdir -p "$msg_seeds" "$msg_corpus"
printf '\x0c\x00GRPO\x01\x00\x06\xa1\x66reason' >"$msg_seeds/shutdown_cut"
printf '\x07\x00GRPO\x01\x00\x05' >"$msg_seeds/header_only"
echo "fuzz.sh: running fuzz_actor_messages for ${seconds}s"
run_fuzzer actor_messages "$msg_exe" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 "$msg_corpus" "$msg_seeds"
echo "fuzz.sh: no crash"
