#!/usr/bin/env python3
"""Expert parallelism in `ztune sft` (issue 31): `--expert_model_parallel_size N` trains what data parallelism on
the same ranks trains, resumes on another EP size, and refuses what it cannot do by name.

usage: check_expert_parallel.py ZTUNE FIXTURES_DIR DATASET WORK_DIR

On the Qwen3-MoE fixture (LoRA on attention and the experts, --lora_dropout 0, --router_aux_loss_coef 0.01), 12 steps
of 2 micro-batches (tests/python/sft_run.py):
1. EP 2 on 2 ranks under ZeRO-2 and under ZeRO-3, and EP 2 on 4 ranks under ZeRO-2, against data parallelism on
   the same ranks (ZeRO-2): every logged loss and the final adapter within 5e-5. (Both sides sum the same fp32
   terms in another order: an expert's gradient is one product on its rank under EP, a sum of the ranks' partial
   products under data parallelism; Adam's division by the root of its second moment carries the rounding into
   weights near zero.)
2. The EP 2 run's checkpoint-6 resumed with data parallelism (EP 1) on the same 2 ranks ends where the
   uninterrupted EP 2 run ends, within the same tolerance: checkpoints hold whole adapters whatever the EP size.
   And on another world size: EP 2 on 2 ranks (ZeRO-2, accumulation 2) resumed by EP 4 on 4 ranks (ZeRO-3,
   accumulation 1), on one conversation repeated so that every step holds the same rows whatever the dealing,
   unpacked (packed rows per epoch depend on the world size).
3. The estimate: the run's estimate.json predicts the all-to-all bytes per step the run reports within 10% (the
   estimate assumes routing spreads tokens evenly), and the first step's measured peak within 10%.
4. Bad values: EP with a dense model, EP that does not divide the experts, EP that does not divide the ranks,
   EP with full training: each an error naming the flag and the value.
"""
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from compare_sft_runs import final_adapter, losses
from launchers import launch_command
from sft_run import run_sft

TOLERANCE = "5e-5"


def compare(name, run, reference, failures):
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "compare_sft_runs.py"), name, str(run),
                           str(reference), "--tolerance", TOLERANCE], capture_output=True, text=True)
    print(done.stdout.strip())
    if done.returncode != 0:
        failures.append(done.stdout.strip())


def refused(ztune, ranks, arguments, expected, failures):
    command = launch_command("mpirun", ranks) + [ztune, "sft"] + arguments if ranks > 1 else [ztune, "sft"] + arguments
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    text = done.stdout + done.stderr
    if done.returncode == 0 or expected not in text:
        failures.append(f"{' '.join(arguments[-2:])} on {ranks} rank(s): expected an error with {expected!r}, got "
                        f"status {done.returncode}: {text[-600:]}")
    else:
        print(f"refused as expected: {expected}")


