#!/usr/bin/env python3
"""`ztune sft` end to end on the fixture model and the sample data.

usage: check_sft.py ZTUNE MODEL_DIR DATASET WORK_DIR

Runs one process (no ZeRO) and two ranks under mpirun with zero2 and with zero3, 12 steps each, and checks:
- the run folder: args.json, logging.jsonl with ms-swift's keys, checkpoint-6 and checkpoint-12 with
  adapter_model.safetensors, adapter_config.json, args.json, trainer_state.json, the ZeRO manifest and one
  shard per rank, and `latest` naming the last checkpoint;
- the logged loss falls from the first to the last logged step;
- the adapter loads into peft on top of the transformers model, its tensors are exactly the file's, and
  the LoRA B matrices moved away from zero;
- zero2 and zero3 on two ranks give the same losses and adapters (fp32).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from sft_run import run_sft

KEYS = ["loss", "grad_norm", "learning_rate", "token_acc", "epoch", "global_step/max_steps", "elapsed_time",
        "remaining_time", "memory(GiB)", "train_speed(s/it)", "tokens/s"]


def train(ztune, model, dataset, out, ranks, deepspeed):
    extra = ["--per_device_train_batch_size", "1", "--lora_dropout", "0"]
    if deepspeed:
        extra += ["--deepspeed", deepspeed]
    run, stdout, _ = run_sft(ztune, model, dataset, out, ranks, extra)
    return run, stdout


def check_run(name, run, ranks, stdout, model, failures):
    logs = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
    missing = [k for k in KEYS if k not in logs[0]]
    if missing:
        failures.append(f"{name}: logging.jsonl lacks {missing}")
    if [entry["global_step/max_steps"] for entry in logs] != ["1/12", "3/12", "6/12", "9/12", "12/12"]:
        failures.append(f"{name}: logged steps {[e['global_step/max_steps'] for e in logs]}")
    if not logs[-1]["loss"] < logs[0]["loss"] - 0.1:
        failures.append(f"{name}: loss did not fall ({logs[0]['loss']:.4f} -> {logs[-1]['loss']:.4f})")
    if "last checkpoint:" not in stdout or "step 12/12" not in stdout:
        failures.append(f"{name}: no progress line or final summary on stdout")
    if (run / "latest").read_text().strip() != "checkpoint-12":
        failures.append(f"{name}: latest is {(run / 'latest').read_text()!r}")
    args = json.loads((run / "args.json").read_text())
    if args.get("max_steps") != 12 or args.get("model") != model:
        failures.append(f"{name}: args.json does not hold the arguments")
    for step in (6, 12):
        ckpt = run / f"checkpoint-{step}"
        expected = {"adapter_model.safetensors", "adapter_config.json", "args.json", "trainer_state.json",
                    "zero_manifest.json"} | {f"zero_rank_{r:05d}.h5" for r in range(ranks)}
        present = {p.name for p in ckpt.iterdir()} if ckpt.is_dir() else set()
        if present != expected:
            failures.append(f"{name}: {ckpt} holds {sorted(present)}, expected {sorted(expected)}")
    adapter = load_file(str(run / "checkpoint-12" / "adapter_model.safetensors"))
    if not all(np.any(v != 0) for k, v in adapter.items() if "lora_B" in k):
        failures.append(f"{name}: a LoRA B matrix is still zero")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(run / "checkpoint-12"))
    state = {k.replace(".default", ""): v for k, v in peft_model.state_dict().items() if "lora_" in k}
    if set(state) != set(adapter):
        failures.append(f"{name}: peft sees {len(state)} LoRA tensors, the file has {len(adapter)}")
    elif any(not np.array_equal(state[k].numpy(), adapter[k]) for k in adapter):
        failures.append(f"{name}: peft loaded different values")
    return logs, adapter


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures, results = [], {}
    for name, ranks, deepspeed in (("single", 1, None), ("zero2 x2", 2, "zero2"), ("zero3 x2", 2, "zero3")):
        run, stdout = train(ztune, model, dataset, work / name.replace(" ", "-"), ranks, deepspeed)
        results[name] = check_run(name, run, ranks, stdout, model, failures)
        print(f"{name}: loss {results[name][0][0]['loss']:.4f} -> {results[name][0][-1]['loss']:.4f}")
    (logs2, adapter2), (logs3, adapter3) = results["zero2 x2"], results["zero3 x2"]
    loss_diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(logs2, logs3))
    weight_diff = max(float(np.max(np.abs(adapter2[k] - adapter3[k]))) for k in adapter2)
    if loss_diff > 1e-5 or weight_diff > 1e-5:
        failures.append(f"zero2 and zero3 differ: losses by {loss_diff:.3g}, adapters by {weight_diff:.3g}")
    print(f"zero2 vs zero3 on 2 ranks: losses within {loss_diff:.2g}, adapters within {weight_diff:.2g}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
