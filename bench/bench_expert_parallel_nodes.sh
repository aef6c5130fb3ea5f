#!/usr/bin/env bash
# bench/bench_expert_parallel.py with its ranks on two namespace "nodes" (tests/cluster/nodes.sh), half on each:
# MPI between the nodes goes over TCP on a veth bridge. Needs root; the nodes are removed on exit.
# usage: bench/bench_expert_parallel_nodes.sh [bench_expert_parallel.py flags: --ranks 2 --steps 8 --build build]
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench_expert_parallel_nodes.sh makes network namespaces and needs root" >&2; exit 1; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tests/cluster/nodes.sh"
trap cluster_down EXIT
work="$(mktemp -d)"
cluster_up "$work/cluster" node1 node2
export ZT_CLUSTER_ID ZT_CLUSTER_DIR ZTUNE_IFACE=eth0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"${PYTHON:-$ROOT/.venv/bin/python}" "$ROOT/bench/bench_expert_parallel.py" --launcher nodes "$@"