def main():
    ztune, fixtures, dataset, work = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    model = str(fixtures / "qwen3-moe")
    common = ["--lora_dropout", "0", "--router_aux_loss_coef", "0.01"]
    failures = []
    runs = {}
    for name, ranks, extra in (("dp2", 2, ["--deepspeed", "zero2"]),
                               ("ep2-zero2", 2, ["--deepspeed", "zero2", "--expert_model_parallel_size", "2"]),
                               ("ep2-zero3", 2, ["--deepspeed", "zero3", "--expert_model_parallel_size", "2"]),
                               ("dp4", 4, ["--deepspeed", "zero2"]),
                               ("ep2-on-4", 4, ["--deepspeed", "zero2", "--expert_model_parallel_size", "2"])):
        runs[name], stdout, stderr = run_sft(ztune, model, dataset, work / name, ranks, common + extra)
        if "expert_model_parallel_size" in extra and "expert parallelism:" not in stdout + stderr:
            failures.append(f"{name}: the run does not say it splits the experts")
        if name == "ep2-zero2":
            reported = re.search(r"expert parallelism on rank 0: ([0-9.]+) (KiB|MiB) sent by all-to-all per step",
                                 stdout + stderr)
            record = json.loads(Path(glob.glob(str(runs[name] / "estimate.json"))[0]).read_text())
            predicted = record["estimate_bytes_sent"]["all_to_all"]
            measured_peak = max(r["peak_bytes"] for r in record["measured"]["ranks"])
            if reported is None:
                failures.append("the EP run does not report its all-to-all bytes")
            else:
                sent = float(reported.group(1)) * (1024 if reported.group(2) == "KiB" else 1024 ** 2)
                print(f"all-to-all per step: estimated {predicted / 2**20:.2f} MiB, reported {sent / 2**20:.2f} MiB; "
                      f"step-1 peak estimated {record['estimate']['peak'] / 2**20:.2f} MiB, measured "
                      f"{measured_peak / 2**20:.2f} MiB")
                if abs(predicted - sent) > 0.1 * sent:
                    failures.append(f"the all-to-all estimate {predicted:.0f} B is not within 10% of {sent:.0f} B")
            if abs(record["estimate"]["peak"] - measured_peak) > 0.1 * measured_peak:
                failures.append(f"the EP run's step-1 peak {measured_peak} is not within 10% of its estimate "
                                f"{record['estimate']['peak']}")
    compare("EP 2 on 2 ranks, ZeRO-2, against data parallelism", runs["ep2-zero2"], runs["dp2"], failures)
    compare("EP 2 on 2 ranks, ZeRO-3, against data parallelism", runs["ep2-zero3"], runs["dp2"], failures)
    compare("EP 2 on 4 ranks against data parallelism", runs["ep2-on-4"], runs["dp4"], failures)

    resumed, _, _ = run_sft(ztune, model, dataset, work / "resumed-ep1", 2, common + [
        "--deepspeed", "zero2", "--resume_from_checkpoint", str(runs["ep2-zero2"] / "checkpoint-6")])
    got, want = losses(resumed), losses(runs["ep2-zero2"])
    loss_diff = max((abs(got[s] - want[s]) for s in got), default=float("inf"))
    (_, adapter), (_, reference) = final_adapter(resumed), final_adapter(runs["ep2-zero2"])
    weight_diff = max(float(np.max(np.abs(adapter[k].astype(np.float64) - reference[k]))) for k in reference)
    print(f"EP 2's checkpoint-6 resumed with EP 1: steps {sorted(got)} within {loss_diff:.2g}, final adapter within "
          f"{weight_diff:.2g}")
    if sorted(got) != [9, 12] or loss_diff > float(TOLERANCE) or weight_diff > float(TOLERANCE) or sorted(adapter) != sorted(reference):
        failures.append(f"resuming EP 2's checkpoint with EP 1 differs: losses {got} vs {want}, weights by {weight_diff:.3g}")

    # Another world size and EP size: EP 2 on 2 ranks (ZeRO-2, accumulation 2) resumed by 4 ranks with EP 4 (ZeRO-3,
    # accumulation 1, so a step still holds 4 micro-batches), on one conversation repeated (which rows a step holds
    # depends on how the new ranks are dealt the rest of the epoch; check_resume.py's reasoning) and unpacked:
    # packed rows group a rank's samples, so their count per epoch depends on the world size.
    repeated = work / "repeated.jsonl"
    repeated.write_text((Path(dataset).read_text().splitlines()[0] + "\n") * 120)
    unpacked = common + ["--packing", "false"]
    uniform, _, _ = run_sft(ztune, model, str(repeated), work / "uniform-ep2", 2,
                            unpacked + ["--deepspeed", "zero2", "--expert_model_parallel_size", "2"])
    moved, out, err = run_sft(ztune, model, str(repeated), work / "uniform-ep4-on-4", 4, unpacked + [
        "--deepspeed", "zero3", "--expert_model_parallel_size", "4", "--gradient_accumulation_steps", "1",
        "--resume_from_checkpoint", str(uniform / "checkpoint-6")])
    got, want = losses(moved), losses(uniform)
    loss_diff = max((abs(got[s] - want[s]) for s in got), default=float("inf"))
    (_, adapter), (_, reference) = final_adapter(moved), final_adapter(uniform)
    weight_diff = max(float(np.max(np.abs(adapter[k].astype(np.float64) - reference[k]))) for k in reference)
    print(f"EP 2 on 2 ranks resumed by EP 4 on 4 ranks: steps {sorted(got)} within {loss_diff:.2g}, final adapter "
          f"within {weight_diff:.2g}")
    if "expert parallelism:" not in out + err:
        failures.append("the resumed EP 4 run does not say it splits the experts")
    if sorted(got) != [9, 12] or loss_diff > float(TOLERANCE) or weight_diff > float(TOLERANCE):
        failures.append(f"EP 2 on 2 ranks resumed by EP 4 on 4 ranks differs: losses {got} vs {want}, weights by "
                        f"{weight_diff:.3g}")

    base = ["--model", model, "--dataset", dataset, "--max_steps", "1", "--output_dir", str(work / "refused")] + common
    refused(ztune, 2, ["--model", str(fixtures / "qwen3"), "--dataset", dataset, "--max_steps", "1", "--output_dir",
                       str(work / "refused"), "--expert_model_parallel_size", "2"],
            "is a dense model; expert parallelism needs a mixture of experts", failures)
    refused(ztune, 3, base + ["--expert_model_parallel_size", "3"], "--expert_model_parallel_size 3 does not divide num_experts 8",
            failures)
    refused(ztune, 3, base + ["--expert_model_parallel_size", "2"], "--expert_model_parallel_size 2 does not divide the 3 ranks",
            failures)
    refused(ztune, 2, base + ["--train_type", "full", "--expert_model_parallel_size", "2"],
            "--expert_model_parallel_size with --train_type full is not supported yet", failures)

    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print("ok: expert parallelism trains as data parallelism, resumes on another EP size, refuses bad values")


if __name__ == "__main__":
    main()
