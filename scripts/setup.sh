#!/usr/bin/env bash
# Installs everything ztune needs on a Debian machine and builds it. Safe to run again: each step
# is skipped when its result is already there and up to date.
#   1. Debian packages (compilers, CMake, OpenMPI, HDF5, nlohmann-json, spdlog, GoogleTest, PCRE2, libcurl)
#   2. .venv: the pinned Python stack (torch 2.11.0, whose libtorch we build against, and the reference
#      libraries the tests compare with); .venv-swanlab: the SwanLab SDK (--report_to swanlab)
#   3. tests/fixtures/out: tiny models and tokenizer, regenerated only when their inputs change
#   4. build/: CMake + Ninja (CUDA/NCCL compiled in when the CUDA toolkit is present)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${ZTUNE_BUILD_DIR:-$ROOT/build}"
JOBS="${ZTUNE_JOBS:-$(nproc)}"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# ---- 1. Debian packages ------------------------------------------------------------------------
PACKAGES=(build-essential cmake ninja-build pkg-config git python3 python3-venv python3-dev
          openmpi-bin libopenmpi-dev libhdf5-dev nlohmann-json3-dev libspdlog-dev libgtest-dev
          libpcre2-dev libutf8proc-dev libcurl4-openssl-dev clang libclang-rt-14-dev iproute2 util-linux
          slurmctld slurmd slurm-client munge slurm-wlm-basic-plugins
          docker.io debootstrap openssh-client patchelf)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- 2. Python environment ---------------------------------------------------------------------
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
req_hash=$(sha256sum requirements.txt | cut -c1-16)
if [ ! -x "$PY" ] || [ "$(cat "$VENV/.requirements-hash" 2>/dev/null)" != "$req_hash" ]; then
  log "creating $VENV with the pinned Python stack (torch 2.11.0 is ~3 GB with its CUDA libraries)"
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
  # llama-cpp-python (the GGUF export test's llama.cpp) has no wheel: pip builds it, portable and without its tools.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$PY" -m pip install -q -r requirements.txt
  echo "$req_hash" > "$VENV/.requirements-hash"
fi

# The SwanLab SDK for --report_to swanlab, in a venv of its own (its protobuf and rich pins clash with .venv's).
SWAN_VENV="$ROOT/.venv-swanlab"
swan_hash=$(sha256sum requirements-swanlab.txt | cut -c1-16)
if [ ! -x "$SWAN_VENV/bin/python" ] || [ "$(cat "$SWAN_VENV/.requirements-hash" 2>/dev/null)" != "$swan_hash" ]; then
  log "creating $SWAN_VENV with the SwanLab SDK"
  [ -x "$SWAN_VENV/bin/python" ] || python3 -m venv "$SWAN_VENV"
  "$SWAN_VENV/bin/python" -m pip install -q -r requirements-swanlab.txt
  echo "$swan_hash" > "$SWAN_VENV/.requirements-hash"
fi

# ---- 3. Fixtures -------------------------------------------------------------------------------
"$PY" tests/fixtures/make_fixtures.py --out tests/fixtures/out

# ---- 4. Build ----------------------------------------------------------------------------------
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
PY_SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DZTUNE_PYTHON_SITE="$PY_SITE" -DZTUNE_PYTHON="$PY" \
        ${ZTUNE_CMAKE_ARGS:-}
fi
log "building (jobs: $JOBS)"
cmake --build "$BUILD_DIR" -j "$JOBS"
log "done: $BUILD_DIR/ztune"
