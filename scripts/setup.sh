#!/usr/bin/env bash
# Installs what is missing, configures and builds grpo into build/. Idempotent: a second run
# with nothing changed only re-checks and runs an empty incremental build.
#
#   GRPO_CUDA=OFF scripts/setup.sh     build without the CUDA kernels
#   GRPO_BUILD_TYPE=Debug ...          another CMake build type
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TORCH_VERSION=2.11.0   # matches the GPU machine's preinstalled PyTorch
REFERENCE_PACKAGES=(transformers==5.23.0 safetensors==0.8.0 tokenizers==0.23.3 tensorboard==2.21.0 accelerate==1.15.0 numpy)
DEBIAN_PACKAGES=(build-essential cmake ninja-build pkg-config ccache git python3-venv
                 libzmq3-dev cppzmq-dev nlohmann-json3-dev liblua5.4-dev lua5.4 libgtest-dev libgmock-dev
                 libpcre2-dev libopenblas-dev libssl-dev clang clang-format)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages --------------------------------------------------------------------
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- Python: LibTorch and the reference-test packages -------------------------------------
# A python3 that already has the pinned torch (the GPU machine) is used through a venv that sees
# its site-packages; otherwise the venv gets torch from PyPI.
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
marker="$VENV/.grpo-requirements"
wanted="torch==$TORCH_VERSION ${REFERENCE_PACKAGES[*]}"
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$wanted" ]; then
  if python3 -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    say "using the system torch $TORCH_VERSION through a venv with system site-packages"
    [ -x "$PY" ] || python3 -m venv --system-site-packages "$VENV"
    # Offline machines keep going: the reference tests then skip with a message.
    "$PY" -m pip install -q "${REFERENCE_PACKAGES[@]}" || say "could not install ${REFERENCE_PACKAGES[*]}; reference tests will skip"
  else
    [ -x "$PY" ] || python3 -m venv "$VENV"
    say "installing torch==$TORCH_VERSION and the reference packages into .venv (first time only)"
    "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" "${REFERENCE_PACKAGES[@]}"
  fi
  echo "$wanted" > "$marker"
fi
TORCH_PREFIX="$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"

# --- Configure and build ------------------------------------------------------------------
# Paths relative to the checkout in ccache's hashes, so a second clone (CI) reuses the cache.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
BUILD="$ROOT/build"
if [ ! -f "$BUILD/build.ninja" ]; then
  say "configuring build/"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE="${GRPO_BUILD_TYPE:-RelWithDebInfo}" \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
    -DGRPO_PYTHON="$PY" \
    -DGRPO_CUDA="${GRPO_CUDA:-ON}" >/dev/null
fi
# Two compile jobs per 8 GiB keeps LibTorch translation units from swapping small machines.
jobs="${GRPO_JOBS:-$(nproc)}"
say "building (ninja -j$jobs)"
cmake --build "$BUILD" -j "$jobs"
