#!/usr/bin/env bash
# Fails when a tracked C++ or CUDA source differs from what clang-format makes of it
# (.clang-format: Google style, 120 columns). Fix with:
#   git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/grpo-format.$$; then
  grep -o "^[^ ]*: error: code should be clang-formatted" /tmp/grpo-format.$$ | cut -d: -f1 | sort -u | head -40 >&2
  echo "check_format: the files above are not clang-formatted (see the fix at the top of scripts/check_format.sh)" >&2
  rm -f /tmp/grpo-format.$$
  exit 1
fi
rm -f /tmp/grpo-format.$$
echo "check_format: ${#files[@]} files clang-formatted"
