#!/usr/bin/env bash
# The GPU check as far as a CPU can show it (scripts/test.sh runs this after scripts/gpu_bundle.sh):
#  1. the bundle: no fixture path of this machine compiled into the programs, their RUNPATH only
#     $ORIGIN/../lib, bundle.env complete, ztune's kernels with sm_80/sm_90 code and sm_90 PTX;
#  2. the wrappers: the bundle's libraries first, the caller's LD_LIBRARY_PATH kept after them, --ddp_timeout
#     appended to sft command lines only;
#  3. a step past its deadline is killed at it (with its children) and recorded as TIMEOUT; a step with too
#     little time left is not started;
#  4. outside --dry-run, on a machine with no GPU, the check fails at once, saying so, and still writes its
#     table and archive;
#  5. a signal mid-run stops the step under way, prints the table so far and leaves the archive;
#  6. the whole dry run passes, and what would come back from a GPU machine is complete: every row in
#     gpu_check.md, and in gpu_check.tar.gz every step's log, the fixture lookup, logging.jsonl,
#     estimate.json, the benchmark's results.jsonl and table.md; at most 8 files, under 16 MiB each.
# usage: tests/gpu/check_gpu_check.sh BUILD_DIR
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="$(cd "${1:?usage: check_gpu_check.sh BUILD_DIR}" && pwd)"
BUNDLE="$BUILD_DIR/gpu-bundle"
SCRATCH="$BUILD_DIR/tests/work/gpu-check-test"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

echo "== 1. the bundle"
if strings "$BUNDLE/bin/ztune_gpu_tests" | grep -qF "$ROOT/tests/fixtures"; then
  fail "ztune_gpu_tests has this machine's fixture path compiled in: $(strings "$BUNDLE/bin/ztune_gpu_tests" | grep -F "$ROOT/tests/fixtures" | head -1)"
