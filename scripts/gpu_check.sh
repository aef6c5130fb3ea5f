#!/usr/bin/env bash
# The GPU check, prepared to run in one call on a lent GPU machine (docs/BENCHMARKS.md says how and keeps its
# tables). It runs from the repository root with build/gpu-bundle carried (scripts/gpu_bundle.sh builds it):
#   device tool: run(command="bash scripts/gpu_check.sh", carry=["build/gpu-bundle"], timeout_s=540)
# It plans for 480 s in all (ZTUNE_GPU_PLAN_S), start-up included; every step has a deadline within what is
# left, and the benchmark gets the time actually left at its turn.
#
# Before any step: a GPU must be visible (else the check fails at once), the bundle's torch must match the
# machine's (version, CUDA major, C++ ABI) and every bundled program must find its libraries. The steps: the
# environment (`ztune env` must see the GPU); the GPU unit tests (dropout kernel, packed attention, GPU vs CPU
# parity of every fixture family, NCCL collectives); the NCCL timeout probe; sft bf16 + packing under zero2 and
# zero3 (save, resume, merged export, greedy replies equal to the CPU's); fp16 with no skipped first step;
# ZeRO-3 on two ranks sharing the GPU equal to one rank (skipped when the GPU's compute mode forbids sharing);
# the benchmarks (bench/gpu_bench.py). Every ztune run is forced onto the GPU (ZTUNE_DEVICE=cuda) and given a
# short --ddp_timeout; only ztune's binaries see the bundle's libraries (small wrappers), with the machine's
# LD_LIBRARY_PATH kept after them.
#
# What comes back (under $OUT, the folder the device tool returns; WORK.out elsewhere): gpu_check.md, the
# table so far, rewritten after every row, and gpu_check.tar.gz, every step's log, logging.jsonl,
# estimate.json and the benchmark's partial results, repacked every 15 s while a step runs. Rows print as they
# finish; a failing row prints the end of its log; a signal prints the table so far. Exits non-zero when a
# step fails.
#
#   --dry-run   the same steps, deadlines, wrappers, fixture lookup and archive on this machine's CPU
#               (ZTUNE_DEVICE=cpu, fewer steps, a tiny benchmark model, deadlines x3): CI runs it through
#               tests/gpu/check_gpu_check.sh, which also checks what it leaves behind.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/gpu_check_lib.sh
source "$ROOT/scripts/gpu_check_lib.sh"
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
BUNDLE="${ZTUNE_GPU_BUNDLE:-$ROOT/build/gpu-bundle}"
WORK="${ZTUNE_GPU_WORK:-/tmp/ztune-gpu-check}"
RESULTS="${OUT:-$WORK.out}"
if [ "$DRY" = 1 ]; then PLAN_S="${ZTUNE_GPU_PLAN_S:-1500}"; SCALE=3; else PLAN_S="${ZTUNE_GPU_PLAN_S:-480}"; SCALE=1; fi
PATH="$PATH:/usr/local/nvidia/bin"  # where GPU images mount the driver's tools
PY="${ZTUNE_PYTHON:-}"
[ -z "$PY" ] && { [ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python" || PY=python3; }
[ -x "$BUNDLE/bin/ztune" ] || { echo "gpu_check: no bundle at $BUNDLE (scripts/gpu_bundle.sh builds it)"; exit 1; }

rm -rf "$WORK" "$RESULTS/gpu_check.md" "$RESULTS/gpu_check.tar.gz"
gpu_check_begin
trap gpu_check_finish EXIT
trap gpu_check_interrupted TERM INT HUP
# The console also goes to console.log, through a tee that outlives a signal to the whole process group; a
# closed pipe must not end the check before its trap has written the table.
trap '' PIPE
exec > >(trap "" TERM INT HUP; exec tee -p -a "$WORK/console.log") 2>&1
GPU_CHECK_TEE=$!

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT/tests/python${PYTHONPATH:+:$PYTHONPATH}"
if [ "$DRY" = 1 ]; then export ZTUNE_DEVICE=cpu; STEPS=4; FP16_STEPS=3; else export ZTUNE_DEVICE=cuda; STEPS=20; FP16_STEPS=15; fi
DDP_TIMEOUT=$((60 * SCALE))
export ZTUNE_TEST_TIMEOUT_S=$DDP_TIMEOUT  # tests/tools/zero_train's collective timeout
FIX="$BUNDLE/fixtures"
DATA="$ROOT/data/sample/sharegpt_seed.jsonl"

echo "[gpu_check] $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$DRY" = 1 ] && echo ' (dry run on the CPU)'), plan ${PLAN_S} s"

