#!/usr/bin/env python3
"""Two `ztune sft` runs of the same command must have trained the same: the loss at every logged step and the
final checkpoint's LoRA weights within a tolerance (a run in a container against one on the host, ranks
across containers against one process).

usage: compare_sft_runs.py NAME RUN_DIR REFERENCE_RUN_DIR [--tolerance 1e-5]
Prints one "ok: ..." line, or FAIL lines and exits 1."""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


def losses(run):
    steps = {}
    for line in (run / "logging.jsonl").read_text().splitlines():
        entry = json.loads(line) if line.strip() else {}
        if "loss" in entry and "global_step/max_steps" in entry:
            steps[int(entry["global_step/max_steps"].split("/")[0])] = entry["loss"]
    return steps


def final_adapter(run):
    checkpoints = sorted(run.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    if not checkpoints:
        sys.exit(f"FAIL: no checkpoint in {run}")
    return checkpoints[-1].name, load_file(str(checkpoints[-1] / "adapter_model.safetensors"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()
    failures = []
    got, want = losses(args.run), losses(args.reference)
    if not want or sorted(got) != sorted(want):
        failures.append(f"logged steps differ: {sorted(got)} vs {sorted(want)}")
    loss_diff = max((abs(got[s] - want[s]) for s in want if s in got), default=float("inf"))
    if loss_diff > args.tolerance:
        failures.append(f"losses differ by {loss_diff:.3g}: {got} vs {want}")
    name, adapter = final_adapter(args.run)
    reference_name, reference = final_adapter(args.reference)
    if name != reference_name or sorted(adapter) != sorted(reference):
        failures.append(f"final checkpoints differ: {name} ({len(adapter)} tensors) vs {reference_name} ({len(reference)})")
    weight_diff = max((float(np.max(np.abs(adapter[k].astype(np.float64) - reference[k].astype(np.float64))))
                       for k in reference if k in adapter), default=float("inf"))
    if weight_diff > args.tolerance:
        failures.append(f"LoRA weights differ by up to {weight_diff:.3g}")
    if failures:
        for failure in failures:
            print(f"FAIL: {args.name}: {failure}")
        sys.exit(1)
    print(f"ok: {args.name}: {len(want)} logged losses within {loss_diff:.2g}, {len(reference)} LoRA tensors of "
          f"{name} within {weight_diff:.2g} (tolerance {args.tolerance:g})")


if __name__ == "__main__":
    main()
