#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default recipe.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
# No recipe has landed yet: show what the program can do.
exec "$ROOT/build/grpo" --help