# ---- before any step: the machine, the GPU, the bundle against this machine's torch ----------------
# torch's libraries (libtorch, CUDA, NCCL from its wheel) and what the bundle was built against.
MACHINE=$("$PY" - <<'PYTHON'
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
dirs += sorted(set(os.path.dirname(p) for p in glob.glob(os.path.join(site, "nvidia", "**", "lib*.so*"), recursive=True)))
print("TORCH_LIBS=" + ":".join(dirs))
print("TORCH_VERSION=" + torch.__version__.split("+")[0])
print("TORCH_CUDA=" + str(torch.version.cuda))
print("CXX11_ABI=" + str(int(torch._C._GLIBCXX_USE_CXX11_ABI)))
print("DEVICES=" + str(torch.cuda.device_count()))
PYTHON
)
value() { sed -n "s/^$1=//p" <<<"$2" | head -1; }
TORCH_LIBS=$(value TORCH_LIBS "$MACHINE")
SMI=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_mode --format=csv,noheader 2>/dev/null | head -1)
echo "[gpu_check] machine: ${SMI:-no nvidia-smi answer}; torch $(value TORCH_VERSION "$MACHINE") CUDA $(value TORCH_CUDA "$MACHINE"), $(value DEVICES "$MACHINE") device(s) visible to torch"
if [ "$DRY" = 1 ]; then
  add_row gpu_visible "SKIP (dry run)" 0 "${SMI:-no GPU here}; torch sees $(value DEVICES "$MACHINE")"
elif [ "$(value DEVICES "$MACHINE")" -ge 1 ] 2>/dev/null; then
  add_row gpu_visible PASS 0 "$SMI; torch sees $(value DEVICES "$MACHINE")"
else
  add_row gpu_visible FAIL 0 "no GPU is visible (nvidia-smi: ${SMI:-no answer}; torch: $(value DEVICES "$MACHINE") devices); the check needs one (--dry-run runs it on the CPU)"
  exit 1
fi

BUILT="$(cat "$BUNDLE/bundle.env" 2>/dev/null)"
mismatch=""
[ "$(value TORCH_VERSION "$BUILT" | cut -d. -f1,2)" = "$(value TORCH_VERSION "$MACHINE" | cut -d. -f1,2)" ] ||
  mismatch+="torch $(value TORCH_VERSION "$BUILT") built vs $(value TORCH_VERSION "$MACHINE") here; "
[ "$(value TORCH_CUDA "$BUILT" | cut -d. -f1)" = "$(value TORCH_CUDA "$MACHINE" | cut -d. -f1)" ] ||
  mismatch+="CUDA $(value TORCH_CUDA "$BUILT") built vs $(value TORCH_CUDA "$MACHINE") here; "
[ "$(value CXX11_ABI "$BUILT")" = "$(value CXX11_ABI "$MACHINE")" ] ||
  mismatch+="C++11 ABI $(value CXX11_ABI "$BUILT") built vs $(value CXX11_ABI "$MACHINE") here; "
about="built from $(value COMMIT "$BUILT") against torch $(value TORCH_VERSION "$BUILT") CUDA $(value TORCH_CUDA "$BUILT"), kernels for $(value CUDA_ARCHS "$BUILT")"
if [ -n "$mismatch" ]; then
  add_row bundle_matches_torch FAIL 0 "${mismatch}rebuild the bundle against this torch ($about)"
  exit 1
fi
add_row bundle_matches_torch PASS 0 "$about"

