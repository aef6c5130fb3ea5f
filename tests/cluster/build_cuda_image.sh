#!/usr/bin/env bash
# Builds docker/Dockerfile.cuda end to end on this machine, where no nvidia/cuda image can be pulled: the devel base
# is a stand-in made of a debootstrapped Debian bookworm plus this machine's CUDA 13 toolkit (/usr/local/cuda, with
# NCCL), the runtime base the bare bookworm. The image's `ztune --version` and `ztune env` run (no GPU here: env says
# so). Not part of ctest (about 15 minutes on 2 cores and 15 GB of disk): run it by hand after changing the image.
# usage: build_cuda_image.sh WORK_DIR CACHE_DIR      (root; removes everything it started on exit)
set -euo pipefail
WORK="$(realpath -m "$1")" CACHE="$(realpath -m "$2")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (dockerd)"; exit 1; }
CUDA="$(readlink -f /usr/local/cuda)"
[ -x "$CUDA/bin/nvcc" ] || { echo "FAIL: no CUDA toolkit at /usr/local/cuda"; exit 1; }
source "$HERE/containers.sh"
trap docker_down EXIT
trap "exit 1" INT TERM
rm -rf "$WORK" && mkdir -p "$WORK/context"
docker_up "$CACHE/docker"
docker_base zt-test/bookworm "$CACHE/bookworm-minbase.tar"
if ! zdocker image inspect zt-test/cuda-devel >/dev/null 2>&1; then
  mkdir -p "$WORK/cuda/usr/local"
  cp -a "$CUDA" "$WORK/cuda/usr/local/cuda"
  printf 'FROM zt-test/bookworm\nCOPY usr /usr\nENV PATH=/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
    > "$WORK/cuda/Dockerfile"
  DOCKER_BUILDKIT=0 zdocker build -q -t zt-test/cuda-devel "$WORK/cuda" >/dev/null
  rm -rf "$WORK/cuda"
fi
cp -r "$ROOT"/{CMakeLists.txt,cmake,configs,src,docker,launch,.dockerignore} "$WORK/context/"
cp /usr/local/share/ca-certificates/*.crt "$WORK/context/docker/ca-certificates/" 2>/dev/null || true
start=$SECONDS
DOCKER_BUILDKIT=0 zdocker build --network host -f "$WORK/context/docker/Dockerfile.cuda" \
  --build-arg CUDA_DEVEL_IMAGE=zt-test/cuda-devel --build-arg CUDA_RUNTIME_IMAGE=zt-test/bookworm \
  -t zt-test/ztune:cuda "$WORK/context" > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; echo "FAIL: docker build"; exit 1; }
size=$(zdocker image inspect -f '{{.Size}}' zt-test/ztune:cuda)
echo "ok: docker/Dockerfile.cuda built in $((SECONDS - start)) s: image $((size / 1000000)) MB"
grep -m1 -o 'collect_runtime: [0-9]* libraries copied ([^)]*)' "$WORK/build.log" || true
zdocker run --rm --network none zt-test/ztune:cuda --version
zdocker run --rm --network none zt-test/ztune:cuda env | head -20
