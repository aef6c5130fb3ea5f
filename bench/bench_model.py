#!/usr/bin/env python3
"""LoRA training-step benchmark: ztune's decoder against transformers + peft, side by side in one run.

usage: bench/bench_model.py [--build build] [--seq 1024] [--samples 4] [--steps 3] [--checkpointing 1]

A random Qwen2-shaped model (hidden 512, 8 layers, 8 heads / 2 kv heads, intermediate 1408, vocab 32000,
untied, fp32) is written once by transformers at a fixed seed. Each side then trains LoRA (r 8, alpha 32,
dropout 0.05, all-linear) on one packed row of --seq tokens holding --samples samples (position ids
restarting per sample), same torch (2.11), same thread count, same gradient checkpointing setting:
forward, token cross-entropy, backward; tokens/s over --steps steps after one warm-up step, and the peak
resident memory the steps add (VmHWM after minus VmRSS before). Each side runs in a fresh process.
MFU = model FLOPs per second / the machine's fp32 GEMM rate (2048^3 matmul, measured in the same run);
model FLOPs per token = 2 x base parameters x (1 forward + 1 backward-for-inputs + 1 recompute when
checkpointing) + the attention score and value products, causal, per sample.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

HF_STEP = textwrap.dedent("""
    import json, sys, time, torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    model_dir, seq, samples, steps, checkpointing = sys.argv[1], *map(int, sys.argv[2:6])
    # Optional (bench_moe.py): LoRA dropout, comma-separated targets, transformers' experts implementation.
    dropout = float(sys.argv[6]) if len(sys.argv) > 6 else 0.05
    targets = sys.argv[7].split(',') if len(sys.argv) > 7 else 'all-linear'
    extra = {'experts_implementation': sys.argv[8]} if len(sys.argv) > 8 else {}
    def kib(key):
        for line in open('/proc/self/status'):
            if line.startswith(key):
                return int(line.split()[1])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation='sdpa', **extra)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': True})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=32, lora_dropout=dropout, target_modules=targets,
                                             task_type='CAUSAL_LM'))
    model.train()
    ids = torch.randint(0, model.config.vocab_size, (1, seq))
    positions = torch.arange(seq // samples).repeat(samples).unsqueeze(0)
    def step():
        out = model(input_ids=ids, position_ids=positions, labels=ids)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
    step()
    before = kib('VmRSS:')
    open('/proc/self/clear_refs', 'w').write('5')
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({'tokens_per_second': seq * steps / seconds, 'peak_added_mib': (kib('VmHWM:') - before) / 1024,
                      'threads': torch.get_num_threads()}))
""")


def write_model(folder):
    import torch
    import transformers

    config = transformers.Qwen2Config(vocab_size=32000, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=4096,
                                      tie_word_embeddings=False, rope_theta=1e6)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    model.save_pretrained(str(folder))
    return sum(p.numel() for p in model.model.layers.parameters()) + config.vocab_size * config.hidden_size, config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--checkpointing", type=int, default=1)
    parser.add_argument("--against", help="another build folder: time its ztune_model_bench against --build's, "
                                           "alternating, instead of transformers (a refactor's before and after)")
    parser.add_argument("--rounds", type=int, default=4, help="with --against: runs of each side")
    args = parser.parse_args()
    if args.against:
        return against(args)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        params, config = write_model(folder)
        common = [str(folder), str(args.seq), str(args.samples), str(args.steps), str(args.checkpointing)]
        ours = json.loads(subprocess.run([str(Path(args.build) / "bench" / "ztune_model_bench"), *common], check=True,
                                         capture_output=True, text=True).stdout.strip().splitlines()[-1])
        env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
        theirs = json.loads(subprocess.run([PYTHON, "-c", HF_STEP, *common], check=True, capture_output=True,
                                           text=True, env=env).stdout.strip().splitlines()[-1])
    passes = 3 if args.checkpointing else 2
    sample = args.seq // args.samples
    attention = 4 * config.num_hidden_layers * config.hidden_size * sample / 2  # QK^T and PV, causal half, per token
    flops_per_token = 2 * params * passes + attention * passes
    print(f"| side | tokens/s | peak added MiB | MFU |")
    print(f"| --- | --- | --- | --- |")
    for name, result in (("ztune", ours), ("transformers + peft", theirs)):
        mfu = result["tokens_per_second"] * flops_per_token / ours["gemm_flops"]
        print(f"| {name} | {result['tokens_per_second']:.0f} | {result['peak_added_mib']:.0f} | {100 * mfu:.1f}% |")
    print(f"\nspeed ratio {ours['tokens_per_second'] / theirs['tokens_per_second']:.2f}x, memory ratio "
          f"{ours['peak_added_mib'] / max(theirs['peak_added_mib'], 1e-9):.2f}; GEMM peak {ours['gemm_flops'] / 1e9:.1f} "
          f"GFLOP/s; threads {ours['threads']} / {theirs['threads']}; {params / 1e6:.1f}M base parameters")


def against(args):
    """The same model and rows through two builds of ztune, alternating round by round; medians."""
    import statistics
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        write_model(folder)
        common = [str(folder), str(args.seq), str(args.samples), str(args.steps), str(args.checkpointing)]
        results = {"this": [], "other": []}
        for _ in range(args.rounds):
            for side, build in (("other", args.against), ("this", args.build)):
                out = subprocess.run([str(Path(build) / "bench" / "ztune_model_bench"), *common], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                results[side].append(json.loads(out))
    print("| build | tokens/s (median) | each round | peak added MiB (median) |")
    print("| --- | --- | --- | --- |")
    for side, build in (("this", args.build), ("other", args.against)):
        speeds = [r["tokens_per_second"] for r in results[side]]
        peaks = [r["peak_added_mib"] for r in results[side]]
        print(f"| {build} | {statistics.median(speeds):.0f} | {' '.join(f'{v:.0f}' for v in speeds)} | "
              f"{statistics.median(peaks):.0f} |")
    ratios = [a["tokens_per_second"] / b["tokens_per_second"] for a, b in zip(results["this"], results["other"])]
    print(f"\nthis / other: speed {statistics.median(ratios):.3f}x (pairs {' '.join(f'{r:.3f}' for r in ratios)}), "
          f"peak {statistics.median([r['peak_added_mib'] for r in results['this']]) / statistics.median([r['peak_added_mib'] for r in results['other']]):.3f}")


if __name__ == "__main__":
    main()
