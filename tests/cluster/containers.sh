#!/usr/bin/env bash
# A private Docker for the container tests: its own dockerd (data and exec roots, socket and pid file under DIR;
# no iptables rules, no docker0 bridge: containers get `--network none` and whatever links the test gives them),
# and a Debian bookworm base image made by debootstrap (no registry is reachable).
#
# Source it, then:
#   docker_up DIR            start dockerd; afterwards `zdocker ARGS...` talks to it (or "${ZT_DOCKER_CMD[@]}" ARGS...,
#                            for timeout and other commands that cannot call a function)
#   docker_base NAME CACHE   import a debootstrap --variant=minbase bookworm image as NAME (the root file system's
#                            tarball is kept at CACHE and reused)
#   docker_down              remove every container, stop dockerd, unmount what it left, and (unless
#                            ZTUNE_KEEP_DOCKER_CACHE=1: images and build layers, to rebuild faster) remove DIR
# docker_down is safe to call twice and after a failed docker_up; tests call it from an EXIT trap.
# The client is the docker.io package's (/usr/bin/docker), which matches its daemon.

ZT_DOCKER_CLIENT="${ZT_DOCKER_CLIENT:-/usr/bin/docker}"

zdocker() { "${ZT_DOCKER_CMD[@]}" "$@"; }

docker_up() {
  ZT_DOCKER_DIR="$(realpath -m "$1")"
  ZT_DOCKER_CMD=("$ZT_DOCKER_CLIENT" -H "unix://$ZT_DOCKER_DIR/docker.sock")
  mkdir -p "$ZT_DOCKER_DIR"/{data,exec}
  command -v dockerd >/dev/null || { echo "FAIL: dockerd is not installed (scripts/setup.sh installs docker.io)"; return 1; }
  dockerd --data-root "$ZT_DOCKER_DIR/data" --exec-root "$ZT_DOCKER_DIR/exec" -H "unix://$ZT_DOCKER_DIR/docker.sock" \
    --pidfile "$ZT_DOCKER_DIR/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
    > "$ZT_DOCKER_DIR/dockerd.log" 2>&1 &
  ZT_DOCKER_PID=$!
  local waited=0
  until zdocker version >/dev/null 2>&1; do
    sleep 0.5; waited=$((waited + 1))
    if [ $waited -gt 60 ] || ! kill -0 "$ZT_DOCKER_PID" 2>/dev/null; then
      echo "FAIL: dockerd did not start"; tail -20 "$ZT_DOCKER_DIR/dockerd.log"; return 1
    fi
  done
}

docker_base() {
  local name="$1" cache="$2"
  if [ ! -s "$cache" ]; then
    local mirror rootfs="$cache.rootfs"
    # The mirror apt already uses (deb822 sources or a sources.list line), else Debian's own.
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -m1 -v security || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    mirror="${mirror:-http://deb.debian.org/debian}"
    rm -rf "$rootfs" && mkdir -p "$(dirname "$cache")"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$cache.log" 2>&1 \
      || { echo "FAIL: debootstrap bookworm from $mirror"; tail -5 "$cache.log"; return 1; }
    tar -C "$rootfs" -c . > "$cache.part" && mv "$cache.part" "$cache"
    rm -rf "$rootfs"
  fi
  # Imported once per daemon: a second import would be a new image, and every build layer on it rebuilt.
  zdocker image inspect "$name" >/dev/null 2>&1 || zdocker import - "$name" < "$cache" >/dev/null
}

docker_down() {
  [ -n "${ZT_DOCKER_DIR:-}" ] || return 0
  if [ -S "$ZT_DOCKER_DIR/docker.sock" ]; then
    local containers
    containers=$(zdocker ps -aq 2>/dev/null || true)
    [ -n "$containers" ] && zdocker rm -f $containers >/dev/null 2>&1 || true
  fi
  local pid="${ZT_DOCKER_PID:-}"
  [ -n "$pid" ] || pid=$(cat "$ZT_DOCKER_DIR/dockerd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 40 ]; do sleep 0.5; waited=$((waited + 1)); done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Mounts dockerd may leave behind (overlays, the exec root's netns files), deepest first.
  awk -v dir="$ZT_DOCKER_DIR/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  if [ "${ZTUNE_KEEP_DOCKER_CACHE:-0}" = 1 ]; then
    rm -rf "$ZT_DOCKER_DIR/exec"
  else
    rm -rf "$ZT_DOCKER_DIR"
  fi
  ZT_DOCKER_DIR=""
}
