#!/usr/bin/env python3
"""The run folder's protocol around failures: resuming, leftovers, one run at a time, and hub network errors.

usage: check_run_folder.py ZTUNE MODEL_DIR DATASET WORK_DIR

- --resume_from_checkpoint RUN_FOLDER resumes from its `latest` (the log names it), as does `true` (the newest run
  under --output_dir); a run folder whose `latest` is missing but which holds checkpoints resumes from the newest;
  an unfinished save (.checkpoint-N.tmp) is refused as unfinished, with or without --resume_only_model, naming a
  complete checkpoint to use instead;
- at start-up, .checkpoint-N.tmp and .checkpoint-N.deleting folders an interrupted save left in the run folder
  (--add_version false) are removed, and the log says so;
- a second `ztune sft` on a run folder in use is refused (exit 2) naming the holder's pid and host; a lock left by a
  process that is gone (this host, no such pid) is taken over with a warning; --ignore_run_lock true takes a live
  one; the lock file is gone after a run;
- a hub that cannot be reached (an unresolvable host) is an environment error, exit 1, for login and for
  export --push_to_hub.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LOCK = ".ztune-run.lock"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ztune, model, dataset, work = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    failures = []

    def sft(out, *extra, steps=2, check=True):
        done = subprocess.run([ztune, "sft", "--model", model, "--dataset", dataset, "--max_steps", str(steps),
                               "--save_steps", "1", "--max_length", "256", "--packing", "true", "--output_dir", str(out),
                               "--logging_steps", "1"] + list(extra), capture_output=True, text=True, env=env, timeout=300)
        if check and done.returncode != 0:
            failures.append(f"sft {' '.join(extra)} exited {done.returncode}:\n{done.stderr[-1500:]}")
        return done

    # ---- resuming from a run folder, `true`, a folder without `latest`, an unfinished save
    first = work / "first"
    sft(first)
    run = next(first.glob("v1-*"))
    done = sft(first, "--resume_from_checkpoint", str(run), steps=3)
    if f"resuming from {run / 'checkpoint-2'}" not in done.stdout + done.stderr:
        failures.append(f"a run folder did not resume from its latest (checkpoint-2):\n{(done.stdout + done.stderr)[-1500:]}")
    done = sft(first, "--resume_from_checkpoint", "true", steps=4)
    newest = sorted(first.glob("v*-*"), key=lambda p: int(p.name[1:].split("-")[0]))[-2]  # the run before this one
    if f"resuming from {newest}" not in done.stdout + done.stderr:
        failures.append(f"--resume_from_checkpoint true did not take the newest run ({newest}):\n"
                        f"{(done.stdout + done.stderr)[-1500:]}")
    no_latest = work / "no-latest"
    shutil.copytree(run, no_latest)
    (no_latest / "latest").unlink()
    done = sft(work / "from-no-latest", "--resume_from_checkpoint", str(no_latest), steps=3)
    if f"resuming from {no_latest / 'checkpoint-2'}" not in done.stdout + done.stderr:
        failures.append("a run folder without latest did not resume from its newest checkpoint")
    unfinished = run / ".checkpoint-3.tmp"
    shutil.copytree(run / "checkpoint-2", unfinished)
    for extra in ([], ["--resume_only_model", "true"]):
        done = sft(work / "from-tmp", "--resume_from_checkpoint", str(unfinished), *extra, steps=3, check=False)
        if done.returncode != 2 or "unfinished checkpoint" not in done.stderr or "checkpoint-2" not in done.stderr:
            failures.append(f"an unfinished save {extra} was not refused as one (exit {done.returncode}): {done.stderr[-800:]}")
    shutil.rmtree(unfinished)

    # ---- leftovers of interrupted saves are removed at start-up
    fixed = work / "fixed"
    sft(fixed, "--add_version", "false")
    for name in (".checkpoint-7.tmp", ".checkpoint-1.deleting"):
        (fixed / name).mkdir()
        (fixed / name / "zero_rank_00000.h5.tmp").write_bytes(b"\0" * 1000)
    done = sft(fixed, "--add_version", "false", "--resume_from_checkpoint", str(fixed), steps=3)
    if any((fixed / name).exists() for name in (".checkpoint-7.tmp", ".checkpoint-1.deleting")):
        failures.append("leftovers of interrupted saves were not removed at start-up")
    if "removed 2 unfinished checkpoint folder(s)" not in done.stdout + done.stderr:
        failures.append("the removal of leftovers was not logged")
    if (fixed / LOCK).exists():
        failures.append("the run lock was left behind after a run")

    # ---- one run at a time in a folder
    busy = work / "busy"
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        busy.mkdir()
        (busy / LOCK).write_text(f"host {socket.gethostname()}\npid {sleeper.pid}\nsince 2026-12-06T10:00:00\n")
        done = sft(busy, "--add_version", "false", check=False)
        if done.returncode != 2 or "is in use by another ztune run" not in done.stderr or f"pid {sleeper.pid}" not in done.stderr:
            failures.append(f"a run folder in use was not refused naming its holder (exit {done.returncode}): {done.stderr[-800:]}")
        done = sft(busy, "--add_version", "false", "--ignore_run_lock", "true")
        if "taking over the lock" not in done.stdout + done.stderr:
            failures.append("--ignore_run_lock true did not say it took the lock over")
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
    (busy / LOCK).write_text(f"host {socket.gethostname()}\npid {sleeper.pid}\nsince 2026-12-06T10:00:00\n")
    done = sft(busy, "--add_version", "false", "--resume_from_checkpoint", str(busy), steps=3)
    if "taking over the lock of a run that has ended" not in done.stdout + done.stderr:
        failures.append("a stale lock (its pid gone) was not taken over with a warning")
    other = busy / LOCK
    other.write_text("host another-host\npid 1\nsince 2026-12-06T10:00:00\n")
    done = sft(busy, "--add_version", "false", "--resume_from_checkpoint", str(busy), steps=4, check=False)
    if done.returncode != 2 or "another-host" not in done.stderr:
        failures.append(f"a fresh lock of another host was not respected (exit {done.returncode})")
    old = time.time() - 3600
    os.utime(other, (old, old))
    done = sft(busy, "--add_version", "false", "--resume_from_checkpoint", str(busy), steps=4)
    if "taking over the lock of a run that has ended" not in done.stdout + done.stderr:
        failures.append("a lock of another host silent for an hour was not taken over")

    # ---- a hub that cannot be reached: exit 1 (the environment), not 2 (bad input)
    hub_env = dict(env, MODELSCOPE_DOMAIN="http://no-such-host.invalid", HOME=str(work / "home"))
    for command in (["login", "--token", "not-a-real-token"],
                    ["export", "--adapters", str(run / "checkpoint-2"), "--push_to_hub", "true", "--hub_model_id",
                     "someone/something", "--hub_token", "not-a-real-token", "--output_dir", str(work / "pushed")]):
        done = subprocess.run([ztune] + command, capture_output=True, text=True, env=hub_env, timeout=300)
        if done.returncode != 1:
            failures.append(f"ztune {command[0]} with an unreachable hub exited {done.returncode}, expected 1: "
                            f"{done.stderr[-600:]}")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("ok: run folders resume from latest, unfinished saves refused and cleaned up, one run per folder, hub "
          "network failures exit 1")


if __name__ == "__main__":
    main()
