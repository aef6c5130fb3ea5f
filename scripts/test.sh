#!/usr/bin/env bash
# The README's test command: installs and builds everything (scripts/setup.sh), then runs the whole
# suite — C++ unit tests, CLI and multi-rank tests, Python reference checks — and the fuzzers for a
# bounded time. Exits non-zero when anything fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${ZTUNE_BUILD_DIR:-$ROOT/build}"
FUZZ_SECONDS="${ZTUNE_FUZZ_SECONDS:-60}"

bash scripts/setup.sh --tests

echo "[test] ctest"
# mpirun refuses root unless told; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${ZTUNE_TEST_JOBS:-2}" --timeout 900

echo "[test] fuzzing (${FUZZ_SECONDS}s per target)"
bash tests/fuzz/run_fuzzers.sh "$FUZZ_SECONDS" "$BUILD_DIR/tests/work/safetensors" data/sample \
  tests/fixtures/out/tokenizer-qwen/tokenizer.json "$BUILD_DIR/tests/work/tokenizer-shapes-hf/spm-legacy/tokenizer.json"

# The CUDA/NCCL build must keep compiling and linking even where no GPU runs it.
if grep -q "ZTUNE_CUDA:BOOL=ON" "$BUILD_DIR/CMakeCache.txt"; then
  echo "[test] CUDA/NCCL code compiled and linked into $BUILD_DIR/ztune"
  "$BUILD_DIR/ztune" env | grep -E "^(CUDA|NCCL)"
  # The bundle a lent GPU machine runs, and the GPU check's dry run on this CPU with what it leaves behind,
  # so neither can rot.
  echo "[test] GPU bundle and scripts/gpu_check.sh --dry-run (tests/gpu/check_gpu_check.sh)"
  bash scripts/gpu_bundle.sh "$BUILD_DIR"
  bash tests/gpu/check_gpu_check.sh "$BUILD_DIR"
elif [ "${CI:-}" = "true" ]; then
  echo "[test] FAIL: CI must compile and link the CUDA/NCCL build (no CUDA toolkit found?)"; exit 1
fi
echo "[test] all tests passed"