# Wrappers: only ztune's binaries get the bundle's libraries; sft runs get a short collective timeout.
mkdir -p "$WORK/bin"
LIBS="$BUNDLE/lib:$TORCH_LIBS"
for program in "$BUNDLE"/bin/*; do
  name=$(basename "$program")
  if [ "$name" = ztune ]; then make_wrapper "$WORK/bin/$name" "$program" "$LIBS" --ddp_timeout "$DDP_TIMEOUT"
  else make_wrapper "$WORK/bin/$name" "$program" "$LIBS"; fi
done
BIN="$WORK/bin"
missing=""
for program in "$BUNDLE"/bin/*; do
  missing+=$(LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$program" | grep "not found" | sed "s|^|$(basename "$program"): |")
done
if [ -n "$missing" ]; then
  add_row bundle_libraries FAIL 0 "$missing"
  exit 1
fi
add_row bundle_libraries PASS 0 "every bundled program finds its libraries"

# ---- the steps: NAME DEADLINE RESERVE (seconds kept for the steps after it) COMMAND ----------------------
BENCH_RESERVE=$((150 * SCALE))
# `ztune env` must see the GPU (outside the dry run).
step env $((30 * SCALE)) "$BENCH_RESERVE" bash -c '"$0" env > "$2" && cat "$2" && { [ "$1" = 1 ] ||
  grep -Eq "devices: [1-9]" "$2" || { echo "FAIL: ztune env sees no GPU"; exit 1; }; }' "$BIN/ztune" "$DRY" "$WORK/env.txt"
step gpu_unit_tests $((150 * SCALE)) "$BENCH_RESERVE" env ZTUNE_FIXTURES_DIR="$FIX" "$BIN/ztune_gpu_tests" \
  --gtest_output="json:$WORK/gpu_unit_tests.json"
# A collective held past the timeout ends the process, naming it (expect_failure passes on that failure).
if [ "$DRY" = 1 ]; then
  step nccl_timeout_ends_process $((45 * SCALE)) "$BENCH_RESERVE" "$BIN/ztune_gpu_tests" --timeout-probe
else
  step nccl_timeout_ends_process 60 "$BENCH_RESERVE" tests/expect_failure.sh 40 \
    "NCCL all_reduce #[0-9]+ failed on rank 0: it did not complete within 2 s" "$BIN/ztune_gpu_tests" --timeout-probe
fi
step sft_zero2 $((120 * SCALE)) "$BENCH_RESERVE" "$PY" tests/python/gpu_sft_check.py "$BIN/ztune" "$FIX/qwen2" "$DATA" \
  "$WORK/zero2" --deepspeed zero2 --steps $STEPS
step fp16_first_step $((60 * SCALE)) "$BENCH_RESERVE" "$PY" tests/python/check_fp16.py "$BIN/ztune" "$FIX/qwen2" "$DATA" \
  "$WORK/fp16" --steps $FP16_STEPS
# Two processes on one GPU: impossible in the exclusive compute modes.
compute_mode=$(awk -F', ' '{print $4}' <<<"$SMI")
if [ "$DRY" = 0 ] && [ -n "$compute_mode" ] && [ "$compute_mode" != Default ]; then
  add_row staged_zero3_2_ranks "SKIP (compute mode)" 0 "the GPU's compute mode is $compute_mode: two processes cannot share it"
else
  step staged_zero3_2_ranks $((90 * SCALE)) "$BENCH_RESERVE" env ZTUNE_SHARED_GPU=1 "$PY" tests/python/check_zero.py \
    "$BIN/ztune_zero_train" "$FIX/qwen2" "$WORK/staged" 2 --launcher env --stages 3 --steps 6
fi
# Expert parallelism with two ranks sharing the GPU: EP 2 equals data parallelism (gradients of every adapter).
if [ "$DRY" = 0 ] && [ -n "$compute_mode" ] && [ "$compute_mode" != Default ]; then
  add_row expert_parallel_2_ranks "SKIP (compute mode)" 0 "the GPU's compute mode is $compute_mode: two processes cannot share it"
else
  step expert_parallel_2_ranks $((60 * SCALE)) "$BENCH_RESERVE" env ZTUNE_SHARED_GPU=1 "$PY" tests/run_ranks.py 2 -- \
    "$BIN/ztune_expert_parallel_probe" "$FIX/qwen3-moe" 2
fi
step sft_zero3 $((120 * SCALE)) "$BENCH_RESERVE" "$PY" tests/python/gpu_sft_check.py "$BIN/ztune" "$FIX/qwen2" "$DATA" \
  "$WORK/zero3" --deepspeed zero3 --steps $STEPS
# The benchmark takes what is left, less 15 s to pack and print.
bench_budget=$(( $(time_left) - 15 ))
if [ "$bench_budget" -lt 30 ]; then
  add_row benchmarks "not run" 0 "time: $(time_left) s of the plan left"
  GPU_CHECK_FAILED=1
elif [ "$DRY" = 1 ]; then
  step benchmarks "$bench_budget" 0 "$PY" bench/gpu_bench.py "$BIN/ztune" "$WORK/bench" --shape tiny --device cpu \
    --steps 3 --tokens 256 --fixtures "$FIX/qwen2" --budget $((bench_budget - 10))
else
  step benchmarks "$bench_budget" 0 "$PY" bench/gpu_bench.py "$BIN/ztune" "$WORK/bench" --shape 7b --device cuda \
    --steps 6 --tokens 8192 --fixtures "$FIX/qwen2" --budget $((bench_budget - 10))
fi
exit $GPU_CHECK_FAILED
