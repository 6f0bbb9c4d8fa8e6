#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (all labels; `gpu` tests skip
# without a device). Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec ctest --test-dir "$ROOT/build" --output-on-failure -j "$(nproc)" "$@"
