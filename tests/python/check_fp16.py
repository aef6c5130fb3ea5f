#!/usr/bin/env python3
"""fp16 training with dynamic loss scaling: the first step is not skipped.

usage: check_fp16.py ZTUNE MODEL_DIR DATASET WORK_DIR [--steps 6]

DeepSpeed's fp16 scaler starts at 2^16. Applied to the summed loss, or cast to fp16 on its way into the
backward pass (65536 > fp16's largest 65504), it turns step 1's gradients infinite and the step is skipped.
ztune runs backward on the micro-batch's mean loss times the scale, multiplying in fp32. Checks, over
--steps steps (6) with one log line per step: every grad_norm and loss is finite (a skipped step logs an infinite
norm), the step-1 loss equals an fp32 run's within 2e-2 (fp16 rounding), and the saved adapter is finite
and moved.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from sft_run import run_sft_command


def main():
    if len(sys.argv) not in (5, 7) or (len(sys.argv) == 7 and sys.argv[5] != "--steps"):
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    steps = int(sys.argv[6]) if len(sys.argv) == 7 else 6
    common = ["--model", model, "--dataset", dataset, "--max_steps", str(steps), "--packing", "true", "--max_length", "256",
              "--logging_steps", "1", "--save_steps", str(steps), "--learning_rate", "1e-3", "--lora_dropout", "0"]
    failures = []
    logs = {}
    for name, extra in (("fp16", ["--fp16", "true"]), ("fp32", ["--torch_dtype", "float32"])):
        run, _, _ = run_sft_command(ztune, work / name, 1, common + extra)
        logs[name] = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
        if name == "fp16":
            adapter = load_file(str(run / f"checkpoint-{steps}" / "adapter_model.safetensors"))
    logged = [e for e in logs["fp16"] if "loss" in e]
    if len(logged) != steps:
        failures.append(f"fp16: {len(logged)} log lines, expected {steps}")
    for e in logged:
        if not (math.isfinite(e["grad_norm"]) and math.isfinite(e["loss"])):
            failures.append(f"fp16: step {e['global_step/max_steps']} has grad_norm {e['grad_norm']}, loss {e['loss']} "
                            "(a skipped step)")
    first16 = logged[0]["loss"]
    first32 = [e for e in logs["fp32"] if "loss" in e][0]["loss"]
    if abs(first16 - first32) > 2e-2:
        failures.append(f"fp16 step-1 loss {first16:.5f} vs fp32 {first32:.5f}")
    if not all(np.all(np.isfinite(v)) for v in adapter.values()):
        failures.append("fp16: the adapter has non-finite values")
    if not all(np.any(v != 0) for k, v in adapter.items() if "lora_B" in k):
        failures.append("fp16: a LoRA B matrix never moved")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"ok: fp16 steps 1-{steps} finite (grad_norm at step 1 {logged[0]['grad_norm']:.4f}); step-1 loss {first16:.5f} "
          f"vs fp32 {first32:.5f}")


if __name__ == "__main__":
    main()
