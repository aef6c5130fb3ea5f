#!/usr/bin/env bash
# The GPU check of issue 13, prepared to run in one call on a lent GPU machine (docs/BENCHMARKS.md keeps
# its tables). It runs from the repository root with build/gpu-bundle carried (scripts/gpu_bundle.sh):
#   device tool: run(command="bash scripts/gpu_check.sh", carry=["build/gpu-bundle"], timeout_s=540)
# and prints one table: the environment, the GPU unit tests (dropout kernel, packed attention, GPU vs CPU
# parity of every fixture family, NCCL collectives), sft bf16 + packing under zero2 and zero3 (save,
# resume, merged export, greedy replies equal to the CPU's), fp16 with no skipped first step, and ZeRO-3 on
# two ranks sharing the GPU equal to one rank. Exits non-zero when a step fails.
#
#   --dry-run   the same steps on this machine's CPU (ZTUNE_DEVICE=cpu, fewer steps) from the bundle, with
#               only the bundle and torch on the library path: proves the bundle is complete and the script
#               runs. CI runs it (scripts/test.sh).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUNDLE="${ZTUNE_GPU_BUNDLE:-$ROOT/build/gpu-bundle}"
WORK="${ZTUNE_GPU_WORK:-/tmp/ztune-gpu-check}"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
PY="${ZTUNE_PYTHON:-}"
[ -z "$PY" ] && { [ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python" || PY=python3; }
[ -x "$BUNDLE/bin/ztune" ] || { echo "gpu_check: no bundle at $BUNDLE (scripts/gpu_bundle.sh builds it)"; exit 1; }

# libtorch, CUDA and NCCL from this machine's torch wheel; everything else from the bundle.
LIBS=$("$PY" - <<'PYTHON'
import glob, os, torch
dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs += sorted(set(os.path.dirname(p) for p in glob.glob(os.path.join(site, "nvidia", "**", "lib*.so*"), recursive=True)))
print(":".join(dirs))
PYTHON
)
export LD_LIBRARY_PATH="$BUNDLE/lib:$LIBS"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" TOKENIZERS_PARALLELISM=false PYTHONPATH="$ROOT/tests/python"
BIN="$BUNDLE/bin"
FIX="$BUNDLE/fixtures"
DATA="$ROOT/data/sample/sharegpt_seed.jsonl"
if [ "$DRY" = 1 ]; then export ZTUNE_DEVICE=cpu; STEPS=4; FP16_STEPS=3; else STEPS=20; FP16_STEPS=15; fi
rm -rf "$WORK" && mkdir -p "$WORK"

rows=()
failed=0
# step NAME COMMAND...: runs it, keeps its output in $WORK/NAME.log, adds a table row.
step() {
  local name=$1; shift
  local start end rc detail status
  start=$(date +%s.%N)
  "$@" > "$WORK/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  detail=$(grep -E "^(ok|FAIL)|\[gpu parity\]|PASSED|FAILED|not run|no GPU" "$WORK/$name.log" | tail -4 | tr '\n' ' ' | cut -c1-300)
  if [ $rc -eq 0 ]; then status=PASS
  elif [ $rc -eq 77 ]; then status="SKIP (no GPU)"; [ "$DRY" = 1 ] || { status=FAIL; failed=1; }
  else status=FAIL; failed=1; detail="$detail $(tail -3 "$WORK/$name.log" | tr '\n' ' ' | cut -c1-300)"
  fi
  rows+=("| $name | $status | $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", b - a}') | ${detail//|//} |")
  echo "[gpu_check] $name: $status"
}

echo "[gpu_check] $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$DRY" = 1 ] && echo ' (dry run on the CPU)')"
nvidia-smi -L 2>/dev/null || echo "[gpu_check] nvidia-smi: no GPU here"
"$PY" -c 'import torch; print("[gpu_check] torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
if ldd "$BIN/ztune" | grep -q "not found"; then
  ldd "$BIN/ztune" | grep "not found"; echo "[gpu_check] FAIL: the bundle misses libraries"; exit 1
fi
step env "$BIN/ztune" env
step gpu_unit_tests "$BIN/ztune_gpu_tests"
# A collective held past the timeout ends the process, naming it (expect_failure passes on that failure).
if [ "$DRY" = 1 ]; then
  step nccl_timeout_ends_process "$BIN/ztune_gpu_tests" --timeout-probe
else
  step nccl_timeout_ends_process tests/expect_failure.sh 60 "NCCL all_reduce #0 failed on rank 0: it did not complete within 2 s" \
    "$BIN/ztune_gpu_tests" --timeout-probe
fi
step sft_zero2 "$PY" tests/python/gpu_sft_check.py "$BIN/ztune" "$FIX/qwen2" "$DATA" "$WORK/zero2" --deepspeed zero2 --steps $STEPS
step sft_zero3 "$PY" tests/python/gpu_sft_check.py "$BIN/ztune" "$FIX/qwen2" "$DATA" "$WORK/zero3" --deepspeed zero3 --steps $STEPS
step fp16_first_step "$PY" tests/python/check_fp16.py "$BIN/ztune" "$FIX/qwen2" "$DATA" "$WORK/fp16" --steps $FP16_STEPS
step staged_zero3_2_ranks env ZTUNE_SHARED_GPU=1 "$PY" tests/python/check_zero.py "$BIN/ztune_zero_train" "$FIX/qwen2" \
  "$WORK/staged" 2 --launcher env --stages 3 --steps 6
if [ "$DRY" = 1 ]; then
  step benchmarks "$PY" bench/gpu_bench.py "$BIN/ztune" "$WORK/bench" --shape tiny --device cpu --steps 3 --tokens 256 \
    --fixtures "$FIX/qwen2" --budget 120
else
  step benchmarks "$PY" bench/gpu_bench.py "$BIN/ztune" "$WORK/bench" --shape 7b --device cuda --steps 6 --tokens 8192 \
    --fixtures "$FIX/qwen2" --budget 300
fi

echo
echo "| check | result | seconds | detail |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
grep -E "^\| " "$WORK/benchmarks.log" || echo "(no benchmark table: see $WORK/benchmarks.log)"
exit $failed
