#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the math recipe end to
# end (data, tokenizer, SFT base, evaluation, GRPO, evaluation, report.html) on this machine's CPU.
# Extra arguments go to `grpo run`, e.g. scripts/run.sh --run-dir runs/try2, or another recipe:
#   RECIPE=recipes/code scripts/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$ROOT/build/grpo" run "${RECIPE:-recipes/math}" "$@"