else ok "no fixture path compiled into ztune_gpu_tests"; fi
for program in "$BUNDLE"/bin/*; do
  paths=$(readelf -d "$program" | grep -E "\((RPATH|RUNPATH)\)" | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')
  [ "$paths" = '$ORIGIN/../lib ' ] || fail "$(basename "$program"): RPATH/RUNPATH is '$paths', expected only \$ORIGIN/../lib"
  readelf -d "$program" | grep -q "(RPATH)" && fail "$(basename "$program") has a DT_RPATH (searched before LD_LIBRARY_PATH)"
done
ok "RUNPATH of every bundled program: \$ORIGIN/../lib"
for key in COMMIT TORCH_VERSION TORCH_CUDA CXX11_ABI CUDA_ARCHS; do
  grep -q "^$key=." "$BUNDLE/bundle.env" || fail "bundle.env has no $key"
done
archs=$(sed -n 's/^CUDA_ARCHS=//p' "$BUNDLE/bundle.env")
case "$archs" in
  *sm_80*sm_90*ptx*sm_90*) ok "ztune's kernels: $archs" ;;
  *) fail "ztune's kernels should have sm_80 and sm_90 code and sm_90 PTX, bundle.env says: $archs" ;;
esac

echo "== 2. the wrappers"
# shellcheck source=scripts/gpu_check_lib.sh
source "$ROOT/scripts/gpu_check_lib.sh"
make_wrapper "$SCRATCH/env-wrapper" /usr/bin/env "/bundle/lib:/torch/lib"
seen=$(LD_LIBRARY_PATH=/host/driver "$SCRATCH/env-wrapper" | sed -n 's/^LD_LIBRARY_PATH=//p')
[ "$seen" = "/bundle/lib:/torch/lib:/host/driver" ] || fail "wrapper with LD_LIBRARY_PATH=/host/driver gave '$seen'"
seen=$(env -u LD_LIBRARY_PATH "$SCRATCH/env-wrapper" | sed -n 's/^LD_LIBRARY_PATH=//p')
[ "$seen" = "/bundle/lib:/torch/lib" ] || fail "wrapper without LD_LIBRARY_PATH gave '$seen'"
make_wrapper "$SCRATCH/echo-wrapper" /bin/echo "/bundle/lib" --ddp_timeout 60
[ "$("$SCRATCH/echo-wrapper" sft --model m)" = "sft --model m --ddp_timeout 60" ] || fail "sft: $("$SCRATCH/echo-wrapper" sft --model m)"
[ "$("$SCRATCH/echo-wrapper" infer --model m)" = "infer --model m" ] || fail "infer: $("$SCRATCH/echo-wrapper" infer --model m)"
ok "wrappers extend LD_LIBRARY_PATH and add --ddp_timeout to sft only"

echo "== 3. deadlines"
(
  WORK="$SCRATCH/deadline" RESULTS="$SCRATCH/deadline.out" PLAN_S=100 DRY=1
  gpu_check_begin
  start=$(date +%s)
  # The child's child must go too: the whole process group is killed.
  step hang 3 0 bash -c 'sleep 60 & echo $! > "$0"; wait' "$SCRATCH/grandchild.pid"
  took=$(( $(date +%s) - start ))
  [ "$took" -le 12 ] || echo "FAIL: the hung step took ${took} s against a 3 s deadline"
  # Gone, or a zombie not yet reaped by init, within 3 s.
  child=$(cat "$SCRATCH/grandchild.pid")
  for _ in 1 2 3 4 5 6; do
    state=$(ps -o stat= -p "$child" 2>/dev/null)
    [ -z "$state" ] || [ "${state:0:1}" = Z ] && break
    sleep 0.5
  done
  [ -z "$state" ] || [ "${state:0:1}" = Z ] || echo "FAIL: the hung step's child outlived its deadline ($state)"
  grep -q "| hang | TIMEOUT |" "$RESULTS/gpu_check.md" || echo "FAIL: no TIMEOUT row: $(cat "$RESULTS/gpu_check.md")"
  step late 60 95 true
  grep -q "| late | not run |" "$RESULTS/gpu_check.md" || echo "FAIL: a step with 5 s left was started"
  [ "$GPU_CHECK_FAILED" = 1 ] || echo "FAIL: a timed-out step did not fail the check"
) > "$SCRATCH/deadline.txt" 2>&1
if grep -q "^FAIL" "$SCRATCH/deadline.txt"; then fail "$(grep "^FAIL" "$SCRATCH/deadline.txt" | tr '\n' ' ')"
else ok "a hung step ends at its deadline with its children; a step without time is not started"; fi

echo "== 4. no GPU outside --dry-run"
if nvidia-smi -L > /dev/null 2>&1; then
  echo "not checked: a GPU is visible here, so the check would run for real"
else
  start=$(date +%s)
  OUT="$SCRATCH/nogpu.out" ZTUNE_GPU_WORK="$SCRATCH/nogpu" timeout 120 bash "$ROOT/scripts/gpu_check.sh" > "$SCRATCH/nogpu.txt" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  [ "$rc" -ne 0 ] || fail "the check passed on a machine without a GPU"
  [ "$took" -le 60 ] || fail "the check took ${took} s to see there is no GPU"
  grep -q "| gpu_visible | FAIL |" "$SCRATCH/nogpu.out/gpu_check.md" 2>/dev/null || fail "no gpu_visible FAIL row: $(tail -5 "$SCRATCH/nogpu.txt")"
  [ -s "$SCRATCH/nogpu.out/gpu_check.tar.gz" ] || fail "no archive after a failed start"
  ok "without a GPU the check exits $rc in ${took} s: $(grep gpu_visible "$SCRATCH/nogpu.out/gpu_check.md" | cut -c1-160)"
fi

echo "== 5. a signal mid-run"
OUT="$SCRATCH/signal.out" ZTUNE_GPU_WORK="$SCRATCH/signal" bash "$ROOT/scripts/gpu_check.sh" --dry-run > "$SCRATCH/signal.txt" 2>&1 &
check=$!
for _ in $(seq 1 240); do
  grep -q "| env |" "$SCRATCH/signal/rows.md" 2>/dev/null && break
  sleep 0.5
done
sleep 1  # into gpu_unit_tests
signalled=$(date +%s)
kill -TERM "$check"
wait "$check"
rc=$?
took=$(( $(date +%s) - signalled ))
sleep 1  # the check's tee finishes its last lines
[ "$rc" -ne 0 ] || fail "the check exited 0 after a signal"
[ "$took" -le 20 ] || fail "the check took ${took} s to stop after SIGTERM"
grep -q "INTERRUPTED" "$SCRATCH/signal.txt" || fail "no INTERRUPTED row printed: $(tail -5 "$SCRATCH/signal.txt")"
grep -q "^| check | result | seconds | detail |" "$SCRATCH/signal.txt" || fail "the table so far was not printed"
tar -tzf "$SCRATCH/signal.out/gpu_check.tar.gz" 2>/dev/null | grep -q "env.log" || fail "the archive after a signal lacks env.log"
ok "SIGTERM mid-run: exit $rc after ${took} s, table printed, archive left"

echo "== 6. the dry run"
WORK="$BUILD_DIR/tests/work/gpu-check"
RESULTS="$WORK.out"
OUT="$RESULTS" ZTUNE_GPU_WORK="$WORK" bash "$ROOT/scripts/gpu_check.sh" --dry-run
rc=$?
[ "$rc" -eq 0 ] || fail "the dry run exited $rc"
for row in gpu_visible bundle_matches_torch bundle_libraries env gpu_unit_tests nccl_timeout_ends_process sft_zero2 \
           sft_zero3 fp16_first_step staged_zero3_2_ranks benchmarks; do
  grep -q "^| $row |" "$RESULTS/gpu_check.md" || fail "gpu_check.md has no $row row"
done
tar -tzf "$RESULTS/gpu_check.tar.gz" > "$SCRATCH/archive.txt" || fail "gpu_check.tar.gz does not open"
for member in console.log env.log gpu_unit_tests.log sft_zero2.log sft_zero3.log fp16_first_step.log benchmarks.log \
              bench/results.jsonl bench/table.md; do
  grep -qx "./$member" "$SCRATCH/archive.txt" || fail "the archive lacks $member"
done
grep -Eq "^\./zero2/full/v1-[^/]*/logging.jsonl$" "$SCRATCH/archive.txt" || fail "the archive lacks zero2's logging.jsonl"
grep -q "/estimate.json$" "$SCRATCH/archive.txt" || fail "the archive lacks estimate.json"
grep -Eq "safetensors|\.h5$|/model/" "$SCRATCH/archive.txt" && fail "the archive holds weights: $(grep -E "safetensors|\.h5$" "$SCRATCH/archive.txt" | head -3)"
grep -q "fixtures at $BUNDLE/fixtures" "$WORK/gpu_unit_tests.log" || fail "ztune_gpu_tests did not find the bundle's fixtures: $(head -3 "$WORK/gpu_unit_tests.log")"
grep -q "running on cpu" "$WORK/sft_zero2.log" "$WORK"/zero2/full/v1-*/*.log 2>/dev/null ||
  grep -q "ok (zero2, .*running on cpu" "$WORK/sft_zero2.log" || fail "sft_zero2 does not say it ran on the CPU"
grep -q "| ztune train tokens/s" "$RESULTS/gpu_check.md" || fail "no benchmark training row"
grep -Eq "\| (error|not run) \||\(cut off\)" "$WORK/bench/table.md" && fail "benchmark parts failed or did not run: $(grep -E "error|not run" "$WORK/bench/table.md")"
files=$(find "$RESULTS" -type f | wc -l)
[ "$files" -le 8 ] || fail "$files files under the results folder (8 come back): $(ls -A "$RESULTS")"
find "$RESULTS" -type f -size +16M | grep -q . && fail "a result file is over 16 MiB"
ok "dry run: $(grep -c "^| " "$RESULTS/gpu_check.md") table lines, archive of $(wc -l < "$SCRATCH/archive.txt") files ($(du -k "$RESULTS/gpu_check.tar.gz" | cut -f1) KiB)"

if [ "$failures" -gt 0 ]; then echo "check_gpu_check: $failures failure(s)"; exit 1; fi
echo "check_gpu_check: all passed"
