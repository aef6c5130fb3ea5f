#!/usr/bin/env python3
"""ms-swift's tools open ztune's checkpoints as their own, and ztune opens ms-swift's (issue 18).

usage: check_swift_interchange.py ZTUNE MODEL DATASET WORK_DIR

With the ms-swift of requirements.txt (its `swift` command in this Python's bin folder), on CPU:
1. `ztune sft` trains a LoRA adapter on the fixture. Its args.json (run folder and checkpoint) holds every key
   ms-swift's own args.json holds for the same model (the key set read from ms-swift's SftArguments here),
   with swift_version, tuner_type, model_type and template as ms-swift would write them; trainer_state.json
   holds the keys of transformers' TrainerState; `last-checkpoint` links to the newest checkpoint.
2. `swift infer --adapters CKPT --infer_backend pt` and `swift export --adapters CKPT --merge_lora true`, with no
   other flag about the model, run on that checkpoint: swift's greedy replies equal `ztune infer`'s and its
   merged weights equal `ztune export --merge_lora true`'s (fp32, 1e-6); `swift sft --resume_from_checkpoint
   CKPT --resume_only_model true` continues from it at the next step.
3. The other way: `swift sft` trains an adapter on the fixture; `ztune infer` and `ztune export` on its
   checkpoint give the replies and merged weights `swift infer` and `swift export` give.
"""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

MAX_NEW = 24
WEIGHT_TOLERANCE = 1e-6
PROMPTS = ["Give me three tips for staying healthy.", "What is the capital of France?", "Write a haiku about rain."]


