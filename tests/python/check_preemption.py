#!/usr/bin/env python3
"""Preemption: SIGTERM or SIGUSR1 (what Slurm sends before it stops a job) makes `ztune sft` finish the
step it is in, save a checkpoint there and exit cleanly (status 0); the checkpoint resumes.

usage: check_preemption.py ZTUNE MODEL_DIR DATASET WORK_DIR

Cases: one process receiving SIGTERM; two ranks under mpirun where only rank 1 receives SIGTERM (the
ranks agree at the step boundary); two ranks where mpirun receives SIGUSR1 and forwards it.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def rank_pid(tag, rank):
    """The pid of the process whose environment holds ZTUNE_TEST_TAG=tag and OMPI_COMM_WORLD_RANK=rank."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"ZTUNE_TEST_TAG={tag}".encode() in environ and f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return int(entry)
    return None


def trial(ztune, model, dataset, out, ranks, target, sig):
    command = [ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", "400", "--max_length", "256",
               "--gradient_accumulation_steps", "2", "--save_steps", "1000", "--logging_steps", "1",
               "--output_dir", str(out)]
    if ranks > 1:
        command = ["mpirun", "--oversubscribe", "-np", str(ranks)] + command + ["--deepspeed", "zero2"]
    tag = f"{out.name}-{os.getpid()}"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               ZTUNE_TEST_TAG=tag)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    for line in process.stdout:  # wait until step 3 is logged, then signal
        output.append(line)
        if line.startswith("step 3/"):
            break
    pid = process.pid if target == "launcher" else rank_pid(tag, target)
    if pid is None:
        process.kill()
        return None, "".join(output) + "\n(no rank process found to signal)"
    os.kill(pid, sig)
    try:
        rest, _ = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
        return None, "".join(output) + rest + "\n(timed out after the signal)"
    return process.returncode, "".join(output) + rest


def main():
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures = []
    for name, ranks, target, sig in (("one process, SIGTERM", 1, "launcher", signal.SIGTERM),
                                     ("two ranks, SIGTERM to rank 1 only", 2, 1, signal.SIGTERM),
                                     ("two ranks, SIGUSR1 to mpirun", 2, "launcher", signal.SIGUSR1)):
        out = work / name.split(",")[0].replace(" ", "-") / signal.Signals(sig).name
        code, output = trial(ztune, model, dataset, out, ranks, target, sig)
        runs = glob.glob(str(out / "v1-*"))
        if code != 0 or not runs:
            failures.append(f"{name}: exit status {code}\n{output[-3000:]}")
            continue
        run = Path(runs[0])
        latest = (run / "latest").read_text().strip() if (run / "latest").exists() else ""
        step = int(latest.split("-")[1]) if latest.startswith("checkpoint-") else 0
        logged = [json.loads(line)["global_step/max_steps"] for line in (run / "logging.jsonl").read_text().splitlines()]
        if not 3 <= step < 400 or f"{signal.Signals(sig).name} received: stopped after step {step}" not in output:
            failures.append(f"{name}: no stop message or checkpoint (latest {latest!r})\n{output[-2000:]}")
            continue
        if logged[-1] != f"{step}/400":
            failures.append(f"{name}: the last logged step is {logged[-1]}, the checkpoint is at {step}")
        resumed = subprocess.run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(step + 1),
                                  "--max_length", "256", "--gradient_accumulation_steps", "2", "--logging_steps", "1",
                                  "--resume_from_checkpoint", str(run / latest), "--output_dir", str(out / "resumed")],
                                 capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        if resumed.returncode != 0 or f"resumed from {run / latest} at step {step}" not in resumed.stderr + resumed.stdout:
            failures.append(f"{name}: resuming {latest} failed\n{resumed.stdout[-1500:]}{resumed.stderr[-1500:]}")
        print(f"{name}: stopped cleanly at step {step}, checkpoint {latest} resumes")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
