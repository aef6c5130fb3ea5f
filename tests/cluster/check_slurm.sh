#!/usr/bin/env bash
# Slurm on two namespace "nodes" (tests/cluster/slurm.sh): launch/slurm/sft.sbatch submitted as written, its CPU
# variant chosen by sbatch options and variables only:
#   - an uninterrupted run over 2 nodes x 1 task (ZeRO-2) finishes;
#   - the same run signalled mid-way (scancel --batch --signal=USR1, what --signal=B:USR1@120 sends) checkpoints,
#     requeues itself, resumes by itself from the newest checkpoint, and its final adapter equals the uninterrupted
#     run's bit for bit;
#   - kill -9 of a rank on node2 ends the job (srun -K) within 60 s, naming node2 and the task; an error on node2's
#     rank ends it within 60 s with the error once in the log;
#   - node2's link taken down mid-run: Slurm sets node2 DOWN (SlurmdTimeout) and ends the job within 60 s, the
#     job's log naming node2;
#   - srun -N2 -n3 `ztune env`: uneven tasks per node read from SLURM_STEP_TASKS_PER_NODE, node indices 0 and 1;
#     launch/mpirun/ztune-mpirun inside an allocation: node indices 0 and 1.
# usage: check_slurm.sh ZTUNE MODEL_DIR DATASET WORK_DIR
# Needs root (namespaces); everything it starts is stopped and removed on exit, also on failure.
set -uo pipefail
ZTUNE="$1" MODEL="$2" DATASET="$3" WORK="$4"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "FAIL: this test makes network namespaces and needs root"; exit 1; }
source "$HERE/slurm.sh"
trap slurm_down EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
slurm_up "$WORK/cluster" node1 node2 || exit 1
fail() { echo "FAIL: $*"; exit 1; }

out=$(slurm_run srun -N2 -n3 "$ZTUNE" env 2>&1) || fail "srun ztune env: $out"
for want in "rank 0 of 3, local rank 0 of 2, node 0 of 2, host node1" "rank 1 of 3, local rank 1 of 2, node 0 of 2, host node1" \
            "rank 2 of 3, local rank 0 of 1, node 1 of 2, host node2"; do
  grep -qF "launch     srun: $want" <<<"$out" || fail "srun: missing '$want' in: $out"
  echo "ok: srun: $want"
done

# mpirun inside an allocation (OpenMPI starts its daemons through Slurm), as sft.sbatch's LAUNCHER=mpirun does.
ZTUNE_IFACE=eth0 slurm_run sbatch -N2 --wait --gpus-per-node=0 --ntasks-per-node=1 --cpus-per-task=1 \
  --output="$WORK/mpirun-env.log" --wrap "$ROOT/launch/mpirun/ztune-mpirun -n 2 --map-by ppr:1:node $ZTUNE env" >/dev/null
for want in "rank 0 of 2, local rank 0 of 1, node 0 of 2, host node1" "rank 1 of 2, local rank 0 of 1, node 1 of 2, host node2"; do
  grep -qF "launch     mpirun: $want" "$WORK/mpirun-env.log" || { cat "$WORK/mpirun-env.log"; fail "mpirun in an allocation: missing '$want'"; }
  echo "ok: mpirun in an allocation: $want"
done

export ZTUNE MODEL DATASET ZTUNE_DEVICE=cpu OMP_NUM_THREADS=1
export ZTUNE_ARGS="--max_steps 200 --save_steps 20 --logging_steps 1 --max_length 128 --gradient_accumulation_steps 2
  --learning_rate 2e-3 --deepspeed zero2 --report_to none"
