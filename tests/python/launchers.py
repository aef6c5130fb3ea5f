"""How the multi-rank tests start N ranks: mpirun, torchrun (its agent serves the rendezvous store),
tests/run_ranks.py (bare RANK/WORLD_SIZE/MASTER_ADDR, rank 0 serves the store; nobody kills the others), or
launch/mpirun/ztune-mpirun across the two namespace "nodes" of tests/cluster/nodes.sh (half the ranks on each;
the test brought them up and exported ZT_CLUSTER_ID, ZT_CLUSTER_DIR and ZTUNE_IFACE)."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def launch_command(launcher, ranks):
    """The command prefix that starts `ranks` ranks with `launcher` (mpirun, torchrun, env or nodes)."""
    if launcher == "mpirun":
        return ["mpirun", "--oversubscribe", "-np", str(ranks)]
    if launcher == "torchrun":
        return [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", str(ranks),
                "--master_port", str(29400 + os.getpid() % 1000), "--no-python"]
    if launcher == "nodes":
        cluster = HERE.parent / "cluster"
        return [str(cluster / "enter.sh"), "node1", str(HERE.parents[1] / "launch" / "mpirun" / "ztune-mpirun"),
                "--mca", "plm_rsh_agent", str(cluster / "rsh_agent.sh"),
                "-H", f"node1:{ranks // 2},node2:{ranks - ranks // 2}", "-n", str(ranks)]
    return [sys.executable, str(HERE.parent / "run_ranks.py"), str(ranks), "--"]
