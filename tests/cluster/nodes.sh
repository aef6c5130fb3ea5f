#!/usr/bin/env bash
# "Nodes" on one machine for the cluster tests: a bridge in a network namespace of its own, and per node a network
# namespace (eth0 on the bridge, a private address), a UTS namespace (its own hostname) and, when entered, a private
# mount namespace with the cluster's /etc/hosts and a node-local folder at DIR/local (each node sees its own there:
# Slurm's TmpFS). Addresses are on interfaces these
# namespaces own; nothing is routed anywhere else.
#
# Source it, then:
#   cluster_up DIR NODE...      bring the nodes up (state and logs under DIR); prints nothing on success
#   cluster_enter NODE CMD...   run CMD on NODE (its network, hostname, /etc/hosts, tmp)
#   cluster_link NODE up|down   take NODE's link up or down
#   cluster_down                kill what runs on the nodes, remove the namespaces and mounts, remove DIR's state
# cluster_down is safe to call twice and after a failed cluster_up; tests call it from an EXIT trap.

ZT_CLUSTER_SUBNET="${ZT_CLUSTER_SUBNET:-10.231.7}"

cluster_up() {
  ZT_CLUSTER_DIR="$(realpath -m "$1")"; shift
  ZT_CLUSTER_NODES=("$@")
  ZT_CLUSTER_ID="zt$$"
  mkdir -p "$ZT_CLUSTER_DIR"/{uts,tmp,local}
  : > "$ZT_CLUSTER_DIR/hosts"
  echo "127.0.0.1 localhost" >> "$ZT_CLUSTER_DIR/hosts"
  ip netns add "$ZT_CLUSTER_ID-sw"
  ip -n "$ZT_CLUSTER_ID-sw" link add br0 type bridge
  ip -n "$ZT_CLUSTER_ID-sw" link set br0 up
  local i=0 node
  for node in "${ZT_CLUSTER_NODES[@]}"; do
    i=$((i + 1))
    local ns="$ZT_CLUSTER_ID-$node"
    ip netns add "$ns"
    ip -n "$ZT_CLUSTER_ID-sw" link add "v$i" type veth peer name eth0 netns "$ns"
    ip -n "$ZT_CLUSTER_ID-sw" link set "v$i" master br0 up
    ip -n "$ns" addr add "$ZT_CLUSTER_SUBNET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    touch "$ZT_CLUSTER_DIR/uts/$node"
    unshare --uts="$ZT_CLUSTER_DIR/uts/$node" hostname "$node"
    mkdir -p "$ZT_CLUSTER_DIR/tmp/$node"
    echo "$ZT_CLUSTER_SUBNET.$i $node" >> "$ZT_CLUSTER_DIR/hosts"
  done
}

cluster_enter() {
  local node="$1"; shift
  nsenter --net="/run/netns/$ZT_CLUSTER_ID-$node" --uts="$ZT_CLUSTER_DIR/uts/$node" \
    unshare --mount --propagation slave /bin/sh -c '
      mount --bind "$1" /etc/hosts && mount --bind "$2" "$3" && shift 3 && exec "$@"' \
    sh "$ZT_CLUSTER_DIR/hosts" "$ZT_CLUSTER_DIR/tmp/$node" "$ZT_CLUSTER_DIR/local" "$@"
}

cluster_link() {
  local index=0 i=0 node
  for node in "${ZT_CLUSTER_NODES[@]}"; do i=$((i + 1)); [ "$node" = "$1" ] && index=$i; done
  ip -n "$ZT_CLUSTER_ID-sw" link set "v$index" "$2"
}

cluster_down() {
  [ -n "${ZT_CLUSTER_ID:-}" ] || return 0
  local node pids
  for node in "${ZT_CLUSTER_NODES[@]}"; do
    pids=$(ip netns pids "$ZT_CLUSTER_ID-$node" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  done
  for node in "${ZT_CLUSTER_NODES[@]}"; do
    ip netns del "$ZT_CLUSTER_ID-$node" 2>/dev/null || true
    umount "$ZT_CLUSTER_DIR/uts/$node" 2>/dev/null || true
  done
  ip netns del "$ZT_CLUSTER_ID-sw" 2>/dev/null || true
  rm -rf "$ZT_CLUSTER_DIR/uts" "$ZT_CLUSTER_DIR/tmp" "$ZT_CLUSTER_DIR/local"
  ZT_CLUSTER_ID=""
}
