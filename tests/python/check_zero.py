#!/usr/bin/env python3
"""ZeRO equivalence: N ranks (under mpirun, torchrun, or tests/run_ranks.py without MPI) equal one process,
for each stage.

usage: check_zero.py TOOL MODEL_DIR WORK_DIR WORLD [--stages 0 1 2 3] [--steps 20] [--rows 6] [--table]
                     [--launcher mpirun|torchrun|env|nodes]

Runs tests/tools/zero_train.cpp once as a single process (stage 0, the reference) and once per stage
with WORLD ranks, then checks:
- per-step global losses and the final LoRA weights equal the reference (fp32, max abs diff <= 1e-5);
- each rank's fp32 master weights, Adam moments and last applied gradient equal the matching slice of
  the reference's full state (the flat layout is the same, only the padding differs);
- the bytes each rank sent per step equal the ZeRO paper's accounting within 5%, psi in fp32 bytes and
  every term times (N-1)/N: 2 psi for stages 0-1; for stages 2-3, which reduce-scatter after each of the
  A micro-batches of a step, (A + 1) psi in stage 2 (the last term the parameter all-gather after the
  step), and A psi + 2 A (psi + psi_frozen) in stage 3, whose layers (trainable and frozen weights) are
  gathered for forward and again for the recompute in backward, with no gather after the step. With
  --rows equal to the world size, A = 1: the paper's 2 psi, and 3 psi plus the frozen-weight gathers;
- the optimizer state on each rank is 1/N of the whole from stage 1 on.
--full trains every weight instead of LoRA (stages 0-2) and also checks memory as DeepSpeed promises it:
each rank's peak CPU allocator bytes during the steps under stage 2 are below stage 0's (gradients are
freed as their buckets are reduced), and stage 2 never holds more than 4 staging buffers (each the size
of the largest bucket) at once: two in flight, the one being filled and one complete but waiting for a
later bucket to go first. That bound does not grow with the model; the gradient does.
--table prints the measured bytes and memory as a markdown table (docs/BENCHMARKS.md).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from launchers import launch_command

TOLERANCE = 1e-5
# Training every weight, Adam's normalised update of weights whose gradients are near zero turns the
# rounding of a different summation order (ranks, buckets) into up to a few 1e-5 of the weights after a
# few steps at lr 1e-3; LoRA's are within 1e-5.
TOLERANCE_FULL = 5e-5


def run(tool, model, out, world, stage, steps, rows, launcher="mpirun", full=False):
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               ZTUNE_TEST_FULL="1" if full else "0")
    command = [tool, str(model), str(out), str(stage), str(steps), str(rows)]
    if world > 1:
        command = launch_command(launcher, world) + command
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    ranks = []
    for r in range(world):
        ranks.append((json.loads((out / f"rank{r}.json").read_text()), load_file(str(out / f"rank{r}.safetensors"))))
    return ranks, load_file(str(out / "adapter.safetensors"))


def max_diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("model")
    parser.add_argument("work")
    parser.add_argument("world", type=int)
    parser.add_argument("--stages", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--launcher", choices=["mpirun", "torchrun", "env", "nodes"], default="mpirun")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    tolerance = TOLERANCE_FULL if args.full else TOLERANCE
    work = Path(args.work)
    ref_ranks, ref_adapter = run(args.tool, args.model, work / "reference", 1, 0, args.steps, args.rows,
                                 full=args.full)
    ref_log, ref_state = ref_ranks[0]
    numel = ref_log["trainable_numel"]
    failures, table = [], []
    peaks, staged, bucket_bytes = {}, {}, {}
    for stage in args.stages:
        ranks, adapter = run(args.tool, args.model, work / f"stage{stage}", args.world, stage, args.steps, args.rows,
                             args.launcher, args.full)
        peaks[stage] = [log["peak_cpu_bytes"] for log, _ in ranks]
        staged[stage] = [log["peak_staged_gradient_bytes"] for log, _ in ranks]
        bucket_bytes[stage] = [log["largest_bucket_bytes"] for log, _ in ranks]
        log0 = ranks[0][0]
        name = f"world {args.world} stage {stage}"
        loss_diff = max(abs(a - b) for a, b in zip(log0["loss"], ref_log["loss"]))
        if len(log0["loss"]) != len(ref_log["loss"]) or loss_diff > tolerance:
            failures.append(f"{name}: losses differ by {loss_diff:.3g}")
        if any(log0["skipped"]):
            failures.append(f"{name}: a step was skipped")
        weight_diff = max(max_diff(adapter[k], ref_adapter[k]) for k in ref_adapter)
        if set(adapter) != set(ref_adapter) or weight_diff > tolerance:
            failures.append(f"{name}: final LoRA weights differ by {weight_diff:.3g}")
        if not args.full and any(np.all(ref_adapter[k] == 0) for k in ref_adapter if "lora_B" in k):
            failures.append(f"{name}: a LoRA B matrix never moved; the check would be vacuous")
        state_diff = 0.0
        for r, (log, state) in enumerate(ranks):
            begin, end = log["owned_begin"], min(log["owned_end"], numel)
            expected_size = log0["trainable_padded"] // args.world if stage > 0 else log0["trainable_padded"]
            if log["owned_end"] - log["owned_begin"] != expected_size:
                failures.append(f"{name}: rank {r} owns {log['owned_end'] - log['owned_begin']} elements, "
                                f"expected {expected_size}")
            for key in ("master", "exp_avg", "exp_avg_sq", "last_gradient"):
                mine = state[key][: max(0, end - begin)]
                theirs = ref_state[key][begin:end]
                scale = max(1.0, float(np.max(np.abs(ref_state[key]))))
                diff = max_diff(mine, theirs) / scale
                state_diff = max(state_diff, diff)
                if mine.shape != theirs.shape or diff > tolerance:
                    failures.append(f"{name}: rank {r} {key} differs from the reference slice by {diff:.3g}")
                padding = state[key][max(0, end - begin):]
                if key != "exp_avg_sq" and padding.size and np.any(padding != 0):
                    failures.append(f"{name}: rank {r} {key} has non-zero padding")
        # Communication: the paper's accounting in fp32 bytes, per rank and step.
        n = args.world
        ring = (n - 1) / n
        psi = 4 * numel
        frozen = 4 * log0.get("frozen_partitioned_numel", 0)
        # With A micro-batches per step, stages 2-3 reduce-scatter after each one (as DeepSpeed does) and
        # stage 3 gathers the frozen weights twice per micro-batch; A = 1 gives the paper's 2 psi / 3 psi.
        micro = -(-args.rows // n)
        if stage <= 1:
            expected = 2 * psi * ring
        elif stage == 2:
            expected = (micro + 1) * psi * ring
        else:  # stage 3 gathers trainable and frozen weights per layer, twice per micro-batch, no step gather
            expected = micro * psi * ring + 2 * micro * (psi + frozen) * ring
        for r, (log, _) in enumerate(ranks):
            sent = sum(log["bytes_per_step"].values())
            if n == 1:
                ok = sent == 0
            else:
                ok = abs(sent - expected) <= 0.05 * expected
            if not ok:
                failures.append(f"{name}: rank {r} sent {sent:.0f} bytes per step, expected {expected:.0f} +- 5%")
        state_bytes = [log["optimizer_state_bytes"] for log, _ in ranks]
        full_state = 3 * 4 * log0["trainable_padded"]
        if stage > 0 and any(b * n != full_state for b in state_bytes):
            failures.append(f"{name}: optimizer state per rank {state_bytes}, expected {full_state} / {n}")
        sent0 = sum(log0["bytes_per_step"].values())
        table.append((stage, n, sent0, expected, state_bytes[0], full_state,
                      log0.get("frozen_owned_bytes", 0), loss_diff, weight_diff, state_diff))
        print(f"{name}: losses within {loss_diff:.2g}, weights within {weight_diff:.2g}, states within "
              f"{state_diff:.2g}; {sent0:.0f} bytes/step sent by rank 0 (expected {expected:.0f}); optimizer state "
              f"{state_bytes[0]} of {full_state} bytes per rank")
    if args.full and 0 in peaks and 2 in peaks:
        gradient_bytes = 4 * numel
        for r, (zero0, zero2) in enumerate(zip(peaks[0], peaks[2])):
            if not zero2 < zero0:
                failures.append(f"full training: rank {r} peaked at {zero2} bytes under stage 2, not below stage 0's {zero0}")
            if staged[2][r] > 4 * bucket_bytes[2][r]:
                failures.append(f"full training: rank {r} staged {staged[2][r]} gradient bytes at once under stage 2, "
                                f"more than 4 buffers of {bucket_bytes[2][r]}")
        print(f"full training, peak CPU bytes per rank: stage 0 {peaks[0]}, stage 2 {peaks[2]}; stage 2 staged at most "
              f"{max(staged[2])} bytes ({max(staged[2]) // max(1, bucket_bytes[2][0])} buffers of the largest bucket) "
              f"for a gradient of {gradient_bytes}")
    if args.table:
        print("\n| stage | ranks | bytes sent / step / rank | ZeRO accounting | optimizer state / rank | of total | "
              "frozen weights / rank | max loss diff | max weight diff |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for stage, n, sent, expected, state, full, frozen, ld, wd, _ in table:
            print(f"| {stage} | {n} | {sent:.0f} | {expected:.0f} | {state} | {state / full:.2f} | "
                  f"{frozen if stage == 3 else '-'} | {ld:.1e} | {wd:.1e} |")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
