#!/usr/bin/env python3
"""The plan on paper for clusters we cannot run here: `ztune estimate` for Qwen2.5-7B, 14B and 72B (LoRA and
full, bf16, 2,048 tokens per micro-batch, gradient checkpointing, ms-swift's default accumulation) on 1x8, 2x8
and 8x8 GPUs of 80 GB, and the step time at 100 and 400 Gb/s between nodes; plus ms-swift's published
Qwen2.5-7B LoRA memory figures beside the estimate.

usage: estimate_table.py ZTUNE [--tflops 400] [--intra_gbps 150]

The model shapes are those of the models' config.json on the hub (written here; nothing is downloaded). The
matrix rate and NVLink bus bandwidth are given, not measured (defaults: 400 TFLOP/s dense bf16 achieved, about
40% of an H100's peak; 150 GB/s all-reduce bus bandwidth within a node): change them to your hardware's.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

QWEN25 = {
    "7B": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "14B": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40,
                num_key_value_heads=8, vocab_size=152064, tie_word_embeddings=False),
    "72B": dict(hidden_size=8192, intermediate_size=29568, num_hidden_layers=80, num_attention_heads=64,
                num_key_value_heads=8, vocab_size=152064, tie_word_embeddings=False),
}


# Qwen3-MoE shapes from the hub's config.json (Qwen3MoeForCausalLM; experts in every layer, renormalised top-8).
QWEN3_MOE = {
    "30B-A3B": dict(hidden_size=2048, intermediate_size=6144, moe_intermediate_size=768, num_hidden_layers=48,
                    num_attention_heads=32, num_key_value_heads=4, head_dim=128, num_experts=128,
                    num_experts_per_tok=8, vocab_size=151936, tie_word_embeddings=False),
    "235B-A22B": dict(hidden_size=4096, intermediate_size=12288, moe_intermediate_size=1536, num_hidden_layers=94,
                      num_attention_heads=64, num_key_value_heads=4, head_dim=128, num_experts=128,
                      num_experts_per_tok=8, vocab_size=151936, tie_word_embeddings=False),
}


def write_moe_config(root, name):
    folder = root / f"Qwen3-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe", max_position_embeddings=40960,
                  rms_norm_eps=1e-6, rope_theta=1000000.0, torch_dtype="bfloat16", hidden_act="silu",
                  norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[], attention_bias=False,
                  router_aux_loss_coef=0.001, **QWEN3_MOE[name])
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder / "config.json"


def moe_tables(ztune, work, rates):
    """Qwen3-30B-A3B and Qwen3-235B-A22B on 8-64 GPUs: ZeRO-2, ZeRO-3 and expert parallelism (LoRA), then
    ms-swift's published Qwen3-30B-A3B full-training run beside ztune's estimate of the same run."""
    common = ["--max_length", "8192", "--packing", "true", "--per_device_train_batch_size", "1",
              "--gradient_accumulation_steps", "1", "--device_memory_gib", "74.5", "--inter_node_gbps", "50"]
    print("\n## Mixtures of experts: memory per GPU (GiB) and step time (s), bf16, 8,192 tokens per GPU, "
          "checkpointing, 400 Gb/s between nodes\n")
    print("LoRA is ms-swift's default `--target_modules all-linear`, which on these models adapts attention only "
          "(docs/MOE.md); EP 8 groups the 8 GPUs of a node, so its all-to-all stays on NVLink.\n")
    print("| model | tuning | GPUs | ZeRO-2 | ZeRO-3 | EP 8 + ZeRO-2 | EP 8 + ZeRO-3 | step s ZeRO-3 | step s EP 8 + ZeRO-2 "
          "| tokens/s EP 8 + ZeRO-2 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in QWEN3_MOE:
        config = write_moe_config(work, name)
        for tuning in ("lora", "full"):
            for nodes in (1, 2, 4, 8):
                cells, times = [], {}
                for stage, ep in ((2, 1), (3, 1), (2, 8), (3, 8)):
                    if tuning == "full" and (ep > 1 or stage == 3):
                        cells.append("n/a")  # ztune trains in full up to ZeRO-2; its EP splits frozen experts only
                        continue
                    record, _ = estimate(ztune, config, work, rates + common + [
                        "--train_type", tuning, "--deepspeed", f"zero{stage}", "--nnodes", str(nodes),
                        "--nproc_per_node", "8", "--expert_model_parallel_size", str(ep)])
                    peak = record["memory"]["peak"]
                    cells.append(gib(peak) + ("" if peak <= 74.5 * 2**30 else " (OOM)"))
                    times[(stage, ep)] = record["time"]["step_s"]
                ep_time = times.get((2, 8))
                tokens = f"{nodes * 8 * 8192 / ep_time:,.0f}" if ep_time else "n/a"
                print(f"| Qwen3-{name} | {tuning} | {nodes * 8} | " + " | ".join(cells) +
                      f" | {f'{times[(3, 1)]:.2f}' if (3, 1) in times else 'n/a'} | {f'{ep_time:.2f}' if ep_time else 'n/a'} | {tokens} |")

    print("\n## Qwen3-30B-A3B full training on 16 GPUs, 8,192 tokens: ms-swift's published run and ztune's estimate\n")
    print("ms-swift's figures: its Megatron-SWIFT best-practice page (2 nodes x 8 A800 80 GiB, packing, global batch "
          "16, full recomputation). ztune's: the estimate at the same shape with the rates above; ztune trains in "
          "full without expert parallelism, so its rows are its ZeRO stages.\n")
    print("| run | ms-swift: s/it | ms-swift: memory per GPU | ztune estimate: step s | ztune estimate: peak GiB |")
    print("| --- | --- | --- | --- | --- |")
    config = write_moe_config(work, "30B-A3B")
    published = {2: ("-", "OOM"), 3: ("91.2", "80 GiB")}
    for stage in (2, 3):
        if stage == 3:
            print(f"| DeepSpeed / ztune ZeRO-3 | 91.2 | 80 GiB | n/a (ztune trains in full up to ZeRO-2) | n/a |")
            continue
        record, _ = estimate(ztune, config, work, rates + common + [
            "--train_type", "full", "--deepspeed", f"zero{stage}", "--nnodes", "2", "--nproc_per_node", "8"])
        peak = record["memory"]["peak"]
        print(f"| DeepSpeed / ztune ZeRO-{stage} | {published[stage][0]} | {published[stage][1]} | "
              f"{record['time']['step_s']:.2f} | {gib(peak)}{'' if peak <= 74.5 * 2**30 else ' (OOM)'} |")
    print("| Megatron-SWIFT TP 2, EP 8 | 9.6 | 60 GiB | - | - |")


def write_config(root, name):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", max_position_embeddings=32768,
                  rms_norm_eps=1e-6, rope_theta=1000000.0, torch_dtype="bfloat16", hidden_act="silu",
                  use_sliding_window=False, **QWEN25[name])
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder / "config.json"


def estimate(ztune, config, work, extra):
    out = work / "estimate.json"
    command = [ztune, "estimate", "--model", str(config), "--torch_dtype", "bfloat16", "--max_length", "2048",
               "--measure", "false", "--json", str(out)] + extra
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    return json.loads(out.read_text()), result.stdout


def gib(value):
    return f"{value / 2**30:.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ztune")
    parser.add_argument("--tflops", type=float, default=400.0)
    parser.add_argument("--intra_gbps", type=float, default=150.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ztune-estimate-"))
    rates = ["--matrix_tflops", str(args.tflops), "--intra_node_gbps", str(args.intra_gbps)]

    print("## Memory per rank (GiB), bf16, 2,048 tokens, batch 1, gradient checkpointing, 80 GB devices\n")
    print("| model | tuning | GPUs | ZeRO-0 | ZeRO-1 | ZeRO-2 | ZeRO-3 | lowest stage that fits |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in QWEN25:
        config = write_config(work, name)
        for tuning in ("lora", "full"):
            for nodes in (1, 2, 8):
                peaks = []
                fits = None
                for stage in range(4):
                    if tuning == "full" and stage == 3:
                        peaks.append("n/a")
                        continue
                    record, _ = estimate(args.ztune, config, work, rates + [
                        "--train_type", tuning, "--deepspeed", f"zero{stage}", "--nnodes", str(nodes),
                        "--nproc_per_node", "8", "--inter_node_gbps", "50", "--device_memory_gib", "74.5"])
                    peaks.append(gib(record["memory"]["peak"]))
                    fits = record["lowest_fitting_stage"]
                print(f"| Qwen2.5-{name} | {tuning} | {nodes}x8 | " + " | ".join(peaks) +
                      f" | {'none' if fits < 0 else fits} |")

    print("\n## Scaling with nodes: step time (s) and cluster tokens/s at 100 and 400 Gb/s between nodes\n")
    print(f"One micro-batch of 2,048 tokens per GPU per step (--gradient_accumulation_steps 1), {args.tflops:g} "
          f"TFLOP/s per GPU, {args.intra_gbps:g} GB/s bus bandwidth within a node; efficiency = tokens/s over "
          "nodes x the one-node tokens/s.\n")
    print("| model | tuning, stage | nodes x 8 | compute s | step s, 100 Gb/s | step s, 400 Gb/s | tokens/s, 100 Gb/s "
          "| tokens/s, 400 Gb/s | efficiency 100 / 400 | bottleneck at 100 Gb/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in QWEN25:
        config = write_config(work, name)
        for tuning, stage in (("lora", 2), ("lora", 3), ("full", 2)):
            one_node = {}
            for nodes in (1, 2, 8):
                times = {}
                for gbps in (100, 400):
                    record, _ = estimate(args.ztune, config, work, rates + [
                        "--train_type", tuning, "--deepspeed", f"zero{stage}", "--nnodes", str(nodes),
                        "--nproc_per_node", "8", "--inter_node_gbps", str(gbps / 8), "--gradient_accumulation_steps", "1"])
                    times[gbps] = record["time"]
                rate = {g: nodes * 8 * 2048 / times[g]["step_s"] for g in times}
                if nodes == 1:
                    one_node = rate
                eff = "/".join(f"{rate[g] / (nodes * one_node[g]):.0%}" for g in (100, 400))
                print(f"| Qwen2.5-{name} | {tuning}, ZeRO-{stage} | {nodes} | {times[100]['compute_s']:.2f} | "
                      f"{times[100]['step_s']:.2f} | {times[400]['step_s']:.2f} | {rate[100]:,.0f} | {rate[400]:,.0f} | "
                      f"{eff} | {times[100]['bottleneck']} |")

    print("\n## Qwen2.5-7B LoRA against ms-swift's published memory (bf16, 2,048 tokens, batch 1)\n")
    print("| run | ms-swift | ztune estimate (peak allocated) |")
    print("| --- | --- | --- |")
    config = write_config(work, "7B")
    for label, published, extra in (("1 GPU", "22 GB", ["--nproc_per_node", "1"]),
                                     ("2 GPUs ZeRO-2", "18 GiB each", ["--nproc_per_node", "2", "--deepspeed", "zero2"]),
                                     ("2 GPUs ZeRO-3", "16 GiB each", ["--nproc_per_node", "2", "--deepspeed", "zero3"])):
        record, _ = estimate(args.ztune, config, work, rates + ["--train_type", "lora", "--per_device_train_batch_size", "1"] + extra)
        m = record["memory"]
        print(f"| {label} | {published} | {gib(m['peak'])} GiB (weights {gib(m['frozen_weights'])}, "
              f"activations kept {gib(m['activations_kept'])}, loss chunk {gib(m['loss_chunk'])}) |")

    moe_tables(args.ztune, work, rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
