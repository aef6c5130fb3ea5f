#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# usage: run_fuzzers.sh SECONDS_PER_TARGET SEED_DIR...
# Exits non-zero if a target crashes, leaks or trips a sanitizer; the crashing input is kept in the work folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds=${1:?seconds per target}; shift
WORK="${ZTUNE_FUZZ_WORK:-$ROOT/build/fuzz}"
mkdir -p "$WORK"
CXX_FUZZ="${CXX_FUZZ:-clang++}"
FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$ROOT/src")

build() {  # name sources...
  local name=$1; shift
  local binary="$WORK/$name"
  local newest
  newest=$(ls -t "$@" "${BASH_SOURCE[0]}" | head -1)
  if [ ! -x "$binary" ] || [ "$newest" -nt "$binary" ]; then
    echo "[fuzz] building $name"
    "$CXX_FUZZ" "${FLAGS[@]}" "$@" -o "$binary"
  fi
}

run() {  # name seeds...
  local name=$1; shift
  local corpus="$WORK/$name-corpus"
  mkdir -p "$corpus"
  for seed_dir in "$@"; do
    [ -d "$seed_dir" ] && find "$seed_dir" -type f -name '*.safetensors' -size -1024k -exec cp -n {} "$corpus"/ \;
  done
  echo "[fuzz] running $name for ${seconds}s ($(ls "$corpus" | wc -l) seeds)"
  (cd "$WORK" && ASAN_OPTIONS=detect_leaks=1 "./$name" -max_total_time="$seconds" -max_len=65536 \
      -print_final_stats=1 "$corpus" 2>&1 | tail -n 12)
}

build fuzz_safetensors "$ROOT/tests/fuzz/fuzz_safetensors.cpp" "$ROOT/src/core/safetensors.cpp" \
      "$ROOT/src/core/mapped_file.cpp" "$ROOT/src/core/check.cpp"
run fuzz_safetensors "$@"
echo "[fuzz] no crash"
