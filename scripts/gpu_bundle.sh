#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs on a lent GPU machine into build/gpu-bundle/ (carried there by the
# device tool; at most 64 MiB). That machine has Python 3.12 with torch 2.11 (CUDA 13), transformers and
# peft, but no MPI, HDF5 or other -dev packages and no network, so the bundle holds:
#   bin/        ztune and the test programs, stripped, their RUNPATH set to $ORIGIN/../lib (no path of this
#               machine is searched there)
#   lib/        every shared library they need that is not libtorch's, CUDA's, NCCL's or glibc's
#   fixtures/   the tiny fixture models (qwen2, llama, qwen3, qwen3-moe); the programs find them through
#               ZTUNE_FIXTURES_DIR, which gpu_check.sh sets
#   bundle.env  what it was built from and against: commit, torch version, CUDA, C++ ABI, the GPU
#               architectures of ztune's kernels (gpu_check.sh compares the torch it finds there)
# libtorch, libcudart and NCCL come from that machine's torch wheel (gpu_check.sh finds them).
# usage: scripts/gpu_bundle.sh [BUILD_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-${ZTUNE_BUILD_DIR:-$ROOT/build}}"
OUT="$BUILD_DIR/gpu-bundle"
LIMIT=$((64 * 1024 * 1024))
PY="${ZTUNE_PYTHON:-$ROOT/.venv/bin/python}"

programs=("$BUILD_DIR/ztune" "$BUILD_DIR/tests/ztune_gpu_tests" "$BUILD_DIR/tests/ztune_comm_probe" "$BUILD_DIR/tests/ztune_expert_parallel_probe"
          "$BUILD_DIR/tests/ztune_zero_train")
for program in "${programs[@]}"; do
  [ -x "$program" ] || { echo "gpu_bundle: $program is missing; build with the CUDA toolkit first (scripts/setup.sh)"; exit 1; }
done
command -v patchelf > /dev/null || { echo "gpu_bundle: patchelf is missing (apt-get install patchelf; scripts/setup.sh --tests installs it)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/fixtures"
for program in "${programs[@]}"; do
  strip -o "$OUT/bin/$(basename "$program")" "$program"
  patchelf --set-rpath '$ORIGIN/../lib' "$OUT/bin/$(basename "$program")"
done

# Libraries from the torch wheel, the CUDA toolkit and glibc stay behind: the GPU machine has its own.
skip='/(torch|nvidia)/|/cuda[^/]*/|lib(c|m|dl|rt|pthread|util|resolv)\.so|ld-linux|libcuda\.so|libnccl|libcudart|linux-vdso'
for program in "${programs[@]}"; do
  ldd "$program" | awk '/=> \// {print $3}'
done | sort -u | grep -Ev "$skip" | while read -r library; do
  cp -L "$library" "$OUT/lib/"
done
strip --strip-unneeded "$OUT"/lib/*.so* 2>/dev/null || true
for model in qwen2 llama qwen3 qwen3-moe; do cp -r "$ROOT/tests/fixtures/out/$model" "$OUT/fixtures/"; done

# The GPU code in ztune: real code (SASS) for each architecture, and PTX for the newest, which a later GPU's
# driver compiles (read from the fat binary: the toolkit here may have no cuobjdump).
archs=$("$PY" "$ROOT/scripts/cuda_archs.py" "$OUT/bin/ztune")
{
  echo "COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +changes)"
  echo "BUILT=$(date -u +%FT%TZ)"
  "$PY" -c 'import torch
print("TORCH_VERSION=" + torch.__version__.split("+")[0])
print("TORCH_CUDA=" + str(torch.version.cuda))
print("CXX11_ABI=" + str(int(torch._C._GLIBCXX_USE_CXX11_ABI)))'
  echo "CUDA_ARCHS=$archs"
} > "$OUT/bundle.env"

size=$(du -sb "$OUT" | cut -f1)
echo "gpu_bundle: $OUT holds $(ls "$OUT/bin" | wc -l) programs, $(ls "$OUT/lib" | wc -l) libraries, $((size / 1024 / 1024)) MiB"
sed 's/^/gpu_bundle:   /' "$OUT/bundle.env"
if [ "$size" -gt "$LIMIT" ]; then
  echo "gpu_bundle: FAIL: over the 64 MiB the device tool carries"; exit 1
fi
