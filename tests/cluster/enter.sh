#!/usr/bin/env bash
# Runs a command on one of nodes.sh's "nodes": enter.sh NODE CMD... (ZT_CLUSTER_ID, ZT_CLUSTER_DIR exported).
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"
cluster_enter "$@"
