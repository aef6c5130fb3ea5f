#!/usr/bin/env python3
"""Whole runs of `ztune sft` against `swift sft` (ms-swift, the version in requirements.txt) on the same
command line, side by side on this machine's CPU: one process, and two ranks (ztune under mpirun, ms-swift's
DDP under torchrun, NPROC_PER_NODE=2); `--deepspeed zero2` on two ranks too when DeepSpeed is importable.

usage: bench/bench_swift_sft.py [--build build] [--steps 10] [--length 1024] [--threads 2]

Model: the random Qwen2-shaped model of bench_model.py (hidden 512, 8 layers, vocab 32000, fp32) with the
fixture tokenizer. Data: data/sample/sharegpt_seed.jsonl joined into multi-turn conversations of about the
same length (so that both sides see steps of nearly equal work whatever order their samplers pick), at most
--length tokens. Both sides get exactly the flags printed (LoRA r 8 on all linear layers, gradient
checkpointing, batch 1 x accumulation 2, no evaluation, no checkpoint until the end). Measured: the wall time
of the whole command (start-up, data, training, the final save) and the seconds per step both report in their
last log line (train_speed(s/it): time since the first step over the steps taken).
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_model import write_model  # noqa: E402


def long_conversations(source, out, turns=6):
    """Joins consecutive sample rows into conversations of `turns` exchanges each."""
    rows = [json.loads(line) for line in Path(source).read_text().splitlines() if line.strip()]
    with open(out, "w") as f:
        for start in range(0, len(rows) - turns + 1, turns):
            conversation = []
            for row in rows[start:start + turns]:
                conversation += row["conversation"]
            f.write(json.dumps({"conversation": conversation}, ensure_ascii=False) + "\n")


def run(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        text = (done.stderr or "") + (done.stdout or "")
        errors = [line for line in text.splitlines() if "Error" in line and "Warning" not in line]
        return None, f"exit {done.returncode}: {errors[0] if errors else text[-300:]}"
    return wall, None


def seconds_per_step(out):
    logs = sorted(Path(out).glob("v*/logging.jsonl"))
    entries = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    entries = [e for e in entries if "loss" in e and "train_speed(s/it)" in e]
    return entries[-1]["train_speed(s/it)"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ztune = Path(args.build) / "ztune"
    swift = Path(sys.executable).parent / "swift"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        write_model(model)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(ROOT / "tests" / "fixtures" / "out" / "qwen2" / name, model / name)
        data = tmp / "long.jsonl"
        long_conversations(ROOT / "data" / "sample" / "sharegpt_seed.jsonl", data)
        common = ["--model", str(model), "--model_type", "qwen2", "--template", "qwen2_5", "--dataset", str(data),
                  "--torch_dtype", "float32", "--max_length", str(args.length), "--truncation_strategy", "right",
                  "--max_steps", str(args.steps), "--per_device_train_batch_size", "1",
                  "--gradient_accumulation_steps", "2", "--learning_rate", "1e-4", "--lora_rank", "8",
                  "--lora_alpha", "32", "--target_modules", "all-linear", "--gradient_checkpointing", "true",
                  "--logging_steps", "1", "--save_steps", "100000", "--split_dataset_ratio", "0",
                  "--dataloader_num_workers", "0", "--report_to", "none"]
        setups = [("1 process", 1, [])]
        setups.append(("2 ranks, DDP", 2, []))
        deepspeed = importlib.util.find_spec("deepspeed") is not None
        setups.append(("2 ranks, ZeRO-2", 2, ["--deepspeed", "zero2"]))
        print(f"command line (both sides, after `ztune sft` / `swift sft`): {' '.join(common)}\n")
        print("| setup | ztune s/step | swift s/step | steady ratio | ztune wall s | swift wall s | wall ratio |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for label, ranks, extra in setups:
            threads = str(max(1, args.threads // ranks))
            env = dict(os.environ, OMP_NUM_THREADS=threads, TOKENIZERS_PARALLELISM="false",
                       OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", ZTUNE_LINK_PROBE_MB="0")
            ours_out, theirs_out = tmp / f"z{ranks}{len(extra)}", tmp / f"s{ranks}{len(extra)}"
            ours_cmd = [str(ztune), "sft"] + common + extra + ["--output_dir", str(ours_out)]
            if ranks > 1:
                ours_cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(ranks), "-x", "OMP_NUM_THREADS"] + ours_cmd
            ours_wall, ours_error = run(ours_cmd, env)
            if extra and not deepspeed:
                theirs_wall, theirs_error = None, "DeepSpeed is not installed in this environment"
            else:
                swift_env = dict(env, NPROC_PER_NODE=str(ranks)) if ranks > 1 else env
                theirs_wall, theirs_error = run([str(swift), "sft"] + common + extra + ["--output_dir", str(theirs_out)],
                                                swift_env)
            ours_step = seconds_per_step(ours_out) if ours_wall else None
            theirs_step = seconds_per_step(theirs_out) if theirs_wall else None
            def cell(value):
                return f"{value:.2f}" if value is not None else "not run"
            steady = f"{theirs_step / ours_step:.2f}x" if ours_step and theirs_step else "-"
            wall = f"{theirs_wall / ours_wall:.2f}x" if ours_wall and theirs_wall else "-"
            print(f"| {label} | {cell(ours_step)} | {cell(theirs_step)} | {steady} | {cell(ours_wall)} | "
                  f"{cell(theirs_wall)} | {wall} |", flush=True)
            for side, error in (("ztune", ours_error), ("swift", theirs_error)):
                if error:
                    print(f"|   {side}: {error[:300]} | | | | | | |", flush=True)
        print("\nratios: swift's time over ztune's (above 1: ztune is faster)")


if __name__ == "__main__":
    main()
