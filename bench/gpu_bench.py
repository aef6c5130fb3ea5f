#!/usr/bin/env python3
"""GPU benchmarks of issue 13: `ztune sft` / `ztune infer` against transformers + peft, side by side in one run.

usage: bench/gpu_bench.py ZTUNE WORK [--shape 7b|tiny] [--device cuda|cpu] [--steps 6] [--tokens 8192]
                          [--budget SECONDS]

Model: random weights (seed 0) in the real dimensions of Qwen2.5-7B-Instruct (hidden 3584, 28 layers,
28 query / 4 kv heads, intermediate 18944, vocab 152064), bf16, written once by transformers with the
fixture tokenizer; --shape tiny is a 4-layer model for the dry run on a CPU. Measured, in this order
(parts still to run when --budget seconds have passed are reported as not run):
1. the bf16 matrix rate: an 8192^3 matmul, 10 times (cuda events);
2. training, LoRA r 8 / alpha 32 / dropout 0.05 on all linear layers, gradient checkpointing, one row of
   --tokens tokens per step (unpacked: transformers cannot keep packed samples apart without flash-attn):
   ztune's steady tokens/s (steps 2..N, from logging.jsonl) against a transformers + peft loop on the same
   model (steps 2..N, synchronised), and ztune's MFU. FLOPs per token = 6 x base parameters (forward,
   recompute, backward for the inputs: 2 each) + 8 x layers x T x (heads x head_dim) for the causal score
   and value products (T/2 keys on average; forward, recompute and two in backward);
3. peak GPU memory of ztune at 2,048 tokens, batch 1 (torch's caching allocator: peak allocated, and
   peak reserved, which is what ms-swift prints; ms-swift publishes 22 GB for this setting);
4. ZeRO-3 against ZeRO-2 step time on one GPU, and dropout 0.05 against 0;
5. greedy generation of 256 new tokens for batch 1 and 16: ztune infer against transformers generate,
   decoding tokens/s from the difference between 256 and 1 new tokens (so loading and prefill cancel).
Prints one markdown table; exits 0 (a benchmark reports, the targets are read from the table).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064),
    "tiny": dict(hidden_size=256, intermediate_size=704, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=2048),
}


class Clock:
    def __init__(self, budget):
        self.start, self.budget = time.monotonic(), budget

    def left(self):
        return self.budget - (time.monotonic() - self.start)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def matrix_rate(device):
    n = 8192 if device == "cuda" else 512
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    return 10 * 2 * n ** 3 / (time.perf_counter() - start)


def write_model(path, shape, device, fixtures):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    config = Qwen2Config(**SHAPES[shape], max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=False,
                         torch_dtype="bfloat16")
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(fixtures) / name, path / name)
    return model


def base_parameters(model):
    return sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)


def dataset(path, rows, words):
    """ShareGPT rows whose reply is far longer than any --max_length used (truncated to it)."""
    vocabulary = ["alpha", "river", "stone", "bright", "seven", "market", "quiet", "north", "window", "garden"]
    with open(path, "w") as out:
        for r in range(rows):
            reply = " ".join(vocabulary[(r * 7 + i * 3) % len(vocabulary)] + str(i % 97) for i in range(words))
            out.write(json.dumps({"conversations": [{"from": "human", "value": f"Tell me story {r}."},
                                                    {"from": "gpt", "value": reply}]}) + "\n")


def ztune_sft(ztune, model, data, out, tokens, steps, extra, env):
    shutil.rmtree(out, ignore_errors=True)
    command = [ztune, "sft", "--model", str(model), "--dataset", str(data), "--max_length", str(tokens),
               "--truncation_strategy", "right", "--max_steps", str(steps), "--logging_steps", "1",
               "--save_steps", "100000", "--save_only_model", "true", "--per_device_train_batch_size", "1",
               "--gradient_accumulation_steps", "1", "--lora_rank", "8", "--lora_alpha", "32",
               "--target_modules", "all-linear", "--gradient_checkpointing", "true", "--bf16", "true",
               "--report_to", "none", "--output_dir", str(out)] + extra
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"ztune sft {extra} exited {done.returncode}: {done.stderr[-1500:]}")
    log = [json.loads(line) for run in out.glob("v1-*") for line in (run / "logging.jsonl").read_text().splitlines()]
    log = [e for e in log if "loss" in e]
    # Elapsed seconds at each step, precisely: train_speed(s/it) x steps since the start.
    elapsed = [e["train_speed(s/it)"] * (i + 1) for i, e in enumerate(log)]
    steady = (elapsed[-1] - elapsed[0]) / max(1, len(log) - 1)
    estimates = [json.loads((run / "estimate.json").read_text()) for run in out.glob("v1-*")]
    return {"tokens_per_s": tokens / steady, "step_s": steady, "memory": log[-1].get("memory(GiB)"),
            "allocated": log[-1].get("memory_allocated_peak(GiB)"), "estimate": estimates[0] if estimates else None}


def hf_train(model, tokens, steps, device):
    from peft import LoraConfig, get_peft_model
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                                  task_type="CAUSAL_LM"))
    peft_model.train()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (1, tokens), device=device)
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
    steady = sum(times[1:]) / max(1, len(times) - 1)
    model = peft_model.unload()
    model.gradient_checkpointing_disable()
    return {"tokens_per_s": tokens / steady, "step_s": steady}


def prompts(path, count):
    with open(path, "w") as out:
        for i in range(count):
            out.write(json.dumps({"messages": [{"role": "user", "content": f"Write about the number {i} " * 8}]}) + "\n")


def ztune_decode_rate(ztune, model, rows, batch, work, env):
    seconds = {}
    for new in (1, 256):
        start = time.perf_counter()
        done = subprocess.run([ztune, "infer", "--model", str(model), "--val_dataset", str(rows), "--temperature", "0",
                               "--max_new_tokens", str(new), "--max_batch_size", str(batch), "--torch_dtype", "bfloat16",
                               "--result_path", str(work / f"infer-{batch}-{new}.jsonl")],
                              capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"ztune infer exited {done.returncode}: {done.stderr[-1500:]}")
        seconds[new] = time.perf_counter() - start
    return batch * 255 / (seconds[256] - seconds[1])


def hf_decode_rate(model, tokenizer_dir, batch, device):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = [f"Write about the number {i} " * 8 for i in range(batch)]
    inputs = tokenizer(texts, return_tensors="pt", padding=True).to(device)
    seconds = {}
    for new in (1, 256):
        sync(device)
        start = time.perf_counter()
        model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        sync(device)
        seconds[new] = time.perf_counter() - start
    return batch * 255 / (seconds[256] - seconds[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ztune")
    parser.add_argument("work")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--budget", type=float, default=360)
    parser.add_argument("--fixtures", default=str(ROOT / "tests" / "fixtures" / "out" / "qwen2"))
    args = parser.parse_args()
    clock = Clock(args.budget)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, ZTUNE_DEVICE=args.device)
    rows = []

    def row(name, ztune_value, reference, target, note=""):
        rows.append(f"| {name} | {ztune_value} | {reference} | {target} | {note} |")

    rate = matrix_rate(args.device)
    n = 8192 if args.device == "cuda" else 512
    row(f"matrix rate ({'bf16' if args.device == 'cuda' else 'fp32'} matmul)", f"{rate / 1e12:.2f} TFLOP/s", "", "",
        f"{n}^3 x 10")
    model_dir = work / "model"
    model = write_model(model_dir, args.shape, args.device, args.fixtures)
    data = work / "data.jsonl"
    dataset(data, rows=4 * args.steps, words=2 * args.tokens)
    base = base_parameters(model)
    config = model.config
    flops_per_token = 6 * base + 8 * config.num_hidden_layers * args.tokens * config.num_attention_heads * (
        config.hidden_size // config.num_attention_heads)

    ours = ztune_sft(args.ztune, model_dir, data, work / "sft", args.tokens, args.steps, ["--lora_dropout", "0.05"], env)
    theirs = hf_train(model, args.tokens, args.steps, args.device)
    ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
    row(f"train tokens/s, {args.tokens} tokens/step", f"{ours['tokens_per_s']:.0f}", f"{theirs['tokens_per_s']:.0f}",
        ">= 1.3x", f"{ratio:.2f}x")
    mfu = ours["tokens_per_s"] * flops_per_token / rate
    row("MFU (of the measured matrix rate)", f"{100 * mfu:.1f}%", "", ">= 45%", f"{flops_per_token / 1e9:.3f} GFLOP/token")

    parts = [
        ("peak memory, 2,048 tokens, batch 1", lambda: ztune_sft(args.ztune, model_dir, data, work / "sft-2048", 2048, 3,
                                                                 ["--lora_dropout", "0.05"], env)),
        ("ZeRO-3 step time", lambda: ztune_sft(args.ztune, model_dir, data, work / "sft-zero3", args.tokens, args.steps,
                                               ["--lora_dropout", "0.05", "--deepspeed", "zero3"], env)),
        ("dropout 0 step time", lambda: ztune_sft(args.ztune, model_dir, data, work / "sft-nodrop", args.tokens, args.steps,
                                                  ["--lora_dropout", "0"], env)),
    ]
    for name, run in parts:
        if clock.left() < 60:
            row(name, "not run", "", "", "time budget")
            continue
        result = run()
        if name.startswith("peak"):
            if result["allocated"] is None:  # on the CPU ztune logs the resident set
                row(name, f"{result['memory']:.2f} GiB resident", "ms-swift: 22 GB (GPU)", "<= 18 GB (GPU)", "CPU dry run")
            else:
                row(name, f"{result['allocated']:.2f} GiB allocated", "ms-swift: 22 GB", "<= 18 GB",
                    f"{result['memory']:.2f} GiB reserved")
            if result["estimate"] is not None:  # issue 17: ztune estimate against the measured step 1
                record = result["estimate"]
                measured, estimated = record["measured"]["ranks"][0]["peak_bytes"], record["estimate"]["peak"]
                row("estimate vs measured peak, step 1", f"{estimated / 2**30:.2f} GiB estimated",
                    f"{measured / 2**30:.2f} GiB measured", "within 10%",
                    f"{100 * (estimated - measured) / measured:+.1f}% ({record['measured']['allocator']})")
        elif name.startswith("ZeRO-3"):
            row(name, f"{result['step_s']:.3f} s", f"ZeRO-2 {ours['step_s']:.3f} s", "", f"{result['step_s'] / ours['step_s']:.2f}x")
        else:
            row(name, f"{result['step_s']:.3f} s", f"dropout 0.05 {ours['step_s']:.3f} s", "",
                f"dropout costs {100 * (ours['step_s'] / result['step_s'] - 1):.1f}%")
    model.eval()
    for batch in (1, 16):
        if clock.left() < 60:
            row(f"greedy decode tokens/s, batch {batch}", "not run", "", "", "time budget")
            continue
        rows_path = work / f"prompts-{batch}.jsonl"
        prompts(rows_path, batch)
        ours_rate = ztune_decode_rate(args.ztune, model_dir, rows_path, batch, work, env)
        with torch.no_grad():
            theirs_rate = hf_decode_rate(model, model_dir, batch, args.device)
        row(f"greedy decode tokens/s, batch {batch}, 256 new", f"{ours_rate:.0f}", f"{theirs_rate:.0f}", ">= 1.5x",
            f"{ours_rate / theirs_rate:.2f}x")
    print("| benchmark | ztune | transformers + peft | target | note |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
