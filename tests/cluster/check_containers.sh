#!/usr/bin/env bash
# ztune's CPU image, built and run in real containers (a private dockerd, tests/cluster/containers.sh):
#   - docker/Dockerfile.cpu builds FROM a debootstrapped Debian bookworm (no registry is reachable here) with the
#     torch wheel from PyPI; the image's entry point is ztune; its size is printed;
#   - `ztune sft` in a container (no network, model and data mounted read-only) trains as the host's ztune does:
#     the same losses and final LoRA weights (tests/python/compare_sft_runs.py, 1e-5);
#   - two containers on a private bridge (veths into their network namespaces, sshd with a test key, as a
#     multi-node Docker deployment does): ztune-mpirun over 2 containers x 2 ranks, `ztune env` shows node 0 and
#     1, and ZeRO-2 and ZeRO-3 runs train as 4 ranks of mpirun on the host do (losses, LoRA weights, 1e-5).
# usage: check_containers.sh ZTUNE MODEL_DIR DATASET WORK_DIR CACHE_DIR PYTHON
#   CACHE_DIR keeps the debootstrap tarball (and, with ZTUNE_KEEP_DOCKER_CACHE=1, the image layers).
# Needs root; everything it starts (dockerd, containers, namespaces, mounts) is removed on exit, also on failure.
set -euo pipefail
ZTUNE="$1" MODEL="$(realpath -e "$2")" DATASET="$(realpath -e "$3")" WORK="$4" CACHE="$5" PYTHON="$6"
[ "$(id -u)" = 0 ] || { echo "FAIL: this test runs dockerd and needs root"; exit 1; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/containers.sh"
SWITCH="zt$$-dsw"
cleanup() {
  docker_down
  ip netns del "$SWITCH" 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 1" INT TERM
rm -rf "$WORK" && mkdir -p "$WORK/out"
WORK="$(realpath "$WORK")"
IMAGE=zt-test/ztune:cpu

docker_up "$CACHE/docker"
start=$SECONDS
docker_base zt-test/bookworm "$CACHE/bookworm-minbase.tar"
echo "ok: base image from debootstrap --variant=minbase bookworm ($((SECONDS - start)) s)"

# The build context: the sources the image needs, and this machine's extra certificate authorities (its egress
# proxy inspects TLS) where docker/ca-certificates/ takes a user's.
mkdir -p "$WORK/context"
cp -r "$ROOT"/{CMakeLists.txt,cmake,configs,src,docker,launch,.dockerignore} "$WORK/context/"
cp /usr/local/share/ca-certificates/*.crt "$WORK/context/docker/ca-certificates/" 2>/dev/null || true
start=$SECONDS
DOCKER_BUILDKIT=0 zdocker build --network host -f "$WORK/context/docker/Dockerfile.cpu" --build-arg BASE=zt-test/bookworm \
  --build-arg TORCH_INDEX_URL=https://pypi.org/simple -t "$IMAGE" "$WORK/context" > "$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; echo "FAIL: docker build -f docker/Dockerfile.cpu"; exit 1; }
size=$(zdocker image inspect -f '{{.Size}}' "$IMAGE")
copied=$(grep -m1 -o 'collect_runtime: [0-9]* libraries copied ([^)]*)' "$WORK/build.log" | cut -d' ' -f2- || true)
echo "ok: docker/Dockerfile.cpu built in $((SECONDS - start)) s: image $((size / 1000000)) MB (${copied:-its layers were cached})"
entry=$(zdocker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")
[ "$entry" = '["ztune"]' ] || { echo "FAIL: the image's entry point is $entry, not ztune"; exit 1; }
version=$(zdocker run --rm --network none "$IMAGE" --version)
[ "$version" = "$("$ZTUNE" --version)" ] || { echo "FAIL: the image says '$version', the host's ztune '$("$ZTUNE" --version)'"; exit 1; }
echo "ok: entry point ztune: $version"

# One process: in a container against the host.
SFT=(sft --model /model --dataset /data/train.jsonl --max_steps 12 --gradient_accumulation_steps 2
     --learning_rate 2e-3 --packing true --max_length 256 --save_steps 6 --logging_steps 3 --report_to none
     --add_version false)
mounts=(-v "$MODEL:/model:ro" -v "$DATASET:/data/train.jsonl:ro" -v "$WORK/out:/out")
zdocker run --rm --network none -e OMP_NUM_THREADS=1 "${mounts[@]}" "$IMAGE" "${SFT[@]}" --output_dir /out/container \
  > "$WORK/sft-container.log" 2>&1 || { tail -30 "$WORK/sft-container.log"; echo "FAIL: ztune sft in a container"; exit 1; }
host_sft=("${SFT[@]}")
host_sft[2]="$MODEL"; host_sft[4]="$DATASET"
OMP_NUM_THREADS=1 "$ZTUNE" "${host_sft[@]}" --output_dir "$WORK/out/host" > "$WORK/sft-host.log" 2>&1 \
  || { tail -30 "$WORK/sft-host.log"; echo "FAIL: ztune sft on the host"; exit 1; }
"$PYTHON" "$ROOT/tests/python/compare_sft_runs.py" "sft in a container vs the host" "$WORK/out/container" "$WORK/out/host"

# Two containers on a private bridge, ssh between them with a test key.
mkdir -p "$WORK/ssh" && chmod 700 "$WORK/ssh"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/ssh/id_ed25519"
cp "$WORK/ssh/id_ed25519.pub" "$WORK/ssh/authorized_keys"
printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' > "$WORK/ssh/config"
chmod 600 "$WORK/ssh/"*
ip netns add "$SWITCH"
ip -n "$SWITCH" link add br0 type bridge
ip -n "$SWITCH" link set br0 up
hosts=(--add-host c1:10.231.9.1 --add-host c2:10.231.9.2)
for i in 1 2; do
  zdocker run -d --name "zt-c$i" --hostname "c$i" --network none "${hosts[@]}" "${mounts[@]}" \
    -v "$WORK/ssh:/root/.ssh:ro" --entrypoint /bin/sh "$IMAGE" \
    -c 'mkdir -p /run/sshd && ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e' >/dev/null
  pid=$(zdocker inspect -f '{{.State.Pid}}' "zt-c$i")
  ip -n "$SWITCH" link add "vc$i" type veth peer name eth0 netns "$pid"
  ip -n "$SWITCH" link set "vc$i" master br0 up
  nsenter --net="/proc/$pid/ns/net" ip addr add "10.231.9.$i/24" dev eth0
  nsenter --net="/proc/$pid/ns/net" ip link set eth0 up
done
in_c1() { zdocker exec -e OMP_NUM_THREADS=1 -e ZTUNE_IFACE=eth0 zt-c1 "$@"; }
waited=0
until in_c1 ssh c2 true 2>/dev/null; do
  sleep 0.5; waited=$((waited + 1)); [ $waited -lt 40 ] || { echo "FAIL: ssh from c1 to c2"; in_c1 ssh c2 true; exit 1; }
done

out=$(timeout 120 "${ZT_DOCKER_CMD[@]}" exec -e ZTUNE_IFACE=eth0 zt-c1 ztune-mpirun -H c1:2,c2:2 -n 4 ztune env 2>&1) \
  || { echo "$out"; echo "FAIL: ztune env across two containers"; exit 1; }
for rank in 0 1 2 3; do
  want="launch     mpirun: rank $rank of 4, local rank $((rank % 2)) of 2, node $((rank / 2)) of 2, host c$((rank / 2 + 1))"
  grep -qxF "$want" <<<"$out" || { echo "$out" | grep -E "launch|rror"; echo "FAIL: missing '$want'"; exit 1; }
done
echo "ok: ztune env across two containers: ranks 0-3 on nodes 0 and 1 (hosts c1, c2)"

SMALL=(sft --model /model --dataset /data/train.jsonl --max_steps 8 --learning_rate 2e-3 --max_length 128
       --per_device_train_batch_size 1 --lora_dropout 0 --save_steps 8 --logging_steps 1 --report_to none
       --add_version false)
host_small=("${SMALL[@]}")
host_small[2]="$MODEL"; host_small[4]="$DATASET"
for stage in 2 3; do
  timeout 300 "${ZT_DOCKER_CMD[@]}" exec -e OMP_NUM_THREADS=1 -e ZTUNE_IFACE=eth0 zt-c1 ztune-mpirun -H c1:2,c2:2 -n 4 \
    ztune "${SMALL[@]}" --deepspeed "zero$stage" --output_dir "/out/zero$stage" > "$WORK/zero$stage.log" 2>&1 \
    || { tail -30 "$WORK/zero$stage.log"; echo "FAIL: ZeRO-$stage over two containers"; exit 1; }
  OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 mpirun --oversubscribe \
    -n 4 "$ZTUNE" "${host_small[@]}" --deepspeed "zero$stage" --output_dir "$WORK/out/host-zero$stage" \
    > "$WORK/host-zero$stage.log" 2>&1 || { tail -30 "$WORK/host-zero$stage.log"; echo "FAIL: ZeRO-$stage on the host"; exit 1; }
  "$PYTHON" "$ROOT/tests/python/compare_sft_runs.py" "ZeRO-$stage, 2 containers x 2 ranks vs 4 ranks on the host" \
    "$WORK/out/zero$stage" "$WORK/out/host-zero$stage"
done
echo "ok"
