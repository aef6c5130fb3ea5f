#!/usr/bin/env python3
"""`ztune sft --train_type full`: every weight trained, checkpoints hold the whole model.

usage: check_full.py ZTUNE MODEL_DIR DATASET WORK_DIR

One process and two ranks with zero2, 6 steps in fp32 with 10% held out. Required: checkpoint-6 holds
model.safetensors with every weight of the base (same names and shapes, changed values) beside config.json
and the tokenizer files, so transformers loads the folder as a model; the eval_loss ztune logged at step 6
equals the one transformers computes with the loaded checkpoint on val_dataset.jsonl within 1e-4; the loss
falls. ZeRO-3 with full training is refused with a message naming the combination.
"""
import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from sft_run import run_sft_command


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    from check_sft import swift_encode
    from transformers import AutoModelForCausalLM
    failures = []
    base = {}
    for shard in sorted(Path(model).glob("*.safetensors")):
        base.update(load_file(str(shard)))
    for name, ranks, extra in (("single", 1, []), ("zero2 x2", 2, ["--deepspeed", "zero2"])):
        run, _, _ = run_sft_command(ztune, work / name.replace(" ", "-"), ranks, [
            "--model", model, "--dataset", dataset, "--train_type", "full", "--max_steps", "6", "--learning_rate",
            "1e-3", "--max_length", "256", "--packing", "true", "--gradient_accumulation_steps", "2",
            "--torch_dtype", "float32", "--split_dataset_ratio", "0.1", "--save_steps", "6", "--logging_steps", "1"] + extra)
        ckpt = run / "checkpoint-6"
        present = {p.name for p in ckpt.iterdir()}
        for required in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "args.json",
                         "trainer_state.json", "zero_manifest.json"):
            if required not in present:
                failures.append(f"{name}: {ckpt} lacks {required}")
        if "adapter_model.safetensors" in present:
            failures.append(f"{name}: a full checkpoint holds an adapter file")
        saved = load_file(str(ckpt / "model.safetensors"))
        if set(saved) != set(base) or any(saved[k].shape != base[k].shape for k in base):
            failures.append(f"{name}: model.safetensors has other tensors than the base model")
        elif not all(not torch.equal(saved[k], base[k]) for k in base if "norm" not in k):
            failures.append(f"{name}: some weights did not change")
        entries = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
        losses = [e["loss"] for e in entries if "loss" in e]
        evals = [e for e in entries if "eval_loss" in e]
        if not losses[-1] < losses[0]:
            failures.append(f"{name}: loss did not fall {losses}")
        loaded = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32).eval()
        rows = swift_encode(model, run / "val_dataset.jsonl", 256)
        with torch.no_grad():
            per_row = [torch.nn.functional.cross_entropy(loaded(input_ids=torch.tensor([ids])).logits[0, :-1],
                                                         torch.tensor(labels[1:]), ignore_index=-100).item()
                       for ids, labels in rows]
        reference = sum(per_row) / len(per_row)
        if not evals or abs(evals[-1]["eval_loss"] - reference) > 1e-4:
            failures.append(f"{name}: eval_loss {evals[-1]['eval_loss'] if evals else None}, transformers {reference}")
        print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}; eval_loss {evals[-1]['eval_loss']:.6f}, "
              f"transformers on the saved checkpoint {reference:.6f}")
    refused = subprocess.run([ztune, "sft", "--model", model, "--dataset", dataset, "--train_type", "full",
                              "--deepspeed", "zero3", "--output_dir", str(work / "refused")], capture_output=True, text=True)
    if refused.returncode == 0 or "--train_type full with ZeRO-3" not in refused.stderr:
        failures.append(f"full + zero3 not refused clearly: {refused.stderr[-500:]}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
