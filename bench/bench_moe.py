#!/usr/bin/env python3
"""Mixture-of-experts LoRA training step: ztune against transformers + peft with its fastest experts implementation,
and ztune's MFU on active parameters against the dense model of the same active size, side by side in one run.

usage: bench/bench_moe.py [--build build] [--seq 1024] [--samples 4] [--steps 3] [--checkpointing 1]

Models (random, fp32, written once by transformers at a fixed seed):
- MoE: Qwen3-MoE-shaped, hidden 512, 8 layers, 8 heads / 2 kv heads (head_dim 64), 32 experts of intermediate 352,
  top-4 renormalised, vocab 32000, untied;
- dense: Qwen3 of the same shape with one MLP of intermediate 1408 = 4 x 352, so its parameters per token equal
  the MoE's active parameters (plus the router's 32 x 512 per layer).
LoRA r 8, alpha 32, dropout 0 (PEFT refuses dropout on stacked experts), targets q/k/v/o and gate/up/down (which
PEFT turns into the experts' gate_up_proj and down_proj parameters on Qwen3-MoE). Each side trains one packed row
of --seq tokens holding --samples samples: forward, token cross-entropy, backward; tokens/s over --steps steps
after a warm-up step, peak resident memory added. transformers runs each experts implementation it has (eager,
grouped_mm; batched_mm with --batched_mm: on this CPU it gathers a weight matrix per token, 6 tokens/s and 11 GiB
in our run) and the fastest is compared. MFU = active FLOPs per second / the fp32 GEMM rate measured
by ztune's bench (2048^3 matmul), active FLOPs per token = 2 x active parameters x passes (3 with checkpointing:
forward, backward for inputs, recompute) + attention.
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
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
HIDDEN, LAYERS, EXPERTS, TOP_K, MOE_I, VOCAB = 512, 8, 32, 4, 352, 32000

# transformers + peft's side: bench_model.py's step, with dropout 0, these targets and an experts implementation.
from bench_model import HF_STEP  # noqa: E402


def write_models(tmp):
    import torch
    import transformers

    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=8,
                  num_key_value_heads=2, head_dim=64, max_position_embeddings=4096, tie_word_embeddings=False,
                  rope_theta=1e6)
    moe_config = transformers.Qwen3MoeConfig(num_experts=EXPERTS, num_experts_per_tok=TOP_K, moe_intermediate_size=MOE_I,
                                             norm_topk_prob=True, intermediate_size=TOP_K * MOE_I, **common)
    dense_config = transformers.Qwen3Config(intermediate_size=TOP_K * MOE_I, **common)
    folders = {}
    for name, config, cls in (("moe", moe_config, transformers.Qwen3MoeForCausalLM),
                              ("dense", dense_config, transformers.Qwen3ForCausalLM)):
        torch.manual_seed(0)
        model = cls(config)
        folders[name] = Path(tmp) / name
        model.save_pretrained(str(folders[name]))
        total = sum(p.numel() for p in model.model.layers.parameters())
        if name == "moe":  # active: the top-k experts of each layer, not all of them
            expert = sum(p.numel() for layer in model.model.layers for p in layer.mlp.experts.parameters())
            total = total - expert + expert * TOP_K // EXPERTS
        folders[name + "_active"] = total + VOCAB * HIDDEN  # the head's matmul; the embedding is a lookup
    return folders


def ztune_side(build, folder, common):
    out = subprocess.run([str(Path(build) / "bench" / "ztune_model_bench"), str(folder), *common, "0", ",".join(TARGETS)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--checkpointing", type=int, default=1)
    parser.add_argument("--batched_mm", action="store_true", help="also time transformers' batched_mm experts")
    args = parser.parse_args()
    common = [str(args.seq), str(args.samples), str(args.steps), str(args.checkpointing)]
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
    with tempfile.TemporaryDirectory() as tmp:
        folders = write_models(tmp)
        results = {"ztune MoE": ztune_side(args.build, folders["moe"], common),
                   "ztune dense (same active size)": ztune_side(args.build, folders["dense"], common)}
        for implementation in ("eager", "grouped_mm") + (("batched_mm",) if args.batched_mm else ()):
            done = subprocess.run([sys.executable, "-c", HF_STEP, str(folders["moe"]), *common, "0.0", ",".join(TARGETS),
                                   implementation],
                                  capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"transformers experts_implementation={implementation}: failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            results[f"transformers + peft MoE ({implementation})"] = json.loads(done.stdout.strip().splitlines()[-1])
    gemm = results["ztune MoE"]["gemm_flops"]
    passes = 3 if args.checkpointing else 2
    sample = args.seq // args.samples
    attention = 4 * LAYERS * 8 * 64 * sample / 2  # QK^T and PV over q heads x head_dim, causal half, per token
    print("| side | tokens/s | peak added MiB | MFU (active) |")
    print("| --- | --- | --- | --- |")
    mfu = {}
    for name, result in results.items():
        active = folders["dense_active"] if "dense" in name else folders["moe_active"]
        mfu[name] = result["tokens_per_second"] * (2 * active * passes + attention * passes) / gemm
        print(f"| {name} | {result['tokens_per_second']:.0f} | {result['peak_added_mib']:.0f} | {100 * mfu[name]:.1f}% |")
    hf = max((n for n in results if n.startswith("transformers")), key=lambda n: results[n]["tokens_per_second"])
    print(f"\nztune MoE / fastest transformers ({hf}): speed "
          f"{results['ztune MoE']['tokens_per_second'] / results[hf]['tokens_per_second']:.2f}x, peak memory "
          f"{results['ztune MoE']['peak_added_mib'] / max(results[hf]['peak_added_mib'], 1e-9):.2f}x; MFU MoE / dense "
          f"{mfu['ztune MoE'] / mfu['ztune dense (same active size)']:.2f}; active parameters {folders['moe_active'] / 1e6:.1f}M "
          f"(dense {folders['dense_active'] / 1e6:.1f}M); GEMM peak {gemm / 1e9:.1f} GFLOP/s; threads "
          f"{results['ztune MoE']['threads']}")


if __name__ == "__main__":
    main()
