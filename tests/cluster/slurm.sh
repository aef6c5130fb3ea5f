#!/usr/bin/env bash
# A Slurm cluster on nodes.sh's namespace "nodes": a private munged (in the root namespace: its socket path is
# reachable from every node), slurmctld on "head", one slurmd per compute node, each node's TmpFS its own folder.
# Source it (it sources nodes.sh), then:
#   slurm_up DIR NODE...     head + the compute nodes, the daemons started, waits until every node is idle
#   slurm_run CMD...         CMD on head with SLURM_CONF set (srun, sbatch, squeue, scancel, ...)
#   slurm_down               stops the daemons and removes everything (then cluster_down); safe to call twice
source "$(dirname "${BASH_SOURCE[0]}")/nodes.sh"

slurm_up() {
  local dir; dir="$(realpath -m "$1")"; shift
  ZT_SLURM_NODES=("$@")
  cluster_up "$dir" head "$@"
  ZT_SLURM_DIR="$dir/slurm"
  mkdir -p "$ZT_SLURM_DIR"/{munge,ctld,spool}
  chmod 755 "$ZT_SLURM_DIR" "$ZT_SLURM_DIR/munge"
  mungekey -c -k "$ZT_SLURM_DIR/munge/munge.key" 2>/dev/null
  munged --force --socket="$ZT_SLURM_DIR/munge/munge.socket" --key-file="$ZT_SLURM_DIR/munge/munge.key" \
    --pid-file="$ZT_SLURM_DIR/munge/munged.pid" --log-file="$ZT_SLURM_DIR/munge/munged.log" \
    --seed-file="$ZT_SLURM_DIR/munge/munged.seed"
  local conf="$ZT_SLURM_DIR/slurm.conf" i=1 node
  cat > "$conf" <<CONF
ClusterName=zt
SlurmctldHost=head($ZT_CLUSTER_SUBNET.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$ZT_SLURM_DIR/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=20
KillWait=10
MailProg=/bin/true
MpiDefault=none
StateSaveLocation=$ZT_SLURM_DIR/ctld
SlurmdSpoolDir=$ZT_SLURM_DIR/spool/%n
SlurmctldPidFile=$ZT_SLURM_DIR/slurmctld.pid
SlurmdPidFile=$ZT_SLURM_DIR/slurmd-%n.pid
SlurmctldLogFile=$ZT_SLURM_DIR/slurmctld.log
SlurmdLogFile=$ZT_SLURM_DIR/slurmd-%n.log
TmpFS=$ZT_CLUSTER_DIR/local
CONF
  for node in "$@"; do
    i=$((i + 1))
    echo "NodeName=$node NodeAddr=$ZT_CLUSTER_SUBNET.$i CPUs=2 RealMemory=2000" >> "$conf"
  done
  echo "PartitionName=main Nodes=$(IFS=,; echo "$*") Default=YES MaxTime=INFINITE State=UP" >> "$conf"
  export SLURM_CONF="$conf"
  cluster_enter head slurmctld -f "$conf" -c
  for node in "$@"; do cluster_enter "$node" slurmd -f "$conf"; done
  local waited=0
  until [ "$(slurm_run sinfo -h -N -o %T 2>/dev/null | grep -c '^idle')" = "$#" ]; do
    sleep 0.2; waited=$((waited + 1))
    if [ $waited -gt 150 ]; then
      echo "slurm_up: the nodes did not become idle:"; slurm_run sinfo -N 2>&1; tail -5 "$ZT_SLURM_DIR"/*.log; return 1
    fi
  done
}

slurm_run() { cluster_enter head env SLURM_CONF="$ZT_SLURM_DIR/slurm.conf" "$@"; }

slurm_down() {
  [ -n "${ZT_SLURM_DIR:-}" ] || { cluster_down; return 0; }
  local pidfile
  for pidfile in "$ZT_SLURM_DIR"/slurmd-*.pid "$ZT_SLURM_DIR/slurmctld.pid" "$ZT_SLURM_DIR/munge/munged.pid"; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  done
  cluster_down
  ZT_SLURM_DIR=""
}
