#!/usr/bin/env bash
# usage: expect_failure.sh SECONDS REGEX COMMAND...
# Passes when COMMAND exits non-zero within SECONDS and its output matches REGEX (extended grep).
set -u
seconds=$1; pattern=$2; shift 2
start=$(date +%s)
output=$(timeout --kill-after=10 "$seconds" "$@" 2>&1); status=$?
elapsed=$(( $(date +%s) - start ))
printf '%s\n' "$output"
# 137 is also how mpirun reports a rank killed by SIGKILL; only the clock tells a hang apart.
if [ "$status" -eq 124 ] || { [ "$status" -eq 137 ] && [ "$elapsed" -ge "$seconds" ]; }; then
  echo "FAIL: still running after ${seconds}s (hang)"; exit 1
fi
if [ "$status" -eq 0 ]; then
  echo "FAIL: exited 0, expected a failure"; exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$output"; then
  echo "FAIL: output does not match: $pattern"; exit 1
fi
echo "ok: exited $status and named the failure"
