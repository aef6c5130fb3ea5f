#!/usr/bin/env python3
"""`ztune sft` without MPI: torchrun and bare RANK/WORLD_SIZE/MASTER_ADDR launches train exactly as mpirun does,
and a dead rank ends the job.

usage: check_sft_launchers.py ZTUNE MODEL_DIR DATASET WORK_DIR

- 2 ranks under torchrun with zero2, and 3 ranks started by tests/run_ranks.py with zero3 (rank 0 serving
  the rendezvous store), each against the same world size and stage under mpirun: the logged losses, grad
  norms and eval losses per step and the final adapter equal (fp32, within 1e-5; the sharding of the data
  and the order of every sum are the same), the run folder is the one rank 0 chose, each checkpoint has
  one optimizer shard per rank, and the start-up log names the store communicator;
- a rank killed with SIGKILL mid-run: the others exit non-zero by themselves within --ddp_timeout plus a
  margin, naming the rank they are waiting for (no launcher kills them: run_ranks.py never does).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from launchers import HERE
from sft_run import run_sft

TOLERANCE = 1e-5


def logged(run):
    entries = [json.loads(line) for line in (run / "logging.jsonl").read_text().splitlines()]
    train = [(e["global_step/max_steps"], e["loss"], e["grad_norm"]) for e in entries if "loss" in e]
    evals = [(e["global_step/max_steps"], e["eval_loss"]) for e in entries if "eval_loss" in e]
    return train, evals


def compare(name, run, reference, ranks, stdout, failures):
    train, evals = logged(run)
    ref_train, ref_evals = logged(reference)
    if [t[0] for t in train] != [t[0] for t in ref_train] or [e[0] for e in evals] != [e[0] for e in ref_evals]:
        failures.append(f"{name}: logged steps {[t[0] for t in train]} / {[e[0] for e in evals]} differ from mpirun's")
        return
    diff = max(max(abs(a[1] - b[1]), abs(a[2] - b[2])) for a, b in zip(train, ref_train))
    diff = max([diff] + [abs(a[1] - b[1]) for a, b in zip(evals, ref_evals)])
    adapter = load_file(str(run / "checkpoint-12" / "adapter_model.safetensors"))
    ref_adapter = load_file(str(reference / "checkpoint-12" / "adapter_model.safetensors"))
    weights = max(float(np.max(np.abs(adapter[k] - ref_adapter[k]))) for k in ref_adapter)
    if set(adapter) != set(ref_adapter) or diff > TOLERANCE or weights > TOLERANCE:
        failures.append(f"{name}: losses differ from mpirun's by {diff:.3g}, adapters by {weights:.3g}")
    shards = sorted(p.name for p in (run / "checkpoint-12").glob("zero_rank_*.h5"))
    if shards != [f"zero_rank_{r:05d}.h5" for r in range(ranks)]:
        failures.append(f"{name}: optimizer shards {shards}")
    if f"cpu, store, {ranks} ranks launched by env" not in stdout:
        failures.append(f"{name}: the start-up log does not name the store communicator")
    print(f"{name}: {len(train)} logged steps and {len(evals)} evaluations equal mpirun's within {diff:.2g}, "
          f"adapter within {weights:.2g}")


def killed_rank_ends_job(ztune, model, dataset, work, failures):
    timeout = 15
    command = [sys.executable, str(HERE.parent / "run_ranks.py"), "2", "--kill", "1:6", "--",
               ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", "100000", "--packing", "true",
               "--max_length", "256", "--save_steps", "100000", "--ddp_timeout", str(timeout),
               "--output_dir", str(work / "killed")]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    if result.returncode == 0:
        failures.append("killed rank: the job exited 0")
    elif "run_ranks: rank 0 exited 0" in output:
        failures.append("killed rank: rank 0 finished as if nothing happened")
    elif "still waiting for rank(s) 1" not in output:
        failures.append(f"killed rank: rank 0's error does not name rank 1:\n{output[-3000:]}")
    elif elapsed > 6 + timeout + 30:
        failures.append(f"killed rank: the job took {elapsed:.0f} s to end with --ddp_timeout {timeout}")
    else:
        print(f"killed rank: rank 0 ended by itself after {elapsed:.0f} s (--ddp_timeout {timeout}), naming rank 1")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    failures = []
    extra = ["--per_device_train_batch_size", "1", "--lora_dropout", "0", "--split_dataset_ratio", "0.1",
             "--eval_steps", "6"]
    for launcher, ranks, stage in (("torchrun", 2, "zero2"), ("env", 3, "zero3")):
        reference, _, _ = run_sft(ztune, model, dataset, work / f"mpirun-{ranks}", ranks,
                                  extra + ["--deepspeed", stage])
        run, stdout, stderr = run_sft(ztune, model, dataset, work / f"{launcher}-{ranks}", ranks,
                                      extra + ["--deepspeed", stage], launcher)
        compare(f"{launcher} {ranks} ranks {stage}", run, reference, ranks, stdout + stderr, failures)
    killed_rank_ends_job(ztune, model, dataset, work, failures)
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
