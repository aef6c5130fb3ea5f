#!/usr/bin/env python3
"""Loss-curve parity: `ztune sft` against a Python training loop (transformers + peft + torch AdamW +
transformers' cosine schedule) on the same data in the same order, fp32, no dropout, for 30 steps.

usage: check_loss_parity.py ZTUNE MODEL_DIR DATASET WORK_DIR

Both start from one LoRA adapter that peft initialises with random A and B (init_lora_weights=False, so
every matrix gets gradients from the first step); ztune takes it with --adapters. The data are ms-swift's
encodings of the dataset rows in file order (--dataset_shuffle false), two rows per step (batch 1 x
gradient accumulation 2), rows over 256 tokens dropped. The Python loop follows ms-swift/transformers:
loss summed over label tokens and divided by the step's label tokens, gradient norm clipped to 1.0 (the
logged norm is the one before clipping), AdamW betas (0.9, 0.95), eps 1e-8, weight decay 0.1, cosine
schedule with 3 warm-up steps (warmup_ratio 0.1).

Required: every step's loss within 2e-5 of Python's, every gradient norm within 1e-3 relative, and the
final adapter within 1e-5 of Python's final LoRA weights (measured: 2e-6, 1.6e-4, 6e-7).
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
STEPS, ACCUMULATION, LR, MAX_LENGTH = 30, 2, 1e-3, 256
LOSS_TOL, NORM_TOL, WEIGHT_TOL = 2e-5, 1e-3, 1e-5


def make_initial_adapter(model_dir, out):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(7)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, config)
    model.save_pretrained(out)
    return model


def python_reference(model, rows):
    from transformers import get_cosine_schedule_with_warmup
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(0.1 * STEPS), STEPS)
    losses, norms = [], []
    model.train()
    for step in range(STEPS):
        batch = [rows[(step * ACCUMULATION + i) % len(rows)] for i in range(ACCUMULATION)]
        tokens = sum(sum(1 for label in labels[1:] if label != -100) for _, labels in batch)
        total = 0.0
        for ids, labels in batch:
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels[1:]), ignore_index=-100,
                                                     reduction="sum")
            (loss / tokens).backward()
            total += loss.item()
        norms.append(torch.nn.utils.clip_grad_norm_(params, 1.0).item())
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(total / tokens)
    weights = {n.replace(".default", ""): p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return losses, norms, weights


def main():
    ztune, model_dir, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    from check_sft import swift_encode
    work.mkdir(parents=True, exist_ok=True)
    rows = swift_encode(model_dir, dataset, MAX_LENGTH)
    if len(rows) < STEPS * ACCUMULATION:
        sys.exit(f"FAIL: the dataset has {len(rows)} usable rows, the test needs {STEPS * ACCUMULATION} (one epoch)")
    model = make_initial_adapter(model_dir, work / "initial")

    from sft_run import run_sft_command
    run, _, _ = run_sft_command(ztune, work / "ztune", 1, [
        "--model", model_dir, "--dataset", dataset, "--adapters", str(work / "initial"), "--dataset_shuffle", "false",
        "--max_steps", str(STEPS), "--per_device_train_batch_size", "1", "--gradient_accumulation_steps",
        str(ACCUMULATION), "--learning_rate", str(LR), "--warmup_ratio", "0.1", "--max_length", str(MAX_LENGTH),
        "--torch_dtype", "float32", "--logging_steps", "1", "--save_steps", str(STEPS), "--report_to", "none"])
    logs = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
    ours = [e["loss"] for e in logs if "loss" in e]
    our_norms = [e["grad_norm"] for e in logs if "loss" in e]
    theirs, their_norms, their_weights = python_reference(model, rows)

    failures = []
    if len(ours) != STEPS:
        failures.append(f"ztune logged {len(ours)} steps, expected {STEPS}")
    loss_diff = max(abs(a - b) for a, b in zip(ours, theirs))
    norm_diff = max(abs(a - b) / max(1e-12, b) for a, b in zip(our_norms, their_norms))
    adapter = load_file(str(run / f"checkpoint-{STEPS}" / "adapter_model.safetensors"))
    if set(adapter) != set(their_weights):
        failures.append(f"adapter tensors differ: {sorted(set(adapter) ^ set(their_weights))[:4]}")
        weight_diff = float("inf")
    else:
        weight_diff = max((adapter[k] - their_weights[k]).abs().max().item() for k in adapter)
    for step, (a, b) in enumerate(zip(ours, theirs), 1):
        if step in (1, 2, 10, 20, 30):
            print(f"step {step:2d}: ztune {a:.6f}  python {b:.6f}")
    print(f"max |loss difference| {loss_diff:.3g} (tolerance {LOSS_TOL}), max relative grad-norm difference "
          f"{norm_diff:.3g} ({NORM_TOL}), max |final weight difference| {weight_diff:.3g} ({WEIGHT_TOL})")
    if loss_diff > LOSS_TOL:
        failures.append(f"losses differ by up to {loss_diff:.3g}")
    if norm_diff > NORM_TOL:
        failures.append(f"gradient norms differ by up to {norm_diff:.3g} relative")
    if weight_diff > WEIGHT_TOL:
        failures.append(f"final adapters differ by up to {weight_diff:.3g}")
    if not ours[-1] < ours[0]:
        failures.append("the loss did not fall")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
