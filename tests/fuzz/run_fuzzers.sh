#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# usage: run_fuzzers.sh SECONDS_PER_TARGET SAFETENSORS_SEED_DIR SAMPLE_DATA_DIR TOKENIZER_JSON [TOKENIZER_JSON...]
# (the tokenizer target runs once per tokenizer.json: byte-level, and SentencePiece-style where one is given)
# Exits non-zero if a target crashes, leaks or trips a sanitizer; the crashing input is kept in the work folder.
# Builds and runs go ZTUNE_FUZZ_JOBS at a time (default: the number of cores), each for the full time given.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds=${1:?seconds per target}; shift
WORK="${ZTUNE_FUZZ_WORK:-$ROOT/build/fuzz}"
mkdir -p "$WORK"
CXX_FUZZ="${CXX_FUZZ:-clang++}"
JOBS="${ZTUNE_FUZZ_JOBS:-$(nproc)}"

# A small job pool: `spawn LABEL CMD...` runs CMD in the background (output to a log, at most JOBS at once);
# `collect` waits for all of them, prints each log in the order started, and fails if any failed.
spawned=()
spawn() {
  local label=$1; shift
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  spawned+=("$label")
  ( set +e; "$@" > "$WORK/$label.log" 2>&1; echo $? > "$WORK/$label.status" ) &
}
collect() {
  wait
  local label failed=0
  for label in "${spawned[@]}"; do
    cat "$WORK/$label.log"
    [ "$(cat "$WORK/$label.status")" = 0 ] || { echo "[fuzz] FAIL: $label"; failed=1; }
  done
  spawned=()
  return $failed
}
FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$ROOT/src")

build() {  # name sources...
  local name=$1; shift
  local binary="$WORK/$name"
  local inputs=("${BASH_SOURCE[0]}") newest
  for arg in "$@"; do [[ $arg == *.cpp ]] && inputs+=("$arg"); done
  inputs+=($(find "$ROOT/src/core" "$ROOT/src/data" "$ROOT/src/export" -name '*.h'))
  newest=$(ls -t "${inputs[@]}" | head -1)
  if [ ! -x "$binary" ] || [ "$newest" -nt "$binary" ]; then
    spawn "build-$name" sh -c 'echo "[fuzz] building $1"; shift; "$@"' sh "$name" "$CXX_FUZZ" "${FLAGS[@]}" "$@" -o "$binary"
  fi
}

run() {  # name [env...] -- seed dirs...: starts the target in the pool
  local name=$1; shift
  runs=$((${runs:-0} + 1))
  local env=()
  while [ "$1" != "--" ]; do env+=("$1"); shift; done
  shift
  local corpus="$WORK/$name-corpus"
  mkdir -p "$corpus"
  for seed_dir in "$@"; do
    [ -e "$seed_dir" ] && find "$seed_dir" -type f -size -64k -exec cp -n {} "$corpus"/ \; 2>/dev/null
  done
  spawn "run-$runs-$name" bash -c 'set -o pipefail; echo "[fuzz] running $1 for $2s ($3 seeds)"; cd "$4" && shift 4 &&
    "$@" 2>&1 | tail -n 6' bash "$name" "$seconds" "$(ls "$corpus" | wc -l)" "$WORK" env ASAN_OPTIONS=detect_leaks=1 "${env[@]}" "./$name" \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 "$corpus"
}

build fuzz_safetensors "$ROOT/tests/fuzz/fuzz_safetensors.cpp" "$ROOT/src/core/safetensors.cpp" \
      "$ROOT/src/core/mapped_file.cpp" "$ROOT/src/core/check.cpp" "$ROOT/src/core/fs.cpp"
build fuzz_formats "$ROOT/tests/fuzz/fuzz_formats.cpp" "$ROOT/src/data/formats.cpp" "$ROOT/src/data/utf8.cpp" \
      "$ROOT/src/core/check.cpp" -lutf8proc
build fuzz_tokenizer "$ROOT/tests/fuzz/fuzz_tokenizer.cpp" "$ROOT/src/data/tokenizer.cpp" "$ROOT/src/data/tokenizer_model.cpp" \
      "$ROOT/src/data/text_steps.cpp" \
      "$ROOT/src/data/utf8.cpp" "$ROOT/src/core/check.cpp" -lpcre2-8 -lutf8proc
build fuzz_gguf "$ROOT/tests/fuzz/fuzz_gguf.cpp" "$ROOT/src/export/gguf.cpp" "$ROOT/src/export/gguf_vocab_to_hf.cpp" \
      "$ROOT/src/export/gguf_metadata.cpp" "$ROOT/src/core/mapped_file.cpp" "$ROOT/src/core/check.cpp" \
      "$ROOT/src/core/fs.cpp" "$ROOT/src/core/json_file.cpp" "$ROOT/src/core/log.cpp" -lspdlog -lfmt
build fuzz_jinja "$ROOT/tests/fuzz/fuzz_jinja.cpp" "$ROOT"/src/data/jinja/*.cpp "$ROOT/src/data/utf8.cpp" "$ROOT/src/core/check.cpp" \
      -lutf8proc
build fuzz_sentencepiece "$ROOT/tests/fuzz/fuzz_sentencepiece.cpp" "$ROOT/src/export/sentencepiece_model.cpp" \
      "$ROOT/src/core/check.cpp"

collect

SAFETENSORS_SEEDS="$1"; SAMPLE_SEEDS="$2"; shift 2
run fuzz_safetensors -- "$SAFETENSORS_SEEDS"
# One row per seed file: split a sample jsonl into lines.
LINES="$WORK/formats-lines"; mkdir -p "$LINES"
[ -d "$SAMPLE_SEEDS" ] && head -q -n 40 "$SAMPLE_SEEDS"/*.jsonl | split -l 1 - "$LINES/line-"
run fuzz_formats -- "$LINES"
# The real chat templates of the Jinja test corpus.
run fuzz_jinja -- "$ROOT/tests/fixtures/chat_templates"
# Small GGUF files (byte-level and SentencePiece vocabularies, quantised tensors) made with gguf-py.
GGUF_SEEDS="$WORK/gguf-seeds"
"${ZTUNE_PYTHON:-$ROOT/.venv/bin/python}" "$ROOT/tests/fuzz/make_gguf_seeds.py" "$GGUF_SEEDS"
run fuzz_gguf -- "$GGUF_SEEDS"
# A tokenizer.model trained by the GGUF export test (sentencepiece), where that test ran.
SPM_MODEL="${ZTUNE_FUZZ_SPM_MODEL:-$ROOT/build/tests/work/gguf-out/spm-llama2/tokenizer.model}"
if [ -f "$SPM_MODEL" ]; then
  mkdir -p "$WORK/spm-seeds" && cp "$SPM_MODEL" "$WORK/spm-seeds/"
  run fuzz_sentencepiece -- "$WORK/spm-seeds"
else echo "[fuzz] $SPM_MODEL: not there (the GGUF export test did not run); not fuzzed"; fi
for tokenizer in "$@"; do
  if [ -f "$tokenizer" ]; then run fuzz_tokenizer "ZTUNE_FUZZ_TOKENIZER=$(realpath "$tokenizer")" -- "$LINES"
  else echo "[fuzz] $tokenizer: not there (its test did not run); not fuzzed"; fi
done
collect
echo "[fuzz] no crash"
