# The machinery of scripts/gpu_check.sh, sourced by it and by its test (tests/gpu/check_gpu_check.sh): the
# clock, steps with deadlines, the table, the archive that comes back, and the wrappers that give ztune's
# binaries the bundle's libraries. Callers set, before gpu_check_begin:
#   WORK     the work folder (every step's log and output)
#   RESULTS  the folder that comes back from the lent machine ($OUT there): gpu_check.md, gpu_check.tar.gz
#   PLAN_S   seconds the whole check may take from gpu_check_begin
#   DRY      1 on the CPU dry run, else 0

GPU_CHECK_START=0
GPU_CHECK_ROWS=()
GPU_CHECK_FAILED=0
GPU_CHECK_PACKER=""
GPU_CHECK_STEP_PID=""
GPU_CHECK_STEP_NAME=""

gpu_check_begin() {
  GPU_CHECK_START=$(date +%s)
  mkdir -p "$WORK" "$RESULTS"
  : > "$WORK/rows.md"
}

# Seconds left of PLAN_S.
time_left() { echo $((PLAN_S - ($(date +%s) - GPU_CHECK_START))); }

# Writes the table so far where it comes back, and prints it when asked (--print).
write_table() {
  {
    echo "| check | result | seconds | detail |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${GPU_CHECK_ROWS[@]}"
    if [ -s "$WORK/bench/table.md" ]; then echo; cat "$WORK/bench/table.md"; fi
  } > "$RESULTS/gpu_check.md.tmp" && mv "$RESULTS/gpu_check.md.tmp" "$RESULTS/gpu_check.md"
  [ "${1:-}" = "--print" ] && cat "$RESULTS/gpu_check.md"
  return 0
}

add_row() {  # NAME STATUS SECONDS DETAIL
  local detail=${4//|//}
  GPU_CHECK_ROWS+=("| $1 | $2 | $3 | ${detail:0:600} |")
  printf '%s\n' "| $1 | $2 | $3 | ${detail:0:600} |" >> "$WORK/rows.md"
  echo "[gpu_check] $1: $2 (${3} s) ${detail:0:600}"
  write_table
}

# Packs what the run produced into RESULTS/gpu_check.tar.gz, replacing the last one whole: every log, the
# JSON and JSONL files (logging.jsonl, estimate.json, the benchmark's results), tables and plots; no model
# weights, checkpoints or tokenizers (each file under 2 MB).
pack() {
  local list="$WORK/.pack.$BASHPID" tmp="$RESULTS/.gpu_check.tar.gz.$BASHPID"
  (cd "$WORK" && find . -type f \( -name '*.log' -o -name '*.jsonl' -o -name '*.json' -o -name '*.md' -o -name '*.txt' \
      -o -name '*.svg' \) -size -2M ! -name 'tokenizer*.json' ! -path '*/model/*' ! -path '*-merged/*' \
      ! -name '.pack.*' -print 2>/dev/null | sort) > "$list"
  # A log that grows while it is read, or a file gone before tar reaches it, is no reason to lose the rest
  # (tar's exit status 1); only a real failure (2) keeps the last archive.
  tar --ignore-failed-read --warning=no-file-changed -czf "$tmp" -C "$WORK" -T "$list" 2>/dev/null
  [ $? -le 1 ] && mv -f "$tmp" "$RESULTS/gpu_check.tar.gz"
  rm -f "$list" "$tmp"
}

# While a step runs, the archive is refreshed every 15 s, so a run cut off by the tool still returns it. The
# packer stops at a file's appearance (a killed background job would be announced on the console), and is
# waited for, so that no late archive replaces a newer one.
start_packer() {
  rm -f "$WORK/.stop-packer"
  ( ticks=0
    while sleep 1; do
      [ -e "$WORK/.stop-packer" ] && exit 0
      ticks=$((ticks + 1))
      [ $((ticks % 15)) -eq 0 ] && pack
    done ) &
  GPU_CHECK_PACKER=$!
}
stop_packer() {
  if [ -n "$GPU_CHECK_PACKER" ]; then
    touch "$WORK/.stop-packer"
    wait "$GPU_CHECK_PACKER" 2>/dev/null
    rm -f "$WORK/.stop-packer"
  fi
  GPU_CHECK_PACKER=""
  return 0
}

# step NAME DEADLINE RESERVE COMMAND...: runs COMMAND with its output in WORK/NAME.log, for at most
# min(DEADLINE, time left - RESERVE) seconds (RESERVE: what later steps must keep), killing its whole process
# group at the deadline. A row per step: PASS, FAIL, TIMEOUT, SKIP (exit 77: no GPU; a failure outside the
# dry run) or "not run" when too little time is left (under 10 s).
step() {
  local name=$1 deadline=$2 reserve=$3; shift 3
  local left=$(( $(time_left) - reserve ))
  if [ "$left" -lt 10 ]; then
    add_row "$name" "not run" 0 "time: $(time_left) s of the plan left, $reserve s kept for later steps"
    GPU_CHECK_FAILED=1
    return 0
  fi
  [ "$left" -lt "$deadline" ] && deadline=$left
  local start rc status detail
  start=$(date +%s)
  start_packer
  # In the background and waited for, so that a signal to the check runs its trap at once.
  timeout --kill-after=5 "$deadline" "$@" > "$WORK/$name.log" 2>&1 &
  GPU_CHECK_STEP_PID=$!
  GPU_CHECK_STEP_NAME=$name
  wait "$GPU_CHECK_STEP_PID"
  rc=$?
  GPU_CHECK_STEP_PID=""
  stop_packer
  local seconds=$(( $(date +%s) - start ))
  detail=$(grep -E "^(ok|FAIL)|\[gpu parity\]|PASSED|FAILED|not run|no GPU|fixtures at|^CUDA " "$WORK/$name.log" | tail -5 | tr '\n' ' ')
  if [ $rc -eq 0 ]; then status=PASS
  elif [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ "$seconds" -ge "$deadline" ]; }; then
    status=TIMEOUT; GPU_CHECK_FAILED=1; detail="killed at its ${deadline} s deadline; $detail"
  elif [ $rc -eq 77 ] && [ "$DRY" = 1 ]; then status="SKIP (no GPU)"
  else status="FAIL (exit $rc)"; GPU_CHECK_FAILED=1
  fi
  if [ "$status" != PASS ] && [ "$status" != "SKIP (no GPU)" ]; then
    detail="$detail $(tail -3 "$WORK/$name.log" | tr '\n' ' ')"
    echo "[gpu_check] ---- the last 40 lines of $name.log ----"
    tail -40 "$WORK/$name.log" | cut -c1-400
    echo "[gpu_check] ----"
  fi
  add_row "$name" "$status" "$seconds" "$detail"
  pack
}

