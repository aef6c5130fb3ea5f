#!/usr/bin/env bash
# The README's main-job command: installs and builds everything, generates the tiny models, fine-tunes
# one on the bundled sample data on two ranks with ZeRO-2, merges the adapter into the base model and
# answers a chat prompt from the merged model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${ZTUNE_BUILD_DIR:-$ROOT/build}"
ZTUNE="$BUILD_DIR/ztune"

bash scripts/setup.sh

echo
echo "== ztune env"
"$ZTUNE" env
echo
echo "== the bundled tiny model and sample data"
du -sh tests/fixtures/out/qwen2 data/sample
wc -l data/sample/*.jsonl
echo
echo "== fine-tune: an ms-swift command line with 'ztune' for 'swift', two ranks, ZeRO-2, packing"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # containers often run as root
mpirun --oversubscribe -np 2 "$ZTUNE" sft --model tests/fixtures/out/qwen2 --train_type lora \
  --dataset data/sample/sharegpt_seed.jsonl --num_train_epochs 3 --per_device_train_batch_size 1 \
  --gradient_accumulation_steps 4 --learning_rate 2e-3 --max_length 512 --packing true --save_steps 10 \
  --save_total_limit 2 --logging_steps 3 --deepspeed zero2 --split_dataset_ratio 0.05 --output_dir output/demo
RUN="$(ls -d output/demo/v*-* | sort -V | tail -n 1)"
CKPT="$RUN/$(cat "$RUN/latest")"
echo
echo "== export: merge the LoRA adapter into the base model ($CKPT-merged)"
"$ZTUNE" export --adapters "$CKPT" --merge_lora true --exist_ok true
ls "$CKPT-merged"
echo
echo "== chat with the merged model (a 4-layer model trained for seconds: expect nonsense, sampled)"
echo "What is the capital of France?" | "$ZTUNE" infer --model "$CKPT-merged" --temperature 0.9 --top_p 0.95 \
  --max_new_tokens 40
set +e
"$ZTUNE" sft --model tests/fixtures/out/qwen2 --lora_rnak 8
echo "(exit status $?: a typo is caught before any work starts)"