def run(command, timeout=900, env=None):
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    if done.returncode != 0:
        sys.exit(f"FAIL: {' '.join(map(str, command))} exited {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


def swift_command():
    swift = Path(sys.executable).parent / "swift"
    if not swift.exists():
        sys.exit(f"FAIL: ms-swift's `swift` command is not next to {sys.executable} (it is in requirements.txt)")
    return swift


def swift_args_keys(model, dataset):
    """The keys ms-swift writes to args.json for an sft run on `model`."""
    from swift.arguments import SftArguments
    with tempfile.TemporaryDirectory() as work:
        args = SftArguments(model=str(model), dataset=[str(dataset)], output_dir=work, model_type="qwen2",
                            template="qwen2_5", report_to=["none"])
        return set(args.__dict__), args


def replies(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return [row["response"] for row in rows]


def merged_weights(folder):
    weights = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        weights.update(load_file(str(f)))
    return weights


def compare_weights(a, b, what, failures):
    if set(a) != set(b):
        failures.append(f"{what}: tensor names differ: {sorted(set(a) ^ set(b))[:6]}")
        return
    worst = max(float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in a)
    if worst > WEIGHT_TOLERANCE:
        failures.append(f"{what}: merged weights differ by {worst:.3g}")
    return worst


def check_not_vacuous(replies, merged, model, what, failures):
    """Equal replies and weights mean something only if the adapter changed the model and the replies differ
    from prompt to prompt (a model that answers every prompt alike would hide a template mismatch)."""
    if len(set(replies)) < 2 or not all(replies):
        failures.append(f"{what}: the greedy replies are empty or all alike ({replies[:1]}); the comparison proves nothing")
    base = merged_weights(model)
    moved = max(float(np.max(np.abs(merged[k].astype(np.float64) - base[k].astype(np.float64)))) for k in base if k in merged)
    if moved <= 0:
        failures.append(f"{what}: the merged weights equal the base model's; the adapter did nothing")


def infer_both(ztune, swift, checkpoint, prompts, work, label):
    ours = work / f"{label}-ztune.jsonl"
    theirs = work / f"{label}-swift.jsonl"
    run([ztune, "infer", "--adapters", checkpoint, "--val_dataset", prompts, "--temperature", "0",
         "--max_new_tokens", MAX_NEW, "--result_path", ours])
    run([swift, "infer", "--adapters", checkpoint, "--infer_backend", "pt", "--val_dataset", prompts,
         "--temperature", "0", "--max_new_tokens", MAX_NEW, "--result_path", theirs])
    return replies(ours), replies(theirs)


def export_both(ztune, swift, checkpoint, work, label):
    ours, theirs = work / f"{label}-merged-ztune", work / f"{label}-merged-swift"
    shutil.rmtree(ours, ignore_errors=True)
    shutil.rmtree(theirs, ignore_errors=True)
    run([ztune, "export", "--adapters", checkpoint, "--merge_lora", "true", "--output_dir", ours])
    run([swift, "export", "--adapters", checkpoint, "--merge_lora", "true", "--output_dir", theirs])
    return merged_weights(ours), merged_weights(theirs)


def both_tools_agree(ztune, swift, model, checkpoint, prompts, work, what, failures):
    """ztune infer/export and swift infer/export on one checkpoint: equal greedy replies and merged weights."""
    label = "ztune-ckpt" if what.startswith("ztune") else "swift-ckpt"
    ours, theirs = infer_both(ztune, swift, checkpoint, prompts, work, label)
    if ours != theirs:
        failures.append(f"{what}: swift infer replies {theirs}, ztune infer {ours}")
    a, b = export_both(ztune, swift, checkpoint, work, label)
    worst = compare_weights(a, b, f"{what}: merged by ztune export and swift export", failures)
    check_not_vacuous(ours, a, model, what, failures)
    print(f"{what}: {len(ours)} greedy replies equal in ztune and swift infer; merged weights within {worst}", flush=True)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = Path(sys.argv[1]), Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve(), Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    swift = swift_command()
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"messages": [{"role": "user", "content": p}]}) + "\n" for p in PROMPTS))
    failures = []

    # 1. ztune's run folder as ms-swift writes one
    out = work / "ztune-run"
    run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", "4", "--save_steps", "2",
         "--learning_rate", "1e-4", "--max_length", "256", "--packing", "true", "--output_dir", out,
         "--report_to", "none"])
    run_dir = next(out.glob("v1-*"))
    checkpoint = run_dir / "checkpoint-4"
    keys, reference = swift_args_keys(model, dataset)
    import swift as swift_module
    for where in (run_dir / "args.json", checkpoint / "args.json"):
        args = json.loads(where.read_text())
        missing = keys - set(args)
        if missing:
            failures.append(f"{where}: lacks {len(missing)} of ms-swift's {len(keys)} keys: {sorted(missing)[:8]}")
        expected = {"swift_version": swift_module.__version__, "tuner_type": "lora", "model_type": reference.model_type,
                    "template": reference.template, "lora_rank": 8, "max_steps": 4}
        for key, value in expected.items():
            if args.get(key) != value:
                failures.append(f"{where}: {key} is {args.get(key)!r}, ms-swift writes {value!r}")
    from transformers import TrainerState
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    missing = {f.name for f in dataclasses.fields(TrainerState)} - set(state)
    if missing:
        failures.append(f"trainer_state.json lacks {sorted(missing)}")
    link = run_dir / "last-checkpoint"
    if not link.is_symlink() or os.readlink(link) != "checkpoint-4":
        failures.append("last-checkpoint does not link to checkpoint-4")

    # 2. ms-swift's tools on ztune's checkpoint
    both_tools_agree(ztune, swift, model, checkpoint, prompts, work, "ztune's checkpoint", failures)

    # swift sft continues from ztune's checkpoint (its weights; transformers reads trainer_state.json, which must
    # hold TrainerState's keys and no other)
    resumed = work / "swift-resumed"
    run([swift, "sft", "--model", model, "--model_type", "qwen2", "--template", "qwen2_5", "--dataset", dataset,
         "--max_steps", "6", "--save_steps", "6", "--resume_from_checkpoint", checkpoint, "--resume_only_model", "true",
         "--output_dir", resumed, "--report_to", "none", "--torch_dtype", "float32", "--dataloader_num_workers", "0",
         "--split_dataset_ratio", "0"], timeout=1200)
    log = [json.loads(line) for line in next(resumed.glob("v*/logging.jsonl")).read_text().splitlines()]
    steps = [int(e["global_step/max_steps"].split("/")[0]) for e in log if "loss" in e]
    if not steps or steps[0] != 5:
        failures.append(f"swift sft --resume_from_checkpoint on ztune's checkpoint logged steps {steps}, expected 5 first")
    print(f"swift sft resumed from ztune's checkpoint-4: steps {steps}", flush=True)

    # 3. ztune's tools on ms-swift's checkpoint
    swift_out = work / "swift-run"
    run([swift, "sft", "--model", model, "--model_type", "qwen2", "--template", "qwen2_5", "--dataset", dataset,
         "--max_steps", "4", "--save_steps", "4", "--learning_rate", "1e-4", "--max_length", "256",
         "--output_dir", swift_out, "--report_to", "none", "--torch_dtype", "float32",
         "--dataloader_num_workers", "0", "--split_dataset_ratio", "0"], timeout=1200)
    swift_checkpoint = sorted(swift_out.glob("v*/checkpoint-4"))[-1]
    both_tools_agree(ztune, swift, model, swift_checkpoint, prompts, work, "ms-swift's checkpoint", failures)

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("OK: ztune's checkpoints open in swift infer/export and ms-swift's in ztune infer/export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
