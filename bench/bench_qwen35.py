#!/usr/bin/env python3
"""Qwen3.5-shaped LoRA training step on the CPU: ztune against transformers + peft (its torch path: no
flash-linear-attention or causal-conv1d here), side by side in one run, at several lengths.

usage: bench/bench_qwen35.py [--build build] [--seqs 2048,8192] [--samples 4] [--steps 2] [--checkpointing 1]
                             [--ztune_only_seqs 16384,32768]

Model (random, fp32, written once by transformers at a fixed seed): Qwen3_5ForCausalLM, hidden 512, 8 layers in
the 3:1 plan (Gated DeltaNet in layers 0-2 and 4-6, gated attention in 3 and 7), attention 8 heads / 2 kv heads of
64 (partial RoPE 0.25), Gated DeltaNet 4 key heads and 8 value heads of 64, conv kernel 4, MLP 1408, vocab 32000,
untied. LoRA r 8, alpha 32, dropout 0 on every linear of the layers (all-linear). Each side trains one packed
row of the given length holding --samples samples: forward, token cross-entropy, backward; tokens/s over --steps
steps after a warm-up step, and the peak resident memory the steps add. --ztune_only_seqs times ztune alone at
lengths where transformers' torch path would take too long, for the length curve.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_model import HF_STEP  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "in_proj_qkv", "in_proj_z",
           "in_proj_b", "in_proj_a", "out_proj"]


def write_model(folder):
    import torch
    import transformers

    config = transformers.Qwen3_5TextConfig(
        vocab_size=32000, hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
        num_key_value_heads=2, head_dim=64, linear_num_key_heads=4, linear_num_value_heads=8, linear_key_head_dim=64,
        linear_value_head_dim=64, linear_conv_kernel_dim=4, max_position_embeddings=65536, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "partial_rotary_factor": 0.25})
    torch.manual_seed(0)
    transformers.Qwen3_5ForCausalLM(config).save_pretrained(str(folder))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--seqs", default="2048,8192")
    parser.add_argument("--ztune_only_seqs", default="")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--checkpointing", type=int, default=1)
    args = parser.parse_args()
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "qwen3.5"
        write_model(folder)
        lengths = [(int(s), True) for s in args.seqs.split(",") if s] + \
                  [(int(s), False) for s in args.ztune_only_seqs.split(",") if s]
        for seq, with_reference in lengths:
            common = [str(seq), str(args.samples), str(args.steps), str(args.checkpointing)]
            ours = subprocess.run([str(Path(args.build) / "bench" / "ztune_model_bench"), str(folder), *common, "0",
                                   ",".join(TARGETS)], check=True, capture_output=True, text=True).stdout
            ours = json.loads(ours.strip().splitlines()[-1])
            theirs = None
            if with_reference:
                done = subprocess.run([sys.executable, "-c", HF_STEP, str(folder), *common, "0.0", ",".join(TARGETS)],
                                      check=True, capture_output=True, text=True, env=env)
                theirs = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((seq, ours, theirs))
            print(f"[bench_qwen35] {seq} tokens done", file=sys.stderr, flush=True)
    print("| tokens | ztune tokens/s | transformers + peft tokens/s | speed | ztune peak MiB | transformers peak MiB | memory |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for seq, ours, theirs in rows:
        if theirs is None:
            print(f"| {seq} | {ours['tokens_per_second']:.0f} | - | - | {ours['peak_added_mib']:.0f} | - | - |")
            continue
        print(f"| {seq} | {ours['tokens_per_second']:.0f} | {theirs['tokens_per_second']:.0f} | "
              f"{ours['tokens_per_second'] / theirs['tokens_per_second']:.2f}x | {ours['peak_added_mib']:.0f} | "
              f"{theirs['peak_added_mib']:.0f} | {ours['peak_added_mib'] / max(theirs['peak_added_mib'], 1e-9):.2f}x |")
    print(f"\nthreads {rows[0][1]['threads']}; {args.samples} samples per row, checkpointing {args.checkpointing}, "
          f"{args.steps} timed steps")


if __name__ == "__main__":
    main()