submit() {  # NAME [sbatch options...]: prints the job id
  local name="$1"; shift
  OUTPUT_DIR="$WORK/$name" slurm_run sbatch --parsable --gpus-per-node=0 --ntasks-per-node=1 --cpus-per-task=1 \
    --output="$WORK/$name.log" "$@" "$ROOT/launch/slurm/sft.sbatch"
}
wait_gone() {  # JOB SECONDS
  local i
  for ((i = 0; i < $2; i++)); do [ -z "$(slurm_run squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 1; done
  return 1
}

job=$(submit plain) || fail "sbatch refused the script"
wait_gone "$job" 300 || fail "the uninterrupted job did not finish in 300 s"
[ -f "$WORK/plain/checkpoint-200/adapter_model.safetensors" ] || { tail -20 "$WORK/plain.log"; fail "no final checkpoint"; }
echo "ok: uninterrupted run finished (job $job)"

job=$(submit signalled) || fail "sbatch refused the script"
for i in $(seq 1 240); do grep -q "^step 3[0-9]/200" "$WORK/signalled.log" 2>/dev/null && break; sleep 0.5; done
grep -q "^step 3[0-9]/200" "$WORK/signalled.log" || { tail -20 "$WORK/signalled.log"; fail "the signalled job never reached step 30"; }
slurm_run scancel --batch --signal=USR1 "$job" || fail "scancel --signal=USR1 failed"
wait_gone "$job" 400 || { tail -20 "$WORK/signalled.log"; fail "the requeued job did not finish in 400 s"; }
grep -q "SIGUSR1 received: stopped after step" "$WORK/signalled.log" || { tail -30 "$WORK/signalled.log"; fail "ztune did not stop on SIGUSR1"; }
grep -q "resuming from $WORK/signalled/checkpoint-" "$WORK/signalled.log" || { tail -30 "$WORK/signalled.log"; fail "the requeued job did not resume"; }
grep -E "SIGUSR1 received|resuming from|requeueing" "$WORK/signalled.log" | sed 's/^/  /'
cmp "$WORK/plain/checkpoint-200/adapter_model.safetensors" "$WORK/signalled/checkpoint-200/adapter_model.safetensors" \
  || fail "the resumed run's final adapter differs from the uninterrupted run's"
echo "ok: signalled, requeued and resumed; final adapter equal to the uninterrupted run's bit for bit"

# A rank killed on node2: srun -K ends the whole step, and the job, within 60 s, naming the node and the task.
export ZTUNE_ARGS="--max_steps 100000 --save_steps 100000 --logging_steps 1 --max_length 128 --report_to none"
job=$(submit killed --no-requeue) || fail "sbatch refused the script"
for i in $(seq 1 240); do grep -q "^step [0-9]*/100000" "$WORK/killed.log" 2>/dev/null && break; sleep 0.5; done
grep -q "^step [0-9]*/100000" "$WORK/killed.log" || { tail -20 "$WORK/killed.log"; fail "the job to kill never started"; }
victim=""
for pid in $(ip netns pids "$ZT_CLUSTER_ID-node2"); do [ "$(cat /proc/$pid/comm 2>/dev/null)" = ztune ] && victim=$pid; done
[ -n "$victim" ] || fail "no ztune rank found on node2"
start=$SECONDS
kill -9 "$victim"
wait_gone "$job" 60 || { tail -20 "$WORK/killed.log"; fail "the job outlived its killed rank by more than 60 s"; }
grep -E "srun: error: node2: task [0-9]+: Killed" "$WORK/killed.log" | sed 's/^/  /' | grep . \
  || { tail -20 "$WORK/killed.log"; fail "no message naming node2 and the task"; }
echo "ok: a rank killed on node2 ended the job after $((SECONDS - start)) s"

# An error on node2 (rank 1, injected at its third control-plane operation): srun ends the whole job within 60 s,
# the error in the job's log once, naming rank 1 and node2.
start=$SECONDS
job=$(ZTUNE_TEST_FAIL_AT=1:3 submit error --no-requeue) || fail "sbatch refused the script"
wait_gone "$job" 60 || { tail -20 "$WORK/error.log"; fail "the job outlived an error on node2 by more than 60 s"; }
errors=$(grep -c "\[rank 1 on node2\] error: rank 1: injected failure" "$WORK/error.log" || true)
[ "$errors" = 1 ] || { tail -20 "$WORK/error.log"; fail "the error on node2 is in the log $errors times, expected once"; }
echo "ok: an error on node2 ended the job after $((SECONDS - start)) s: $(grep -m1 "rank 1 on node2" "$WORK/error.log" | cut -c1-150)"

# node2's link goes down mid-run: the ranks on node1 wait in a collective that never completes; slurmctld stops
# hearing node2's slurmd, sets it DOWN after SlurmdTimeout (30 s) and ends the job, which must take under 60 s.
job=$(submit linkdown --no-requeue) || fail "sbatch refused the script"
for i in $(seq 1 240); do grep -q "^step [0-9]*/100000" "$WORK/linkdown.log" 2>/dev/null && break; sleep 0.5; done
grep -q "^step [0-9]*/100000" "$WORK/linkdown.log" || { tail -20 "$WORK/linkdown.log"; fail "the job never started"; }
start=$SECONDS
cluster_link node2 down
# Ended: no rank left on node1 and the job no longer RUNNING (it may stay COMPLETING in squeue while node2,
# unreachable, cannot report its end).
ended=""
for ((i = 0; i < 60; i++)); do
  state=$(slurm_run squeue -h -j "$job" -o %T 2>/dev/null)
  ranks=""
  for pid in $(ip netns pids "$ZT_CLUSTER_ID-node1"); do [ "$(cat /proc/$pid/comm 2>/dev/null)" = ztune ] && ranks="$ranks $pid"; done
  if [ "$state" != RUNNING ] && [ -z "$ranks" ]; then ended=yes; break; fi
  sleep 1
done
took=$((SECONDS - start))
[ -n "$ended" ] || { tail -20 "$WORK/linkdown.log"; fail "the job outlived node2's link by more than 60 s (state $state, ranks on node1:$ranks)"; }
grep -E "Node failure on node2|DUE TO NODE FAILURE" "$WORK/linkdown.log" | sed 's/^/  /' | grep . \
  || { tail -20 "$WORK/linkdown.log"; fail "the job's log does not name node2's failure"; }
echo "ok: node2's link down ended the job after $took s (job ${state:-gone}, node2 $(slurm_run sinfo -h -n node2 -o %T))"
