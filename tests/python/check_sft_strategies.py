#!/usr/bin/env python3
"""ms-swift's run-folder, strategy and best-model flags on `ztune sft`.

usage: check_sft_strategies.py ZTUNE MODEL_DIR DATASET WORK_DIR

1. --add_version false: the checkpoints are written into --output_dir itself (no vN-<time> folder).
2. --save_strategy epoch --eval_strategy epoch over 3 epochs: a checkpoint and an eval line at each epoch's
   last step (steps_per_epoch read back from the log), none between; --eval_strategy no: no eval lines.
3. --load_best_model_at_end --metric_for_best_model eval_token_acc (--save_total_limit 1) and eval_loss (2):
   trainer_state's best_metric is the best value logged (highest accuracy, lowest loss, the first of equals),
   its checkpoint and the newest survive the limit, and the run names it.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path


def run(ztune, arguments, out):
    shutil.rmtree(out, ignore_errors=True)
    command = [ztune, "sft", *arguments, "--output_dir", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def log_lines(run_dir):
    """logging.jsonl's lines, each with its step (ms-swift writes "global_step/max_steps": "3/12")."""
    lines = [json.loads(line) for line in (run_dir / "logging.jsonl").read_text().splitlines() if line.strip()]
    for line in lines:
        line["step"] = int(line["global_step/max_steps"].split("/")[0])
    return lines


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures = []
    base = ["--model", model, "--dataset", dataset + "#48", "--packing", "true", "--max_length", "256",
            "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "2", "--logging_steps", "1",
            "--lora_dropout", "0", "--split_dataset_ratio", "0.25", "--learning_rate", "5e-3"]

    # 1. A fixed run folder.
    fixed = work / "fixed"
    run(ztune, base + ["--max_steps", "2", "--save_steps", "2", "--add_version", "false"], fixed)
    if not (fixed / "checkpoint-2").is_dir() or list(fixed.glob("v*-*")):
        failures.append(f"--add_version false: expected {fixed}/checkpoint-2 and no vN folder, found "
                        f"{sorted(p.name for p in fixed.iterdir())}")

    # 2. Epoch strategies.
    epochs = work / "epochs"
    run(ztune, base + ["--num_train_epochs", "3", "--save_strategy", "epoch", "--eval_strategy", "epoch",
                       "--save_steps", "1", "--eval_steps", "1", "--add_version", "false"], epochs)
    lines = log_lines(epochs)
    train = [line for line in lines if "loss" in line and "eval_loss" not in line]
    evals = [line["step"] for line in lines if "eval_loss" in line]
    total = max(line["step"] for line in train)
    per_epoch = total // 3
    expected = [per_epoch, 2 * per_epoch, total]
    saved = sorted(int(p.name.split("-")[1]) for p in epochs.glob("checkpoint-*"))
    print(f"epochs: {total} steps, {per_epoch} per epoch; evals at {evals}; checkpoints {saved}")
    if total % 3 or saved != expected:
        failures.append(f"--save_strategy epoch: checkpoints {saved}, expected {expected}")
    if evals != expected:
        failures.append(f"--eval_strategy epoch: evals at {evals}, expected {expected}")
    no_eval = work / "no-eval"
    run(ztune, base + ["--max_steps", "4", "--eval_strategy", "no", "--eval_steps", "1", "--add_version", "false"], no_eval)
    if any("eval_loss" in line for line in log_lines(no_eval)):
        failures.append("--eval_strategy no: eval lines were logged")

    # 3. The best checkpoint by token accuracy (higher is better) and by loss (lower), kept beside the newest.
    for metric, limit in (("eval_token_acc", 1), ("eval_loss", 2)):
        best = work / f"best-{metric}"
        output = run(ztune, base + ["--learning_rate", "2e-2", "--max_steps", "8", "--save_steps", "1", "--eval_steps", "1",
                                    "--save_total_limit", str(limit), "--load_best_model_at_end", "true",
                                    "--metric_for_best_model", metric, "--add_version", "false"], best)
        values = {line["step"]: line[metric] for line in log_lines(best) if metric in line}
        sign = 1 if metric == "eval_token_acc" else -1
        best_step = max(values, key=lambda step: (sign * values[step], -step))  # the first of equals, as transformers
        state = json.loads((best / "checkpoint-8" / "trainer_state.json").read_text())
        kept = sorted(p.name for p in best.glob("checkpoint-*"))
        print(f"{metric}: by step {values}; kept {kept}; trainer_state best {state.get('best_metric')} at "
              f"{state.get('best_model_checkpoint')}")
        if abs(state.get("best_metric", -1) - values[best_step]) > 1e-9 or not str(
                state.get("best_model_checkpoint", "")).endswith(f"checkpoint-{best_step}"):
            failures.append(f"{metric}: best_metric {state.get('best_metric')} / {state.get('best_model_checkpoint')}, "
                            f"expected {values[best_step]} at checkpoint-{best_step}")
        if f"checkpoint-{best_step}" not in kept or "checkpoint-8" not in kept or len(kept) > max(limit, 2):
            failures.append(f"{metric}: save_total_limit {limit} keeping the best and the newest: found {kept}")
        if f"best checkpoint: {best / f'checkpoint-{best_step}'}" not in output:
            failures.append(f"{metric}: the run does not name its best checkpoint")
        if len(set(values.values())) < 2:
            failures.append(f"{metric} never changed ({values}): the best-model check would be vacuous")

    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
