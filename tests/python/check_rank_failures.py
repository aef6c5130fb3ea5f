#!/usr/bin/env python3
"""One rank's failure ends the whole job within seconds, with its error printed once, naming the rank and host.

usage: check_rank_failures.py ZTUNE MODEL_DIR DATASET WORK_DIR [--only NAME ...]

Each case runs `ztune sft` on several ranks, under mpirun and without MPI (tests/run_ranks.py: RANK/WORLD_SIZE,
rank 0 serves the rendezvous store, nobody stops the others), and must end in under 60 s with a non-zero exit and
the original error in the output, exactly once, as "[rank R on HOST] error: ...":
- bad_row: --strict true and an invalid UTF-8 row at the end of the file, which only the last rank reads;
- corrupt_shard: resume from a checkpoint whose last rank's zero_rank_*.h5 has one byte flipped;
- disk_full: the output folder on a 1.8 MB tmpfs (its own mount namespace), a checkpoint every step: a save runs
  out of space on some rank, the error names the full disk, and no temporary checkpoint folder is left;
- injected: ZTUNE_TEST_FAIL_AT=R:N makes rank R fail at its N-th control-plane operation (barrier,
  all_gather_values, broadcast_text): N walks every such operation of start-up and of a save, until a run passes
  them all (2 ranks under mpirun, rank 1; 3 ranks without MPI, rank 2 and rank 0, which serves the store);
- hang: ZTUNE_TEST_FAIL_AT=R:N:hang stops rank R for good at a control-plane operation of start-up and of a save
  (mpirun only: without MPI nothing can end a stuck process); the others end at --ddp_timeout 5, naming rank R.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from launchers import launch_command

LIMIT_S = 60
HOST = socket.gethostname()


def run(ztune, ranks, launcher, arguments, env_extra=None, wrap=None):
    command = launch_command(launcher, ranks) + [ztune, "sft"] + arguments
    if wrap:
        command = wrap + command
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    env.update(env_extra or {})
    start = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=LIMIT_S + 30)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        code = None
        output = (expired.stdout or b"").decode(errors="replace") + (expired.stderr or b"").decode(errors="replace")
    return code, output, time.monotonic() - start


class Cases:
    def __init__(self, ztune, model, dataset, work):
        self.ztune, self.model, self.dataset, self.work = ztune, model, dataset, Path(work)
        self.failures, self.passed = [], 0

    def base(self, out, steps=2, extra=()):
        return ["--model", self.model, "--dataset", self.dataset, "--max_steps", str(steps), "--save_steps", "1",
                "--output_dir", str(out), "--packing", "true", "--max_length", "256", "--logging_steps", "1",
                "--ddp_timeout", "30", "--learning_rate", "1e-3"] + list(extra)

    def expect(self, name, code, output, seconds, pattern, ranks=None, once=True):
        """A failure in time, the error matching `pattern` printed exactly once (at least once where several ranks
        may meet it themselves: `once` False), naming a rank and this host."""
        problems = []
        if code is None:
            problems.append(f"still running after {LIMIT_S + 30} s")
        elif code == 0:
            problems.append("exited 0")
        elif code < 0 or code > 128:
            problems.append(f"ended by a signal (exit {code})")
        if seconds > LIMIT_S:
            problems.append(f"took {seconds:.0f} s (limit {LIMIT_S})")
        lines = [line for line in output.splitlines() if re.search(pattern, line)]
        if len(lines) != 1 and (once or not lines):
            problems.append(f"{len(lines)} lines match {pattern!r}")
        elif not re.search(rf"\[rank {ranks if ranks is not None else '[0-9]+'} on {re.escape(HOST)}\] (ztune internal check failed|error):",
                           lines[0]):
            problems.append(f"the error does not name the rank and host: {lines[0]}")
        if re.search(r"Floating point exception|terminate called|Segmentation fault|Traceback", output):
            problems.append("a crash in the output")
        if problems:
            self.failures.append(f"{name}: {'; '.join(problems)}\n--- output (last 2500 chars) ---\n{output[-2500:]}")
            print(f"FAIL {name}: {'; '.join(problems)}", flush=True)
        else:
            self.passed += 1
            print(f"ok {name}: exit {code} in {seconds:.1f} s: {lines[0][:180]}", flush=True)

    def bad_row(self):
        data = self.work / "bad-row.jsonl"
        data.write_bytes(Path(self.dataset).read_bytes() +
                         b'{"conversations": [{"from": "human", "value": "bad \xff\xfe row"}, {"from": "gpt", "value": "x"}]}\n')
        for ranks, launcher in ((2, "mpirun"), (3, "env")):
            out = self.work / f"bad-row-{ranks}"
            shutil.rmtree(out, ignore_errors=True)
            arguments = self.base(out) + ["--strict", "true"]
            arguments[arguments.index("--dataset") + 1] = str(data)
            code, output, seconds = run(self.ztune, ranks, launcher, arguments)
            self.expect(f"bad_row {ranks} ranks {launcher}", code, output, seconds, r"not valid UTF-8")

    def corrupt_shard(self):
        for ranks, launcher in ((2, "mpirun"), (3, "env")):
            out = self.work / f"shard-{ranks}"
            shutil.rmtree(out, ignore_errors=True)
            code, output, _ = run(self.ztune, ranks, launcher, self.base(out, steps=2, extra=["--deepspeed", "zero2"]))
            if code != 0:
                self.failures.append(f"corrupt_shard {ranks}: the training run failed:\n{output[-2000:]}")
                continue
            checkpoint = next(out.glob("v1-*")) / "checkpoint-2"
            shard = checkpoint / f"zero_rank_{ranks - 1:05d}.h5"
            data = bytearray(shard.read_bytes())
            data[len(data) // 2] ^= 0xFF
            shard.write_bytes(bytes(data))
            resumed = self.work / f"shard-{ranks}-resumed"
            shutil.rmtree(resumed, ignore_errors=True)
            code, output, seconds = run(self.ztune, ranks, launcher,
                                        self.base(resumed, steps=4, extra=["--deepspeed", "zero2",
                                                                           "--resume_from_checkpoint", str(checkpoint)]))
            self.expect(f"corrupt_shard {ranks} ranks {launcher}", code, output, seconds, r"corrupt \(CRC-32")

    def disk_full(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.failures.append("disk_full: needs root and unshare (a private tmpfs mount); CI runs as root")
            return
        for ranks, launcher in ((2, "mpirun"), (3, "env")):
            mount = self.work / f"full-{ranks}"
            mount.mkdir(parents=True, exist_ok=True)
            out = mount / "out"
            # The whole launch in its own mount namespace: the tmpfs is gone with it, so its listing is taken inside.
            listing = self.work / f"full-{ranks}.listing"
            script = (f'mount -t tmpfs -o size=1800k tmpfs "{mount}" && {{ "$@"; rc=$?; '
                      f'ls -a "{out}" > "{listing}"; exit $rc; }}')
            code, output, seconds = run(self.ztune, ranks, launcher,
                                        self.base(out, steps=6, extra=["--deepspeed", "zero2", "--add_version", "false"]),
                                        wrap=["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"])
            # Every rank writes its own shard: more than one may find the disk full.
            self.expect(f"disk_full {ranks} ranks {launcher}", code, output, seconds, r"the disk is full", once=False)
            names = listing.read_text().split() if listing.exists() else []
            leftovers = [name for name in names if name.startswith(".checkpoint-") and name.endswith(".tmp")]
            if not names:
                self.failures.append(f"disk_full {ranks}: no listing of the run folder")
            elif leftovers:
                self.failures.append(f"disk_full {ranks}: the failed save left {leftovers}")

    def injected(self):
        for ranks, launcher, failing in ((2, "mpirun", 1), (3, "env", 2), (3, "env", 0)):
            for number in range(1, 60):
                out = self.work / f"inject-{ranks}-{failing}"
                shutil.rmtree(out, ignore_errors=True)
                # Two steps and one save (the last step's).
                arguments = self.base(out)
                arguments[arguments.index("--save_steps") + 1] = "2"
                code, output, seconds = run(self.ztune, ranks, launcher, arguments,
                                            {"ZTUNE_TEST_FAIL_AT": f"{failing}:{number}"})
                if code == 0 and "injected failure" not in output:
                    print(f"ok injected {ranks} ranks {launcher} rank {failing}: all {number - 1} control-plane "
                          f"operations of start-up and a save fail the job in time", flush=True)
                    if number < 6:
                        self.failures.append(f"injected: only {number - 1} control-plane operations; the walk "
                                             "should cover start-up and a save")
                    break
                self.expect(f"injected {ranks} ranks {launcher} rank {failing} at {number}", code, output, seconds,
                            rf"injected failure at control-plane operation {number}\b", ranks=failing)
            else:
                self.failures.append("injected: the walk never reached a run that passes")

    def hang(self):
        for number in (2, 12):  # start-up (plan_steps' row counts) and the second save
            out = self.work / f"hang-{number}"
            shutil.rmtree(out, ignore_errors=True)
            arguments = self.base(out)
            arguments[arguments.index("--ddp_timeout") + 1] = "5"
            code, output, seconds = run(self.ztune, 2, "mpirun", arguments, {"ZTUNE_TEST_FAIL_AT": f"1:{number}:hang"})
            self.expect(f"hang of rank 1 at control-plane operation {number}", code, output, seconds,
                        r"did not complete within 5 s; still waiting for rank\(s\) 1\b", ranks=0)


def main():
    parser = argparse.ArgumentParser()
    for name in ("ztune", "model", "dataset", "work"):
        parser.add_argument(name)
    parser.add_argument("--only", nargs="*", default=["bad_row", "corrupt_shard", "disk_full", "injected", "hang"])
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cases = Cases(args.ztune, args.model, args.dataset, work)
    for name in args.only:
        getattr(cases, name)()
    if cases.failures:
        sys.exit("FAIL:\n" + "\n\n".join(cases.failures))
    print(f"ok: {cases.passed} failures, each ended the whole job in time with its error printed once")


if __name__ == "__main__":
    main()
