#!/usr/bin/env bash
# OpenMPI's plm_rsh_agent for the namespace "nodes" of nodes.sh: called as `rsh_agent.sh HOST orted ARGS...`, it
# runs the words on HOST (instead of ssh). Needs ZT_CLUSTER_ID, ZT_CLUSTER_DIR (exported by the test).
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
host="$1"; shift
cluster_enter "$host" /bin/sh -c "$*"
