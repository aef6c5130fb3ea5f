#!/usr/bin/env python3
"""Whole training run benchmark: `ztune sft` against a transformers + peft training loop, side by side.

usage: bench/bench_sft.py [--build build] [--steps 8] [--length 1024]

Model: the random Qwen2-shaped model of bench_model.py (hidden 512, 8 layers, vocab 32000, fp32) with the
fixture tokenizer. Data: data/sample/sharegpt_seed.jsonl in file order, encoded with the qwen2_5 template
and packed into rows of at most --length tokens (ztune's encoding; the Python side trains on the very
same rows, which ztune_encode_dataset writes out). Both sides: LoRA r 8 / alpha 32 / dropout 0.05 on all
linear layers, gradient checkpointing (ms-swift's default), batch 1 x accumulation 2, AdamW, cosine
schedule, clipping at 1.0, two threads. ztune's tokens/s is the one its last log line reports (over all
steps, from the first); the Python loop's is over steps 2..N (its first step is a warm-up and left out).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_model import write_model  # noqa: E402

LOOP = textwrap.dedent("""
    import json, math, sys, time, torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_cosine_schedule_with_warmup
    model_dir, rows_path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = [json.loads(l) for l in open(rows_path)][:-1]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation='sdpa')
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': True})
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules='all-linear',
                                             task_type='CAUSAL_LM'))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    schedule = get_cosine_schedule_with_warmup(optimizer, 0, steps)
    tokens = 0
    for step in range(steps):
        if step == 1:
            start, tokens = time.perf_counter(), 0
        batch = [rows[(2 * step + i) % len(rows)] for i in range(2)]
        count = sum(sum(1 for x in r['labels'][1:] if x != -100) for r in batch)
        for r in batch:
            ids = torch.tensor([r['input_ids']])
            logits = model(input_ids=ids, position_ids=torch.tensor([r['position_ids']])).logits[0, :-1]
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(r['labels'][1:]), ignore_index=-100,
                                                     reduction='sum')
            (loss / count).backward()
            tokens += len(r['input_ids'])
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    print(json.dumps({'tokens_per_second': tokens / (time.perf_counter() - start)}))
""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--length", type=int, default=1024)
    args = parser.parse_args()
    dataset = ROOT / "data" / "sample" / "sharegpt_seed.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="2", TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        write_model(model)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(ROOT / "tests" / "fixtures" / "out" / "qwen2" / name, model / name)
        rows = Path(tmp) / "rows.jsonl"
        subprocess.run([str(Path(args.build) / "tests" / "ztune_encode_dataset"), str(model), "qwen2_5", "default",
                        str(args.length), str(args.length), str(rows), str(dataset)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([str(Path(args.build) / "ztune"), "sft", "--model", str(model), "--dataset", str(dataset),
                        "--dataset_shuffle", "false", "--packing", "true", "--max_length", str(args.length),
                        "--max_steps", str(args.steps), "--gradient_accumulation_steps", "2", "--logging_steps",
                        str(args.steps), "--save_steps", "100000", "--report_to", "none", "--output_dir",
                        str(Path(tmp) / "out")], check=True, capture_output=True, env=env)
        log = next((Path(tmp) / "out").glob("v1-*")) / "logging.jsonl"
        ours = [json.loads(line) for line in log.read_text().splitlines()][-1]["tokens/s"]
        theirs = json.loads(subprocess.run([sys.executable, "-c", LOOP, str(model), str(rows), str(args.steps)],
                                           check=True, capture_output=True, text=True, env=env).stdout.splitlines()[-1])
    print("| side | tokens/s |\n| --- | --- |")
    print(f"| ztune sft | {ours:.0f} |\n| transformers + peft loop | {theirs['tokens_per_second']:.0f} |")
    print(f"\nratio {ours / theirs['tokens_per_second']:.2f}x ({args.steps} steps of 2 packed rows of <= {args.length} tokens)")


if __name__ == "__main__":
    main()
