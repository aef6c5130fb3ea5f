#!/usr/bin/env python3
"""Resume equals no interruption.

usage: check_resume.py ZTUNE MODEL_DIR DATASET WORK_DIR

For one process and for two ranks with zero2 (LoRA dropout on, so the random state matters): 12 steps in
one go, versus resuming the first run's checkpoint-6 for steps 7-12. The logged losses of steps 9 and 12
and the final adapters must be bitwise equal. Then a checkpoint of two ranks with zero2 is resumed by three
ranks with zero3: the optimizer is re-partitioned from the manifest and the run finishes.
"""
import glob
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from sft_run import run_sft


def sft(ztune, model, dataset, out, ranks, extra):
    run, stdout, stderr = run_sft(ztune, model, dataset, out, ranks, extra)
    logs = {e["global_step/max_steps"]: e["loss"] for e in map(json.loads, (run / "logging.jsonl").read_text().splitlines())}
    return run, logs, stdout + stderr


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures = []
    for name, ranks, extra in (("single", 1, []), ("zero2 x2", 2, ["--deepspeed", "zero2"])):
        tag = name.replace(" ", "-")
        full_run, full_logs, _ = sft(ztune, model, dataset, work / f"{tag}-full", ranks, extra)
        resumed_run, resumed_logs, output = sft(ztune, model, dataset, work / f"{tag}-resumed", ranks,
                                                extra + ["--resume_from_checkpoint", str(full_run / "checkpoint-6")])
        if "resumed from" not in output or "6/12" in resumed_logs:
            failures.append(f"{name}: the second run did not start at step 7")
        for step in ("9/12", "12/12"):
            if resumed_logs.get(step) != full_logs.get(step):
                failures.append(f"{name}: step {step} loss {resumed_logs.get(step)!r} after resume, "
                                f"{full_logs.get(step)!r} without")
        a = load_file(str(full_run / "checkpoint-12" / "adapter_model.safetensors"))
        b = load_file(str(resumed_run / "checkpoint-12" / "adapter_model.safetensors"))
        if set(a) != set(b) or any(not np.array_equal(a[k], b[k]) for k in a):
            failures.append(f"{name}: the final adapters differ")
        print(f"{name}: steps 9 and 12 after resume {resumed_logs.get('9/12')!r} {resumed_logs.get('12/12')!r}; "
              f"uninterrupted {full_logs.get('9/12')!r} {full_logs.get('12/12')!r}")
    # Two ranks with zero2 -> three ranks with zero3.
    source = Path(glob.glob(str(work / "zero2-x2-full" / "v1-*"))[0]) / "checkpoint-6"
    _, logs, output = sft(ztune, model, dataset, work / "reshard", 3,
                          ["--deepspeed", "zero3", "--resume_from_checkpoint", str(source)])
    if "re-partitioned" not in output or not np.isfinite(logs.get("12/12", np.nan)):
        failures.append("2 ranks zero2 -> 3 ranks zero3: resume did not re-partition and finish")
    else:
        print(f"2 ranks zero2 -> 3 ranks zero3: resumed and finished, loss at step 12 {logs['12/12']:.4f}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
