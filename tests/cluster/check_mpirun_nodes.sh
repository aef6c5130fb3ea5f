#!/usr/bin/env bash
# mpirun across two "nodes" (network + UTS namespaces on a private bridge, tests/cluster/nodes.sh), launched with
# launch/mpirun/ztune-mpirun and an rsh agent that enters the node instead of ssh:
#   - `ztune env` on 2 nodes x 2 ranks: each rank reports its own node (0 or 1 of 2), host and local rank;
#   - ZeRO-2 and ZeRO-3 over 2 nodes x 2 ranks equal one process (tests/python/check_zero.py --launcher nodes:
#     losses and LoRA weights within 1e-5 in fp32, optimizer state slices, bytes sent).
#   - expert parallelism 4 over 2 nodes x 2 ranks (the Qwen3-MoE fixture beside MODEL_DIR: tokens cross between the
#     nodes by all-to-all) equals data parallelism on the same ranks (tests/tools/expert_parallel_probe.cpp);
#   - the start-up link check prints intra- and inter-node bus bandwidth, and warns once node2's link is throttled;
#   - faults: kill -9 of a rank on node2, and node2's link taken down, each end the job within 60 s naming node2;
#     an error on a rank of node2 ends the job on node1 within 60 s, the error printed once;
#   - hub ids download once per node: the stand-in hub on node1, 2 nodes x 2 ranks training from a ModelScope model
#     and dataset id: with a node-local cache each file is fetched twice (once per node), with a cache both nodes
#     share once.
# usage: check_mpirun_nodes.sh ZTUNE ZERO_TOOL MODEL_DIR DATASET WORK_DIR PYTHON EXPERT_PARALLEL_PROBE
# Needs root (namespaces); everything it starts is removed on exit, also on failure.
set -euo pipefail
ZTUNE="$1" ZERO_TOOL="$2" MODEL="$3" DATASET="$4" WORK="$5" PYTHON="$6" EP_PROBE="$7"
[ "$(id -u)" = 0 ] || { echo "FAIL: this test makes network namespaces and needs root"; exit 1; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/nodes.sh"
trap cluster_down EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
cluster_up "$WORK/cluster" node1 node2
export ZT_CLUSTER_ID ZT_CLUSTER_DIR ZTUNE_IFACE=eth0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

out=$(timeout 120 "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun" --mca plm_rsh_agent "$HERE/rsh_agent.sh" \
        -H node1:2,node2:2 -n 4 "$ZTUNE" env 2>&1) || { echo "FAIL: ztune env across the nodes: $out"; exit 1; }
failures=0
for rank in 0 1 2 3; do
  want="launch     mpirun: rank $rank of 4, local rank $((rank % 2)) of 2, node $((rank / 2)) of 2, host node$((rank / 2 + 1))"
  if grep -qxF "$want" <<<"$out"; then echo "ok: $want"; else echo "FAIL: missing '$want'"; failures=1; fi
done
[ $failures = 0 ] || { echo "$out" | grep -E "launch|error" ; exit 1; }

"$PYTHON" "$ROOT/tests/python/check_zero.py" "$ZERO_TOOL" "$MODEL" "$WORK/zero" 4 --stages 2 3 --launcher nodes \
  | grep -v "^ok$"

out=$(timeout 300 "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun" --mca plm_rsh_agent "$HERE/rsh_agent.sh" \
        -H node1:2,node2:2 -n 4 "$EP_PROBE" "$(dirname "$MODEL")/qwen3-moe" 4 2>&1) || true
grep "ok: expert parallelism 4 on 4 ranks" <<<"$out" || { echo "$out" | tail -20; echo "FAIL: expert parallelism across the nodes"; exit 1; }

# The start-up link check: bus bandwidth within and between the nodes in the log, and a warning once node2's link
# is throttled to 20 Mbit/s (tc) while the ranks within a node still talk through shared memory.
links() {  # NAME: a one-step run's log
  ZTUNE_LINK_PROBE_MB=1 timeout 300 "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun" --mca plm_rsh_agent \
    "$HERE/rsh_agent.sh" -H node1:2,node2:2 -n 4 "$ZTUNE" sft --model "$MODEL" --dataset "$DATASET" --max_steps 1 \
    --max_length 128 --report_to none --output_dir "$WORK/sft-links-$1" > "$WORK/links-$1.log" 2>&1 \
    || { tail -20 "$WORK/links-$1.log"; echo "FAIL: links $1: the run failed"; exit 1; }
}
links fast
grep -E "links \(bus bandwidth, 1 MiB per rank\): intra-node \(2 ranks\) all-reduce [0-9.]+ GB/s, all-gather [0-9.]+ GB/s; inter-node \(2 ranks\) all-reduce" \
  "$WORK/links-fast.log" | sed 's/^.*info: /ok: /' | grep . || { cat "$WORK/links-fast.log"; echo "FAIL: no link line"; exit 1; }
if grep -q "inter-node all-reduce runs at" "$WORK/links-fast.log"; then echo "FAIL: a warning on an unthrottled link"; exit 1; fi
tc -n "$ZT_CLUSTER_ID-node2" qdisc add dev eth0 root tbf rate 20mbit burst 32kbit latency 400ms
tc -n "$ZT_CLUSTER_ID-sw" qdisc add dev v2 root tbf rate 20mbit burst 32kbit latency 400ms
links slow
tc -n "$ZT_CLUSTER_ID-node2" qdisc del dev eth0 root
tc -n "$ZT_CLUSTER_ID-sw" qdisc del dev v2 root
grep -m1 "inter-node all-reduce runs at" "$WORK/links-slow.log" | sed 's/^.*warning: /ok: warned: /' | grep . \
  || { cat "$WORK/links-slow.log"; echo "FAIL: no warning with node2's link at 20 Mbit/s"; exit 1; }

# An error on node2 (an injected failure of rank 2, node2's first, at its third control-plane operation, during
# start-up): the whole job ends within 60 s, the error printed once, naming rank 2 and node2.
start=$SECONDS rc=0
ZTUNE_TEST_FAIL_AT=2:3 timeout 120 "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun" --mca plm_rsh_agent \
  "$HERE/rsh_agent.sh" -H node1:2,node2:2 -n 4 "$ZTUNE" sft --model "$MODEL" --dataset "$DATASET" --max_steps 4 \
  --max_length 128 --report_to none --output_dir "$WORK/sft-error" > "$WORK/error-node2.log" 2>&1 || rc=$?
took=$((SECONDS - start))
errors=$(grep -c "\[rank 2 on node2\] error: rank 2: injected failure" "$WORK/error-node2.log" || true)
if [ $rc = 0 ] || [ $took -gt 60 ] || [ "$errors" != 1 ]; then
  echo "FAIL: an error on node2: exit $rc after $took s, the error printed $errors times (expected once, within 60 s)"
  tail -30 "$WORK/error-node2.log"; exit 1
fi
echo "ok: an error on node2 ended the job (exit $rc) after $took s: $(grep -m1 "rank 2 on node2" "$WORK/error-node2.log" | cut -c1-150)"
# Hub downloads: the stand-in hub serves from node1; one process per node downloads, the others wait for it.
"$HERE/enter.sh" node1 "$PYTHON" "$HERE/hub_serve.py" "$MODEL" "$DATASET" "$WORK/hub-port" > "$WORK/hub.log" 2>&1 &
for _ in $(seq 100); do [ -s "$WORK/hub-port" ] && break; sleep 0.1; done
[ -s "$WORK/hub-port" ] || { cat "$WORK/hub.log"; echo "FAIL: the stand-in hub did not start"; exit 1; }
HUB="http://node1:$(cat "$WORK/hub-port")"
hub_run() {  # NAME CACHE: a one-step run from hub ids; prints how many times each file was fetched in all
  MODELSCOPE_DOMAIN="$HUB" MODELSCOPE_CACHE="$2" timeout 300 "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun"     --mca plm_rsh_agent "$HERE/rsh_agent.sh" -H node1:2,node2:2 -n 4 "$ZTUNE" sft --model zt-owner/Tiny-Qwen     --dataset zt-owner/chat-data --max_steps 1 --max_length 128 --report_to none --output_dir "$WORK/sft-hub-$1"     > "$WORK/hub-$1.log" 2>&1 || { tail -20 "$WORK/hub-$1.log"; echo "FAIL: hub $1: the run failed"; exit 1; }
  "$HERE/enter.sh" node1 "$PYTHON" -c 'import collections, json, sys, urllib.request
served = json.load(urllib.request.urlopen(sys.argv[1] + "/__served"))
print(json.dumps(collections.Counter(entry[1] for entry in served), sort_keys=True))' "$HUB"
}
before=$(hub_run node-local "$ZT_CLUSTER_DIR/local/ms")
after=$(hub_run shared "$WORK/shared-ms")
"$PYTHON" - "$before" "$after" "$MODEL" <<'PY' || exit 1
import json, pathlib, sys
before, after, model = json.loads(sys.argv[1]), json.loads(sys.argv[2]), pathlib.Path(sys.argv[3])
files = [str(p.relative_to(model)) for p in model.rglob("*") if p.is_file()] + ["train.jsonl"]
per_node = {name: before.get(name, 0) for name in files}
shared = {name: after.get(name, 0) - before.get(name, 0) for name in files}
if set(per_node.values()) != {2} or set(shared.values()) != {1}:
    sys.exit(f"FAIL: expected each file fetched once per node (2) with node-local caches and once with a shared one: "
             f"{per_node} / {shared}")
print(f"ok: hub downloads: {len(files)} files, each fetched once per node with node-local caches, once with a shared one")
PY
pkill -f "hub_serve.py $MODEL" || true

# Faults: a rank killed on node2, then node2's link taken down, mid-run; each must end the whole job non-zero within
# 60 s with a message naming the host (OpenMPI's, from the keepalive settings ztune-mpirun ships for the link).
fault() {  # NAME ACTION...
  local name="$1"; shift
  local log="$WORK/fault-$name.log"
  "$HERE/enter.sh" node1 "$ROOT/launch/mpirun/ztune-mpirun" --mca plm_rsh_agent "$HERE/rsh_agent.sh" \
    -H node1:2,node2:2 -n 4 "$ZTUNE" sft --model "$MODEL" --dataset "$DATASET" --max_steps 100000 \
    --logging_steps 1 --save_steps 100000 --max_length 128 --report_to none --output_dir "$WORK/sft-$name" \
    > "$log" 2>&1 &
  local job=$! waited=0
  until grep -q "loss" "$log"; do
    sleep 1; waited=$((waited + 1))
    if [ $waited -gt 180 ] || ! kill -0 $job 2>/dev/null; then echo "FAIL: $name: training never started"; cat "$log"; exit 1; fi
  done
  local start=$SECONDS rc=0
  "$@"
  wait $job || rc=$?
  local took=$((SECONDS - start))
  echo "$name: the job ended with status $rc after $took s"
  if [ $rc = 0 ] || [ $took -gt 60 ] || ! grep -q "node2" "$log"; then
    echo "FAIL: $name: expected a non-zero end within 60 s naming node2"; tail -30 "$log"; exit 1
  fi
  grep -m2 -E "node2" "$log" | cut -c1-200
}
kill_rank_on_node2() {
  local pid
  for pid in $(ip netns pids "$ZT_CLUSTER_ID-node2"); do
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = ztune ] && { kill -9 "$pid"; return; }
  done
  echo "FAIL: no ztune rank found on node2"; exit 1
}
fault kill-9 kill_rank_on_node2
fault link-down cluster_link node2 down

echo "ok"
