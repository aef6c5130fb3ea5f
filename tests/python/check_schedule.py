#!/usr/bin/env python3
"""ztune's learning-rate schedules equal transformers.get_scheduler step by step.

usage: check_schedule.py TOOL
The reference is the rate torch's optimizer uses at each step under the scheduler transformers builds
(what the Trainer, and so ms-swift, runs): optimizer.step() then scheduler.step().
"""
import subprocess
import sys

import torch
from transformers import get_scheduler

CASES = [  # type, lr, total, warmup_steps, warmup_ratio
    ("cosine", 1e-4, 100, 0, 0.0),
    ("cosine", 2e-4, 37, 0, 0.1),
    ("cosine", 1e-4, 50, 7, 0.5),  # warmup_steps wins over the ratio
    ("linear", 5e-5, 40, 3, 0.0),
    ("constant", 1e-4, 10, 0, 0.0),
    ("constant_with_warmup", 1e-4, 20, 5, 0.0),
    ("cosine", 1e-4, 1, 0, 0.05),
]


def reference(kind, lr, total, warmup_steps, warmup_ratio):
    warmup = warmup_steps if warmup_steps > 0 else int(__import__("math").ceil(total * warmup_ratio))
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=lr)
    scheduler = get_scheduler(kind, optimizer, num_warmup_steps=warmup, num_training_steps=total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def main():
    tool = sys.argv[1]
    failures = []
    for case in CASES:
        out = subprocess.run([tool, *map(str, case)], check=True, capture_output=True, text=True).stdout.split()
        ours = [float(x) for x in out]
        theirs = reference(*case)
        worst = max((abs(a - b) / max(abs(b), 1e-30) if b else abs(a) for a, b in zip(ours, theirs)), default=0.0)
        if len(ours) != len(theirs) or worst > 1e-12:
            failures.append(f"{case}: {len(ours)} vs {len(theirs)} rates, worst relative difference {worst:.3g}")
        else:
            print(f"{case}: {len(ours)} steps equal (worst {worst:.1g})")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
