"""How the multi-rank tests start N ranks: mpirun, torchrun (its agent serves the rendezvous store), or
tests/run_ranks.py (bare RANK/WORLD_SIZE/MASTER_ADDR, rank 0 serves the store; nobody kills the others)."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def launch_command(launcher, ranks):
    """The command prefix that starts `ranks` ranks with `launcher` (mpirun, torchrun or env)."""
    if launcher == "mpirun":
        return ["mpirun", "--oversubscribe", "-np", str(ranks)]
    if launcher == "torchrun":
        return [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", str(ranks),
                "--master_port", str(29400 + os.getpid() % 1000), "--no-python"]
    return [sys.executable, str(HERE.parent / "run_ranks.py"), str(ranks), "--"]
