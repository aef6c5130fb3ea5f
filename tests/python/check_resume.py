#!/usr/bin/env python3
"""Resume equals no interruption.

usage: check_resume.py ZTUNE MODEL_DIR DATASET WORK_DIR

1. For one process and for two ranks with zero2 (LoRA dropout on, so the random state matters): 20 steps
   in one go, versus resuming the first run's checkpoint-10 for steps 11-20. Every step's logged loss and
   the final adapters must be bitwise equal.
2. Another world size and stage: two ranks with zero2 (gradient accumulation 3) for 20 steps, versus the
   same run's checkpoint-10 resumed by three ranks with zero3 (accumulation 2, so a step still holds 6
   rows). The rows the old ranks had not used are dealt among the new ones (that each row of the epoch is
   used exactly once is the unit test Pipeline.RedealAcrossWorldSizesUsesEveryRowOnce), so which rows a
   step holds depends on the dealing; this part therefore trains on one conversation repeated (every step
   sees the same rows whatever the dealing) with dropout off, and checks the re-partitioned optimizer
   state, step and schedule: losses of steps 11-20 and the final adapters must agree within 1e-5.
3. The same packed, two ranks -> four (accumulation 2 -> 1): the ranks pack the rows they are dealt, so the epoch has
   as many steps as the new ranks' packing makes; no step may run without rows, and on the repeated conversation
   steps 11-20 and the final adapters agree within 1e-5.
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from sft_run import run_sft_command


def sft(ztune, out, ranks, arguments):
    run, stdout, stderr = run_sft_command(ztune, out, ranks, arguments)
    logs = {int(e["global_step/max_steps"].split("/")[0]): e["loss"]
            for e in map(json.loads, (run / "logging.jsonl").read_text().splitlines()) if "loss" in e}
    return run, logs, stdout + stderr


def adapter(run):
    return load_file(str(run / "checkpoint-20" / "adapter_model.safetensors"))


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    common = ["--model", model, "--max_steps", "20", "--learning_rate", "2e-3", "--max_length", "256",
              "--save_steps", "10", "--logging_steps", "1"]
    failures = []
    for name, ranks, extra in (("single", 1, []), ("zero2 x2", 2, ["--deepspeed", "zero2"])):
        tag = name.replace(" ", "-")
        arguments = common + ["--dataset", dataset, "--packing", "true", "--gradient_accumulation_steps", "2"] + extra
        full_run, full_logs, _ = sft(ztune, work / f"{tag}-full", ranks, arguments)
        resumed_run, resumed_logs, output = sft(ztune, work / f"{tag}-resumed", ranks,
                                                arguments + ["--resume_from_checkpoint", str(full_run / "checkpoint-10")])
        if "resumed from" not in output or min(resumed_logs) != 11:
            failures.append(f"{name}: the second run did not start at step 11 (logged {sorted(resumed_logs)})")
        differing = [s for s in range(11, 21) if resumed_logs.get(s) != full_logs.get(s)]
        if differing:
            failures.append(f"{name}: losses of steps {differing} differ after resume")
        a, b = adapter(full_run), adapter(resumed_run)
        if set(a) != set(b) or any(not np.array_equal(a[k], b[k]) for k in a):
            failures.append(f"{name}: the final adapters differ")
        print(f"{name}: steps 11-20 after resume bitwise equal to the uninterrupted run: {not differing}")

    # Two ranks with zero2 -> three ranks with zero3, on one conversation repeated.
    repeated = work / "repeated.jsonl"
    repeated.write_text((Path(dataset).read_text().splitlines()[0] + "\n") * 120)
    uniform = common + ["--dataset", str(repeated), "--lora_dropout", "0"]
    full_run, full_logs, _ = sft(ztune, work / "uniform-full", 2,
                                 uniform + ["--deepspeed", "zero2", "--gradient_accumulation_steps", "3"])
    resumed_run, resumed_logs, output = sft(ztune, work / "uniform-reshard", 3, uniform + [
        "--deepspeed", "zero3", "--gradient_accumulation_steps", "2",
        "--resume_from_checkpoint", str(full_run / "checkpoint-10")])
    if "re-partitioned" not in output or min(resumed_logs) != 11:
        failures.append("2 ranks zero2 -> 3 ranks zero3: the resume did not re-partition and continue at step 11")
    loss_diff = max(abs(resumed_logs.get(s, np.inf) - full_logs[s]) for s in range(11, 21))
    a, b = adapter(full_run), adapter(resumed_run)
    weight_diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    print(f"2 ranks zero2 -> 3 ranks zero3: losses of steps 11-20 within {loss_diff:.3g}, final adapters within "
          f"{weight_diff:.3g} of the uninterrupted 2-rank run (tolerance 1e-5)")
    if loss_diff > 1e-5 or weight_diff > 1e-5:
        failures.append(f"2 ranks zero2 -> 3 ranks zero3 differs: losses {loss_diff:.3g}, adapters {weight_diff:.3g}")
    if not full_logs[20] < full_logs[1]:
        failures.append("the uniform run's loss did not fall")

    # Packed, 2 ranks -> 4: each rank packs the rows it is dealt, so the epoch's packed rows (and steps) depend on
    # the world size; the resumed epoch lasts until the new ranks have used its rows, then the next one begins.
    packed = uniform + ["--packing", "true", "--deepspeed", "zero2", "--logging_steps", "1"]
    full_run, full_logs, _ = sft(ztune, work / "packed-full", 2, packed + ["--gradient_accumulation_steps", "2"])
    resumed_run, resumed_logs, output = sft(ztune, work / "packed-reshard", 4, packed + [
        "--gradient_accumulation_steps", "1", "--resume_from_checkpoint", str(full_run / "checkpoint-10")])
    empty = sorted(s for s, loss in resumed_logs.items() if loss == 0)
    loss_diff = max(abs(resumed_logs.get(s, np.inf) - full_logs[s]) for s in range(11, 21))
    a, b = adapter(full_run), adapter(resumed_run)
    weight_diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    print(f"packed, 2 ranks -> 4: losses of steps 11-20 within {loss_diff:.3g}, final adapters within {weight_diff:.3g} "
          f"(tolerance 1e-5); steps without a row: {empty or 'none'}")
    if empty or loss_diff > 1e-5 or weight_diff > 1e-5:
        failures.append(f"packed 2 ranks -> 4 differs: steps without rows {empty}, losses {loss_diff:.3g}, "
                        f"adapters {weight_diff:.3g}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
