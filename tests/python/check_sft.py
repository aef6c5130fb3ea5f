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
- zero2 and zero3 on two ranks give the same losses and adapters (fp32);
- evaluation (10% held out, every 6 steps): val_dataset.jsonl holds 30 rows of the dataset, logging.jsonl
  has eval_loss/eval_token_acc at steps 6 and 12, and the eval_loss at step 12 equals the one computed in
  Python (ms-swift's encoding of val_dataset.jsonl, transformers + the saved adapter in peft, mean over
  rows of each row's per-token loss) within 1e-4; trainer_state.json names the best checkpoint;
- TensorBoard's own event reader reads runs/ and finds the logged losses and learning rates;
- images/train_loss.svg is a well-formed SVG with the curve.
"""
import json
import os
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from sft_run import run_sft

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KEYS = ["loss", "grad_norm", "learning_rate", "token_acc", "epoch", "global_step/max_steps", "elapsed_time",
        "remaining_time", "memory(GiB)", "train_speed(s/it)", "tokens/s"]


def train(ztune, model, dataset, out, ranks, deepspeed):
    extra = ["--per_device_train_batch_size", "1", "--lora_dropout", "0", "--split_dataset_ratio", "0.1",
             "--eval_steps", "6"]
    if deepspeed:
        extra += ["--deepspeed", deepspeed]
    run, stdout, _ = run_sft(ztune, model, dataset, out, ranks, extra)
    return run, stdout


def check_run(name, run, ranks, stdout, model, failures):
    entries = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
    logs = [e for e in entries if "loss" in e]
    evals = [e for e in entries if "eval_loss" in e]
    check_eval(name, run, evals, model, failures)
    check_tensorboard(name, run, logs, failures)
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
    # ms-swift's and transformers' convenience: a relative link to the newest checkpoint
    link = run / "last-checkpoint"
    if not link.is_symlink() or os.readlink(link) != "checkpoint-12":
        failures.append(f"{name}: last-checkpoint is not a relative link to checkpoint-12")
    state = json.loads((run / "checkpoint-12" / "trainer_state.json").read_text())
    missing = trainer_state_keys() - set(state)
    if missing:
        failures.append(f"{name}: trainer_state.json lacks transformers' keys {sorted(missing)}")
    if state.get("global_step") != 12 or any("step" not in e for e in state.get("log_history", [])):
        failures.append(f"{name}: trainer_state.json: global_step {state.get('global_step')}, log_history entries need step")
    logged = [e for e in state.get("log_history", []) if "loss" in e]
    if [e["step"] for e in logged] != [int(e["global_step/max_steps"].split("/")[0]) for e in logged]:
        failures.append(f"{name}: log_history steps do not match global_step/max_steps")
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


def swift_encode(model, path, max_length):
    """ms-swift's encoding of a jsonl file (rows over max_length dropped, as --truncation_strategy delete)."""
    from encoding_parity import swift_reference
    rows = swift_reference(model, "qwen2", "qwen2_5", "default", str(path), 100000)
    return [(ids, labels) for ids, labels in rows if len(ids) <= max_length]


def peft_eval_loss(model, adapter, rows):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(adapter)).eval()
    losses = []
    with torch.no_grad():
        for ids, labels in rows:
            logits = peft_model(input_ids=torch.tensor([ids])).logits[0, :-1]
            target = torch.tensor(labels[1:])
            losses.append(torch.nn.functional.cross_entropy(logits, target, ignore_index=-100).item())
    return sum(losses) / len(losses)


def check_eval(name, run, evals, model, failures):
    dataset_lines = set(Path(sys.argv[3]).read_text().splitlines())
    val_lines = (run / "val_dataset.jsonl").read_text().splitlines()
    if len(val_lines) != 30 or not all(line in dataset_lines for line in val_lines):
        failures.append(f"{name}: val_dataset.jsonl has {len(val_lines)} rows (expected 30 rows of the dataset)")
    if [e["global_step/max_steps"] for e in evals] != ["6/12", "12/12"]:
        failures.append(f"{name}: eval entries at {[e['global_step/max_steps'] for e in evals]}, expected 6 and 12")
        return
    if not all(0 <= e["eval_token_acc"] <= 1 for e in evals):
        failures.append(f"{name}: eval_token_acc out of range")
    reference = peft_eval_loss(model, run / "checkpoint-12", swift_encode(model, run / "val_dataset.jsonl", 256))
    if abs(reference - evals[-1]["eval_loss"]) > 1e-4:
        failures.append(f"{name}: eval_loss {evals[-1]['eval_loss']:.6f}, Python computes {reference:.6f}")
    print(f"{name}: eval_loss at step 12 {evals[-1]['eval_loss']:.6f}, peft {reference:.6f}")
    state = json.loads((run / "checkpoint-12" / "trainer_state.json").read_text())
    best = min(evals, key=lambda e: e["eval_loss"])["global_step/max_steps"].split("/")[0]
    if not str(state.get("best_model_checkpoint", "")).endswith(f"checkpoint-{best}"):
        failures.append(f"{name}: best_model_checkpoint {state.get('best_model_checkpoint')}, expected checkpoint-{best}")


def trainer_state_keys():
    """The keys transformers' TrainerState writes (ms-swift's trainer_state.json is the same)."""
    import dataclasses
    from transformers import TrainerState
    return {f.name for f in dataclasses.fields(TrainerState)}


def check_tensorboard(name, run, logs, failures):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "runs"))
    events.Reload()
    for tag, key in (("train/loss", "loss"), ("train/learning_rate", "learning_rate"), ("train/grad_norm", "grad_norm")):
        if tag not in events.Tags()["scalars"]:
            failures.append(f"{name}: TensorBoard has no {tag} (tags {events.Tags()['scalars']})")
            continue
        scalars = [(s.step, s.value) for s in events.Scalars(tag)]
        expected = [(int(e["global_step/max_steps"].split("/")[0]), e[key]) for e in logs]
        if [s for s, _ in scalars] != [s for s, _ in expected] or any(
                abs(a - b) > 1e-6 * max(1.0, abs(b)) for (_, a), (_, b) in zip(scalars, expected)):
            failures.append(f"{name}: TensorBoard {tag} {scalars} differs from logging.jsonl {expected}")
    if "eval/loss" not in events.Tags()["scalars"]:
        failures.append(f"{name}: TensorBoard has no eval/loss")
    try:
        svg = ElementTree.parse(run / "images" / "train_loss.svg").getroot()
        points = [p.get("points").split() for p in svg.iter("{http://www.w3.org/2000/svg}polyline")]
        if not points or len(points[0]) != len(logs):
            failures.append(f"{name}: images/train_loss.svg does not hold the {len(logs)} logged losses")
    except (OSError, ElementTree.ParseError) as error:
        failures.append(f"{name}: images/train_loss.svg: {error}")


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
    # A whole epoch on two ranks: the closing data summary counts every training row once, over all ranks.
    _, stdout, _ = run_sft(ztune, model, dataset, work / "epoch-x2", 2,
                           ["--max_steps", "-1", "--num_train_epochs", "1", "--split_dataset_ratio", "0.1",
                            "--deepspeed", "zero2", "--report_to", "none"])
    import re
    found = re.search(r"data \(epoch 0, all 2 ranks\): rows read (\d+), used (\d+), skipped (\d+)", stdout)
    if not found or int(found[1]) != 270 or int(found[2]) + int(found[3]) != 270:
        failures.append(f"the closing data summary is not the whole epoch over both ranks: {found[0] if found else stdout[-500:]}")
    else:
        print(f"one epoch on 2 ranks: {found[0]}")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
