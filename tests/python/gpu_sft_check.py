#!/usr/bin/env python3
"""`ztune sft`, resume, export and infer on the GPU (scripts/gpu_check.sh), or the same on the CPU (--dry-run).

usage: gpu_sft_check.py ZTUNE MODEL_DIR DATASET WORK_DIR --deepspeed zero2|zero3 [--steps 20]

bf16 with packing: STEPS steps saving at STEPS/2 and STEPS; a second run resumes from the middle checkpoint.
On the CPU (ZTUNE_DEVICE=cpu, the dry run) the resumed adapter equals the uninterrupted one bit for bit. On a
GPU, flash attention's backward sums in another order from run to run, and Adam turns that into sign flips of
a few near-zero updates, so the largest element difference says little: the resumed adapter must be within
2e-2 of the uninterrupted one as a whole (norm of the difference over the norm, per tensor, the worst tensor)
and its last logged loss within 2e-2 (relative). The run must say it ran on the device asked for (cuda:N when
ZTUNE_DEVICE=cuda). The adapter is exported merged; greedy replies of 16 tokens to two prompts, in fp32, on the
run's device equal those on the CPU (ZTUNE_DEVICE=cpu).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from sft_run import run_sft_command

BF16_TOLERANCE = 2e-2


def infer(ztune, checkpoint, rows, result, device):
    env = dict(os.environ, ZTUNE_DEVICE=device)
    done = subprocess.run([ztune, "infer", "--adapters", str(checkpoint), "--val_dataset", str(rows),
                           "--temperature", "0", "--max_new_tokens", "16", "--torch_dtype", "float32",
                           "--result_path", str(result)], capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0:
        sys.exit(f"FAIL: ztune infer on {device} exited {done.returncode}: {done.stderr[-2000:]}")
    return [json.loads(line)["response"] for line in result.read_text().splitlines()]


def main():
    parser = argparse.ArgumentParser()
    for name in ("ztune", "model", "dataset", "work"):
        parser.add_argument(name)
    parser.add_argument("--deepspeed", required=True)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    work = Path(args.work)
    half = args.steps // 2
    common = ["--model", args.model, "--dataset", args.dataset, "--bf16", "true", "--packing", "true",
              "--max_length", "512", "--max_steps", str(args.steps), "--save_steps", str(half),
              "--logging_steps", "1", "--deepspeed", args.deepspeed, "--learning_rate", "1e-3"]
    failures = []
    run, stdout, stderr = run_sft_command(args.ztune, work / "full", 1, common)
    device_line = next((line for line in (stdout + stderr).splitlines() if "running on" in line), "")
    wanted = os.environ.get("ZTUNE_DEVICE", "auto")
    if wanted in ("cuda", "cpu") and f"running on {wanted}" not in device_line:
        failures.append(f"ZTUNE_DEVICE={wanted} but the run says: {device_line.strip() or '(no device line)'}")
    resumed, _, _ = run_sft_command(args.ztune, work / "resumed", 1,
                                    common + ["--resume_from_checkpoint", str(run / f"checkpoint-{half}")])
    a = load_file(str(run / f"checkpoint-{args.steps}" / "adapter_model.safetensors"))
    b = load_file(str(resumed / f"checkpoint-{args.steps}" / "adapter_model.safetensors"))
    losses = [json.loads(line)["loss"] for line in (run / "logging.jsonl").read_text().splitlines() if '"loss"' in line]
    resumed_losses = [json.loads(line)["loss"] for line in (resumed / "logging.jsonl").read_text().splitlines()
                      if '"loss"' in line]
    if wanted == "cpu":
        differing = [k for k in a if not np.array_equal(a[k], b[k])]
        diff = 0.0 if not differing else float("inf")
        if differing or losses[-1] != resumed_losses[-1]:
            failures.append(f"on the CPU the resumed run must equal the uninterrupted one bit for bit: {len(differing)} "
                            f"tensors differ, last loss {losses[-1]} vs {resumed_losses[-1]}")
    else:
        diff = max(float(np.linalg.norm(a[k].astype(np.float64) - b[k]) / max(np.linalg.norm(a[k].astype(np.float64)), 1e-12))
                   for k in a)
        if diff > BF16_TOLERANCE:
            failures.append(f"resumed adapter differs from the uninterrupted one by {diff:.3g} (relative norm, worst tensor)")
        if abs(losses[-1] - resumed_losses[-1]) > BF16_TOLERANCE * abs(losses[-1]):
            failures.append(f"last loss {losses[-1]:.5f} uninterrupted vs {resumed_losses[-1]:.5f} resumed")
    if not all(np.isfinite(losses)) or not losses[-1] < losses[0]:
        failures.append(f"losses {losses[0]:.4f} -> {losses[-1]:.4f}")
    checkpoint = run / f"checkpoint-{args.steps}"
    export = subprocess.run([args.ztune, "export", "--adapters", str(checkpoint), "--merge_lora", "true"],
                            capture_output=True, text=True, timeout=120)
    if export.returncode != 0 or not (Path(str(checkpoint) + "-merged") / "config.json").exists():
        failures.append(f"export --merge_lora failed: {export.stderr[-1500:]}")
    rows = work / "prompts.jsonl"
    rows.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n"
                            for q in ("Give me three tips for staying healthy.", "What is the capital of France?")))
    here = infer(args.ztune, checkpoint, rows, work / "replies-device.jsonl", os.environ.get("ZTUNE_DEVICE", "auto"))
    cpu = infer(args.ztune, checkpoint, rows, work / "replies-cpu.jsonl", "cpu")
    if here != cpu:
        failures.append(f"greedy replies differ from the CPU's: {here} vs {cpu}")
    if failures:
        sys.exit(f"FAIL ({args.deepspeed}):\n" + "\n".join(failures))
    print(f"ok ({args.deepspeed}, {device_line.strip()}): loss {losses[0]:.4f} -> {losses[-1]:.4f} in {args.steps} steps; "
          f"resume within {diff:.2g}; merged export; 2 greedy replies equal the CPU's")


if __name__ == "__main__":
    main()
