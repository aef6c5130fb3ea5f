#!/usr/bin/env python3
"""Starts N ranks of a command the way torchrun's workers see the world, without MPI and without torchrun.

usage: run_ranks.py N [--kill RANK:SECONDS] -- COMMAND...

Each copy gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK=0, MASTER_ADDR=127.0.0.1 and a free
MASTER_PORT; rank 0 serves the rendezvous store. Unlike torchrun, it never stops the other ranks when one
fails: each must end by itself, which is what the failure tests check. --kill sends SIGKILL to RANK after
SECONDS. Output: every rank's lines prefixed with "[rank R] "; exit status: that of the first rank to
fail (0 when all succeed)."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    options, command = args[:split], args[split + 1:]
    world = int(options[0])
    kill = None
    if len(options) == 3 and options[1] == "--kill":
        rank, seconds = options[2].split(":")
        kill = (int(rank), float(seconds))
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(world), GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        for name in [n for n in env if n.startswith(("OMPI_COMM_WORLD", "PMI_", "PMIX_", "SLURM_"))]:
            del env[name]
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))

    def relay(rank, proc):
        for line in proc.stdout:
            sys.stdout.write(f"[rank {rank}] {line}")
            sys.stdout.flush()

    threads = [threading.Thread(target=relay, args=(r, p)) for r, p in enumerate(procs)]
    for t in threads:
        t.start()
    if kill is not None:
        time.sleep(kill[1])
        procs[kill[0]].send_signal(signal.SIGKILL)
        print(f"run_ranks: killed rank {kill[0]} after {kill[1]} s", flush=True)
    status, order = 0, []
    remaining = dict(enumerate(procs))
    while remaining:
        for rank, proc in list(remaining.items()):
            code = proc.poll()
            if code is not None:
                del remaining[rank]
                order.append((rank, code))
        time.sleep(0.05)
    for t in threads:
        t.join()
    for rank, code in order:
        print(f"run_ranks: rank {rank} exited {code}", flush=True)
        if code != 0 and status == 0:
            status = code if code > 0 else 128 - code
    sys.exit(status)


if __name__ == "__main__":
    main()
