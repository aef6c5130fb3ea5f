"""Runs `ztune sft` the way the end-to-end tests do (check_sft.py, check_resume.py): 12 steps on the sample
data, packed to 256 tokens, 2 micro-batches per step, a checkpoint every 6 steps and a log line every 3,
under mpirun when more than one rank is asked for (or torchrun, or tests/run_ranks.py: RANK/WORLD_SIZE without
MPI). Exits with the command's output when it fails."""
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from launchers import launch_command


def run_sft(ztune, model, dataset, out, ranks, extra, launcher="mpirun"):
    """Returns the run folder (out/v1-*) and the command's stdout and stderr."""
    return run_sft_command(ztune, out, ranks, [
        "--model", model, "--dataset", dataset, "--max_steps", "12", "--gradient_accumulation_steps", "2",
        "--learning_rate", "2e-3", "--packing", "true", "--max_length", "256", "--save_steps", "6",
        "--logging_steps", "3"] + extra, launcher)


def run_sft_command(ztune, out, ranks, arguments, launcher="mpirun"):
    """`ztune sft ARGUMENTS --output_dir OUT` (a fresh OUT) on `ranks` ranks; the run folder, stdout, stderr."""
    shutil.rmtree(out, ignore_errors=True)
    command = [ztune, "sft"] + arguments + ["--output_dir", str(out)]
    if ranks > 1:
        command = launch_command(launcher, ranks) + command
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    # Output that goes to a file (here a pipe, under mpirun a pty per rank) carries no colour codes.
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if "\x1b[" in text:
            sys.exit(f"FAIL: {' '.join(command)}: terminal colour codes in its {name}, which is not a terminal")
    runs = glob.glob(str(Path(out) / "v1-*"))
    if len(runs) != 1:
        sys.exit(f"FAIL: expected one run folder v1-* under {out}, found {runs}")
    return Path(runs[0]), result.stdout, result.stderr
