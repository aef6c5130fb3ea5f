#!/usr/bin/env python3
"""`ztune estimate` against measured runs (issue 17).

usage: check_estimate.py ZTUNE FIXTURE_QWEN2 DATASET WORK_DIR [--table]

Trains one step with `ztune sft` (which writes estimate.json in its run folder after its first step) over a grid
of runs: the fixture qwen2 and a larger random Qwen2 written here with transformers' save_pretrained (seed 0),
1-4 ranks under mpirun, ZeRO stages 0-3, LoRA and full, gradient checkpointing on and off, fp32 and bf16.
For each run it checks:
- every model-state kind the estimate gives (frozen weights, trainable weights, fp32 gradients, master
  weights + Adam moments, the weight-decay mask, the flat buffer's padded size, the largest gradient bucket)
  equals what the engine allocated, exactly;
- the bytes each rank sent in the step, per collective kind, equal the estimate (ring accounting) to the byte;
- each rank's peak CPU allocator bytes during the step are within 10% of the estimated peak;
- `ztune estimate` with the same flags prints the peak the run estimated for its full micro-batch, and
  `ztune sft --dry_run true` prints the same report without training.
--table prints the measured and estimated peaks as a markdown table (docs/BENCHMARKS.md).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from launchers import launch_command

PEAK_TOLERANCE = 0.10
KINDS = ["frozen_weights", "trainable_weights", "gradients", "optimizer_states", "decay_mask"]


def make_larger_model(fixture, out):
    """A random Qwen2 of 4 layers, hidden 256, with the fixture's tokenizer."""
    if (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    fixture_config = json.loads((fixture / "config.json").read_text())
    config = Qwen2Config(vocab_size=fixture_config["vocab_size"], hidden_size=256, intermediate_size=704,
                         num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=False, torch_dtype="float32",
                         bos_token_id=fixture_config.get("bos_token_id"), eos_token_id=fixture_config.get("eos_token_id"))
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for f in fixture.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            shutil.copy(f, out / f.name)
    return out


def make_larger_moe(fixture, out, vocab_size=None, experts=16, expert_size=128):
    """A random Qwen3-MoE of 4 layers, hidden 256, 16 experts of 128 (top 4), with the fixture's tokenizer (its
    vocabulary, or `vocab_size` rows of which the tokenizer uses the first)."""
    if (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
    fixture_config = json.loads((fixture / "config.json").read_text())
    config = Qwen3MoeConfig(vocab_size=vocab_size or fixture_config["vocab_size"], hidden_size=256, intermediate_size=704,
                            moe_intermediate_size=expert_size, num_experts=experts, num_experts_per_tok=4,
                            norm_topk_prob=True,
                            num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2, head_dim=32,
                            max_position_embeddings=2048, tie_word_embeddings=False,
                            bos_token_id=fixture_config.get("bos_token_id"), eos_token_id=fixture_config.get("eos_token_id"))
    torch.manual_seed(0)
    model = Qwen3MoeForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for f in fixture.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
            shutil.copy(f, out / f.name)
    return out


def sft(ztune, model, dataset, out, world, flags, extra=()):
    shutil.rmtree(out, ignore_errors=True)
    command = [ztune, "sft", "--model", str(model), "--dataset", str(dataset), "--output_dir", str(out),
               "--max_steps", "1", "--save_strategy", "no", "--report_to", "none"] + flags + list(extra)
    if world > 1:
        command = launch_command("mpirun", world) + command
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               ZTUNE_LINK_PROBE_MB="0")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return command, result


def peak_line(text):
    match = re.search(r"^\s*PEAK\s+(\S+ \S+)", text, re.M)
    return match.group(1) if match else None


def format_bytes(value):
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    u = 0
    while abs(value) >= 1024 and u < 4:
        value /= 1024
        u += 1
    return f"{value:.0f} {units[u]}" if u == 0 else f"{value:.2f} {units[u]}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ztune")
    parser.add_argument("fixture")
    parser.add_argument("dataset")
    parser.add_argument("work")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    fixture = Path(args.fixture)
    larger = make_larger_model(fixture, work / "qwen2-larger")
    moe = make_larger_moe(fixture, work / "qwen3-moe-larger")
    # Large gathered layers and a large vocabulary: under ZeRO-3 with checkpointing the layers are released before
    # the loss chunk is made, so the forward peak is the larger of the two, not their sum.
    wide = make_larger_moe(fixture, work / "qwen3-moe-wide-vocab", vocab_size=32000, experts=32, expert_size=256)
    experts = ["--target_modules", "q_proj", "gate_proj", "up_proj", "down_proj"]  # PEFT target_parameters
    common = ["--packing", "true", "--per_device_train_batch_size", "1"]
    # (model, world, stage, full, checkpointing, dtype, max_length, accumulation[, dropout[, flags]])
    grid = [
        (fixture, 1, 0, False, True, "float32", 256, 2),
        (fixture, 2, 1, True, True, "float32", 256, 1),
        (fixture, 1, 0, True, False, "float32", 256, 1),
        (fixture, 2, 2, False, False, "float32", 256, 2),
        (fixture, 3, 3, False, False, "float32", 128, 1),
        (fixture, 4, 3, False, True, "float32", 128, 1),
        (larger, 1, 0, False, False, "float32", 512, 1),
        (larger, 1, 2, True, True, "float32", 512, 1),
        (larger, 2, 2, False, True, "bfloat16", 512, 2),
        (larger, 2, 3, False, False, "float32", 512, 1),
        (larger, 2, 3, False, True, "float32", 512, 1),
        (larger, 4, 1, False, False, "float32", 256, 1),
        (larger, 1, 2, False, True, "float32", 512, 1, "0.05"),  # ms-swift's default LoRA dropout
        (larger, 2, 0, False, True, "bfloat16", 512, 1, "0.05"),  # ms-swift's defaults: bf16, checkpointing, dropout
        # mixtures of experts: all-linear (attention only on Qwen3-MoE), the experts adapted, ZeRO-3, full, and
        # expert parallelism (its all-to-all bytes follow the routing, so they are compared within 10%)
        (moe, 1, 0, False, False, "float32", 512, 1, "0.05"),
        (moe, 1, 0, False, False, "float32", 512, 1, "0", experts),
        (moe, 2, 3, False, False, "float32", 512, 1, "0", experts),
        (moe, 1, 0, True, False, "float32", 512, 1),
        (moe, 2, 2, False, True, "bfloat16", 512, 1, "0", experts + ["--expert_model_parallel_size", "2"]),
        (wide, 2, 3, False, True, "float32", 512, 1, "0", experts),
    ]
    failures, rows = [], []
    for i, (model, world, stage, full, ckpt, dtype, max_length, accumulation, *rest) in enumerate(grid):
        dropout = rest[0] if rest else "0"
        extra = rest[1] if len(rest) > 1 else []
        name = (f"{model.name} x{world} zero{stage} {'full' if full else 'lora'} ckpt={'on' if ckpt else 'off'} {dtype} "
                f"len {max_length}" + (f" dropout {dropout}" if dropout != "0" else "") +
                ("".join(" " + flag.lstrip("-") for flag in extra if flag.startswith("--")) if extra else ""))
        flags = common + ["--deepspeed", f"zero{stage}", "--train_type", "full" if full else "lora",
                          "--gradient_checkpointing", "true" if ckpt else "false", "--torch_dtype", dtype,
                          "--max_length", str(max_length), "--gradient_accumulation_steps", str(accumulation),
                          "--lora_dropout", dropout] + extra
        out = work / f"run{i}"
        command, result = sft(args.ztune, model, args.dataset, out, world, flags)
        runs = list(out.glob("v1-*"))
        record = json.loads((runs[0] / "estimate.json").read_text())
        estimate, allocated = record["estimate"], record["allocated"]
        for kind in KINDS:
            if estimate[kind] != allocated[kind]:
                failures.append(f"{name}: {kind} estimated {estimate[kind]}, allocated {allocated[kind]}")
        if record["estimate_flat_padded"] != allocated["flat_padded"]:
            failures.append(f"{name}: flat buffer estimated {record['estimate_flat_padded']}, allocated {allocated['flat_padded']}")
        if stage >= 2 and record["estimate_largest_bucket"] != allocated["largest_bucket"]:
            failures.append(f"{name}: largest bucket estimated {record['estimate_largest_bucket']}, "
                            f"allocated {allocated['largest_bucket']}")
        ranks = record["measured"]["ranks"]
        if len(ranks) != world:
            failures.append(f"{name}: {len(ranks)} ranks measured, expected {world}")
        worst = 0.0
        for r, rank in enumerate(ranks):
            for kind, sent in rank["bytes_sent"].items():
                expected = record["estimate_bytes_sent"][kind]
                if kind == "all_to_all":
                    if abs(sent - expected) > PEAK_TOLERANCE * max(expected, 1):
                        failures.append(f"{name}: rank {r} sent {sent} bytes by all-to-all, estimated {expected:.0f} "
                                        f"(more than {PEAK_TOLERANCE:.0%} apart)")
                elif abs(sent - expected) > 1:
                    failures.append(f"{name}: rank {r} sent {sent} bytes by {kind}, estimated {expected:.0f}")
            # The estimate is for the step's largest micro-batch (over all ranks); a rank whose largest
            # micro-batch was shorter holds less, so only the ranks that had that many tokens are compared.
            measured = rank["peak_bytes"]
            error = (estimate["peak"] - measured) / measured
            if rank["tokens"] == record["tokens_per_micro_batch"]:
                worst = error if abs(error) > abs(worst) else worst
                if abs(error) > PEAK_TOLERANCE:
                    failures.append(f"{name}: rank {r} peak {measured} bytes, estimated {estimate['peak']} "
                                    f"({100 * error:+.1f}%, phase {estimate['peak_phase']})")
        rows.append((name, record["tokens_per_micro_batch"], ranks[0]["peak_bytes"], estimate["peak"],
                     estimate["peak_phase"], worst))
        print(f"{name}: tokens {record['tokens_per_micro_batch']}, peak rank0 {ranks[0]['peak_bytes']} "
              f"estimated {estimate['peak']} ({100 * worst:+.1f}%), model states exact, bytes sent exact", flush=True)

        # the same command line through `ztune estimate` and `ztune sft --dry_run true`
        if i in (0, 8, 10):
            base = ["--model", str(model), "--max_steps", "1"] + flags
            shape = ["--nproc_per_node", str(world), "--measure", "false", "--device", "cpu"]
            text = subprocess.run([args.ztune, "estimate"] + base + shape, capture_output=True, text=True, timeout=120)
            want = format_bytes(record["estimate_at_max_length"]["peak"])
            if text.returncode != 0 or peak_line(text.stdout) != want:
                failures.append(f"{name}: ztune estimate printed PEAK {peak_line(text.stdout)}, the run estimated {want} "
                                f"(exit {text.returncode}: {text.stderr[-500:]})")
            dry_run = [args.ztune, "sft", "--dataset", str(args.dataset), "--dry_run", "true", "--output_dir",
                       str(work / "dry")] + base
            if world > 1:
                dry_run = launch_command("mpirun", world) + dry_run
            dry = subprocess.run(dry_run, capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"))
            if dry.returncode != 0 or peak_line(dry.stdout) != want or (work / "dry").exists():
                failures.append(f"{name}: sft --dry_run printed PEAK {peak_line(dry.stdout)}, expected {want}, and must "
                                f"write nothing (exit {dry.returncode}: {dry.stderr[-500:]})")
    if args.table:
        print("\n| run | tokens | measured peak (rank 0) | estimated | phase | worst rank |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, tokens, measured, estimated, phase, worst in rows:
            print(f"| {name} | {tokens} | {measured:,} | {estimated:,} | {phase} | {100 * worst:+.1f}% |")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print(f"OK: {len(grid)} runs: model states and bytes sent exact, peaks within {PEAK_TOLERANCE:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