# make_wrapper PATH PROGRAM LIBS [SFT_EXTRA...]: a small script that runs PROGRAM with LIBS first on the
# library path, the caller's LD_LIBRARY_PATH kept after them (GPU images often find libcuda.so.1 only
# through it), so only ztune's binaries see the bundle's libraries. SFT_EXTRA is appended to `sft` command
# lines (the check's short --ddp_timeout).
make_wrapper() {
  local path=$1 program=$2 libs=$3; shift 3
  {
    echo '#!/bin/sh'
    echo "LD_LIBRARY_PATH='$libs'\"\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo 'export LD_LIBRARY_PATH'
    if [ $# -gt 0 ]; then
      echo "[ \"\${1:-}\" = sft ] && exec '$program' \"\$@\" $*"
    fi
    echo "exec '$program' \"\$@\""
  } > "$path"
  chmod +x "$path"
}

# On a signal (the tool's time limit, ^C): the step under way is stopped and recorded, then the check exits.
gpu_check_interrupted() {
  if [ -n "$GPU_CHECK_STEP_PID" ]; then
    kill -TERM "$GPU_CHECK_STEP_PID" 2>/dev/null
    add_row "$GPU_CHECK_STEP_NAME" "INTERRUPTED" "" "the check got a signal while this step ran; its log so far is in the archive"
  else
    add_row "check" "INTERRUPTED" "" "the check got a signal between steps"
  fi
  exit 143
}

# On exit, however it comes: the table so far, printed and written, and a last archive.
gpu_check_finish() {
  stop_packer
  write_table --print
  pack
  rm -f "$RESULTS"/.gpu_check.tar.gz.*
  # The console's tee gets the last lines before the check ends.
  if [ -n "${GPU_CHECK_TEE:-}" ]; then exec >&- 2>&-; wait "$GPU_CHECK_TEE" 2>/dev/null; fi
  echo "[gpu_check] results: $RESULTS/gpu_check.md and $RESULTS/gpu_check.tar.gz ($(du -k "$RESULTS/gpu_check.tar.gz" 2>/dev/null | cut -f1) KiB)"
}
