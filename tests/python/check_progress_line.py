#!/usr/bin/env python3
"""The live progress line of `ztune sft` on a terminal, and plain lines elsewhere.

usage: check_progress_line.py ZTUNE MODEL_DIR DATASET WORK_DIR

On a pseudo-terminal (as a person at a terminal sees it; no launcher, no Slurm): one line redrawn in place
(carriage return, erase line) at every optimizer step, "step K/N" for every K with the step's loss, tokens/s and
ETA, and during accumulation "micro-batch M/A"; every other line (the data epoch, saves, the per-step lines of
--logging_steps) printed above it: replayed as a terminal would show them, no screen line holds both the progress
line's text and a log line. With --logging_steps 5 the plain step lines still come at steps 1, 5 and 10 (as
ms-swift logs, the first step included), and the progress line is gone from the screen at the end. Under Slurm (SLURM_JOB_ID set) on the same terminal, and into a pipe: no control
character at all. `export --merge_lora` on a terminal draws the same kind of line (bytes written, percentage),
gone from the screen when it ends (downloads and the GGUF import use the same progress line).
"""
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path


def run_on_terminal(command, env):
    """The bytes a terminal would receive, as text."""
    primary, secondary = os.openpty()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([primary], [], [], 300)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait()
    os.close(primary)
    return process.returncode, b"".join(chunks).decode(errors="replace")


def screen(text):
    """The lines a terminal ends up showing: \\r returns to the line's start, ESC[K erases to its end."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # colours
    lines, line, column = [], [], 0
    i = 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            del line[column:]
            i += 3
            continue
        ch = text[i]
        if ch == "\r":
            column = 0
        elif ch == "\n":
            lines.append("".join(line))
            line, column = [], 0
        else:
            if column < len(line):
                line[column] = ch
            else:
                line.append(ch)
            column += 1
        i += 1
    lines.append("".join(line))
    return lines


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI", "ZTUNE_PROGRESS"))}
    env.update(OMP_NUM_THREADS="1", TERM="xterm")
    steps = 10
    command = [ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(steps), "--logging_steps", "5",
               "--gradient_accumulation_steps", "8", "--max_length", "256", "--save_steps", "5"]
    failures = []

    code, text = run_on_terminal(command + ["--output_dir", str(work / "tty")], env)
    if code != 0:
        sys.exit(f"FAIL: on a terminal, sft exited {code}:\n{text[-3000:]}")
    draws = re.findall(r"\r\x1b\[K(step \d+/\d+[^\r\n\x1b]*)", text)
    for k in range(1, steps + 1):
        done = [d for d in draws if d.startswith(f"step {k}/{steps}  loss")]
        if not done or "tokens/s" not in done[-1] or "ETA" not in done[-1]:
            failures.append(f"no progress line for step {k} with loss, tokens/s and ETA (draws: {draws[:4]} ...)")
    if not any("micro-batch" in d for d in draws):
        failures.append("no micro-batch progress during accumulation")
    shown = screen(text)
    progress = re.compile(r"step \d+/\d+  (micro-batch \d+/\d+|loss \S+  \d+ tokens/s  ETA)")
    mixed = [line for line in shown if progress.search(line) and re.search(r"info:|warning:", line)]
    if mixed:
        failures.append(f"a log line inside the progress line: {mixed[:2]}")
    plain_steps = [line for line in shown if re.match(r"step \d+/\d+  loss .* lr ", line)]
    if [line.split()[1] for line in plain_steps] != [f"1/{steps}", f"5/{steps}", f"{steps}/{steps}"]:
        failures.append(f"--logging_steps 5: plain step lines {[line[:20] for line in plain_steps]}")
    if not any("saved " in line for line in shown):
        failures.append("the saves' info lines are not on the screen")
    if any(progress.match(line) and " lr " not in line for line in shown):
        failures.append("the progress line was left on the screen after training")

    checkpoint = sorted((work / "tty").glob("v*/checkpoint-*"))[-1]
    code, text = run_on_terminal([ztune, "export", "--adapters", str(checkpoint), "--merge_lora", "true"], env)
    merges = re.findall(r"(merging into \S+\s+\d+%[^\r\n\x1b]*)", text)
    if code != 0 or not any(" 100% " in m for m in merges):
        failures.append(f"export --merge_lora on a terminal: exit {code}, progress draws {merges[:3]}\n{text[-1500:]}")
    elif any(line.startswith("merging into ") for line in screen(text)):
        failures.append("the merge's progress line was left on the screen")

    code, text = run_on_terminal(command + ["--output_dir", str(work / "slurm")], dict(env, SLURM_JOB_ID="1234"))
    escapes = "\x1b[" in text or "\r" in text.replace("\r\n", "\n")
    if code != 0 or escapes:
        failures.append(f"under Slurm on a terminal: exit {code}, control characters: {escapes}")
    done = subprocess.run(command + ["--output_dir", str(work / "pipe")], capture_output=True, text=True, env=env)
    if done.returncode != 0 or "\x1b[" in done.stdout + done.stderr or "\r" in done.stdout:
        failures.append(f"into a pipe: exit {done.returncode}, control characters in the output")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print(f"ok: {len(draws)} progress draws on a terminal, every step with loss, tokens/s and ETA, micro-batches shown, "
          "log lines above it; plain under Slurm and into a pipe")


if __name__ == "__main__":
    main()
