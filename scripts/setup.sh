#!/usr/bin/env bash
# Installs what ztune needs on a Debian machine and builds it. Safe to run again: each step is skipped when
# its result is already there and up to date.
#
#   scripts/setup.sh           what the main job uses (scripts/demo.sh): the build tools and libraries ztune
#                              links, .venv with torch (libtorch) and what makes the tiny models, .venv-swanlab,
#                              the fixtures, and the `ztune` binary alone; CUDA/NCCL code only where a GPU is
#                              present or ZTUNE_CUDA=ON asks for it (a login node building for GPU nodes)
#   scripts/setup.sh --tests   everything the test suite adds (scripts/test.sh): GoogleTest, clang for the
#                              fuzzers, Slurm, munge, Docker, debootstrap, patchelf, the reference Python stack
#                              (requirements-test.txt, llama-cpp-python built from source), every target, and
#                              the CUDA/NCCL code whenever the toolkit is present
#
#   1. Debian packages   2. .venv and .venv-swanlab   3. tests/fixtures/out   4. build/ (CMake + Ninja)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=main
case "${1:-}" in
  "") ;;
  --tests) MODE=tests ;;
  *) echo "usage: scripts/setup.sh [--tests]" >&2; exit 2 ;;
esac
BUILD_DIR="${ZTUNE_BUILD_DIR:-$ROOT/build}"
JOBS="${ZTUNE_JOBS:-$(nproc)}"
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# Each phase's wall time, printed at the end (the README's figures come from these lines).
SECONDS=0
phase_start=0
phase() { log "$1: $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }

# ---- 1. Debian packages ------------------------------------------------------------------------
PACKAGES=(build-essential cmake ninja-build pkg-config git python3 python3-venv python3-dev
          openmpi-bin libopenmpi-dev libhdf5-dev nlohmann-json3-dev libspdlog-dev
          libpcre2-dev libutf8proc-dev libcurl4-openssl-dev)
if [ "$MODE" = tests ]; then
  PACKAGES+=(libgtest-dev clang libclang-rt-14-dev iproute2 util-linux
             slurmctld slurmd slurm-client munge slurm-wlm-basic-plugins
             docker.io debootstrap openssh-client patchelf)
fi
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
phase "Debian packages"

# ---- 2. Python environments --------------------------------------------------------------------
# pip_install VENV REQUIREMENTS STAMP: installs the file into the venv unless STAMP holds its hash already
# (the hash covers the files it includes with -r).
pip_install() {
  local venv=$1 requirements=$2 stamp=$1/$3 files hash
  files=$(grep -oE '^-r +[^ ]+' "$requirements" | awk '{print $2}' || true)
  # shellcheck disable=SC2086
  hash=$(cat "$requirements" $files | sha256sum | cut -c1-16)
  [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] && return 0
  log "installing $requirements into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # uv (from PyPI, into the venv) installs the same pinned files as pip, three times faster (torch's 3 GB: 43 s
  # against 128 s here); --no-cache keeps nothing outside the clone. --compile-bytecode writes the .pyc files pip
  # writes: without them every Python process (PYTHONDONTWRITEBYTECODE is common in images) compiles what it
  # imports, 14.5 s instead of 6.5 s for torch + transformers here, in every test that starts one.
  [ -x "$venv/bin/uv" ] || "$venv/bin/python" -m pip install -q --disable-pip-version-check "$UV_PIN"
  # llama-cpp-python (the GGUF export test's llama.cpp) has no wheel: it is built, portable, with only the libraries
  # its text API loads (llama, ggml): no tools, no multimodal library (LLAVA_BUILD), and not llama.cpp's `common`,
  # which the package forces on and which was half the compile time (scripts/llama_cpp_without_common.cmake).
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$ROOT/scripts/llama_cpp_without_common.cmake" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$venv/bin/uv" pip install -q --no-cache --compile-bytecode --python "$venv/bin/python" \
    -r "$requirements"
  echo "$hash" > "$stamp"
}
UV_PIN="uv==0.13.9"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
pip_install "$VENV" requirements.txt .requirements-hash
phase "Python: .venv (requirements.txt)"
if [ "$MODE" = tests ]; then
  pip_install "$VENV" requirements-test.txt .requirements-test-hash
  phase "Python: .venv (requirements-test.txt)"
fi

# The SwanLab environment and the fixtures need only .venv, not the build: they run beside it, in the minutes
# its first, single-threaded step (the precompiled header) leaves a core free. Their output goes to a log each,
# shown when they fail.
BACKGROUND_LOGS=$(mktemp -d)
background=()
in_background() {  # NAME COMMAND...
  local name=$1; shift
  ( start=$SECONDS; "$@"; echo "[$name: $((SECONDS - start)) s]" ) > "$BACKGROUND_LOGS/$name.log" 2>&1 &
  background+=("$!:$name")
}
# The SwanLab SDK for --report_to swanlab, in a venv of its own (its protobuf and rich pins clash with .venv's
# reference stack); ztune finds it from its own location.
in_background swanlab pip_install "$ROOT/.venv-swanlab" requirements-swanlab.txt .requirements-hash
# ---- 3. Fixtures -------------------------------------------------------------------------------
in_background fixtures "$PY" tests/fixtures/make_fixtures.py --out tests/fixtures/out

# ---- 4. Build ----------------------------------------------------------------------------------
# CUDA/NCCL code: the test set-up compiles it whenever the toolkit is present (CI keeps it compiling and
# linking on machines without a GPU); the main job only where a GPU is present. ZTUNE_CUDA=ON|OFF decides
# for either (ON on a login node without a GPU that builds for GPU nodes).
have_toolkit=false
{ command -v nvcc || [ -x /usr/local/cuda/bin/nvcc ]; } > /dev/null 2>&1 && have_toolkit=true
have_gpu=false
nvidia-smi -L 2>/dev/null | grep -q "^GPU" && have_gpu=true
if [ -n "${ZTUNE_CUDA:-}" ]; then
  cuda=$ZTUNE_CUDA
elif $have_toolkit && { [ "$MODE" = tests ] || $have_gpu; }; then
  cuda=ON
else
  cuda=OFF
fi
tests=OFF; [ "$MODE" = tests ] && tests=ON
cached() { sed -n "s/^$1:BOOL=//p" "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; }
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
PY_SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
configure=false
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  configure=true
elif [ "$MODE" = tests ] && { [ "$(cached ZTUNE_TESTS)" != ON ] || [ "$(cached ZTUNE_CUDA)" != "$cuda" ]; }; then
  configure=true  # a main-job build folder grows the tests (and the CUDA code where the toolkit is)
elif [ -n "${ZTUNE_CUDA:-}" ] && [ "$(cached ZTUNE_CUDA)" != "$cuda" ]; then
  configure=true
elif [ "$MODE" = main ]; then
  tests=$(cached ZTUNE_TESTS); cuda=$(cached ZTUNE_CUDA)  # a test build folder stays one
fi
# The main job's build has no debug information (a third less compile time); the test build keeps it.
build_type=RelWithDebInfo; [ "$tests" = OFF ] && build_type=Release
if $configure; then
  log "configuring $BUILD_DIR (CUDA/NCCL: $cuda, tests: $tests, $build_type)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=$build_type -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
        -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DZTUNE_PYTHON_SITE="$PY_SITE" -DZTUNE_PYTHON="$PY" \
        -DZTUNE_CUDA="$cuda" -DZTUNE_TESTS="$tests" ${ZTUNE_CMAKE_ARGS:-} > /dev/null
fi
if [ "$MODE" = main ]; then
  log "building ztune (jobs: $JOBS; CUDA/NCCL: $cuda)"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target ztune
else
  log "building every target (jobs: $JOBS; CUDA/NCCL: $cuda)"
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
phase "build"
failed=0
for job in "${background[@]}"; do
  if wait "${job%%:*}"; then
    log "${job#*:} (beside the build): $(tail -n 1 "$BACKGROUND_LOGS/${job#*:}.log")"
  else
    cat "$BACKGROUND_LOGS/${job#*:}.log"; log "FAILED: ${job#*:}"; failed=1
  fi
done
rm -rf "$BACKGROUND_LOGS"
[ $failed = 0 ] || exit 1
log "done in $SECONDS s: $BUILD_DIR/ztune"
