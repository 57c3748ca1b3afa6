#!/usr/bin/env bash
# A second, throw-away Docker engine on this machine, in Swarm mode, for the
# benchmarks (bench/converge.ts) to measure Docker Swarm beside Bicycle
# without touching the main engine.
#
#   scripts/swarm-engine.sh start   prints the engine's socket (unix://...) on stdout once it answers, in Swarm
#                                   mode, with bicycle/busybox:test loaded
#   scripts/swarm-engine.sh stop    leaves the swarm, stops the engine, removes its state and its namespace
#
# With SWARM_INIT=0 the engine stays out of Swarm mode: a private plain
# engine (use another SWARM_DIR and SWARM_NETNS), which the benchmarks can
# use instead of the main one (BICYCLE_DOCKER_SOCKET=$SWARM_DIR/docker.sock)
# when the main engine is shared with other work or unhealthy.
#
# The engine runs in its own network namespace ($SWARM_NETNS, default
# bicycle-swarm), with its own --data-root, --exec-root, socket, pid file and
# log under $SWARM_DIR (default /tmp/bicycle-swarm). In that namespace it has
# its own docker0, firewall rules and loopback, configured exactly like the
# main engine's (defaults), so its containers get the same kind of network
# (a veth on a bridge, an address, NAT rules) and the comparison is fair.
# The swarm manager advertises 127.0.0.1 of that namespace (this engine
# accepts a loopback --advertise-addr), so its ports (2377, 7946) cannot
# clash with anything outside.
#
# Why a namespace: a second engine in the host's network namespace started
# with --bridge=none deletes the interface docker0 at start, which is the
# main engine's, and then no container starts on the main engine ("could not
# find bridge docker0"); with a bridge of its own it would still share the
# host's firewall tables and ports. In its own namespace it touches neither.
set -euo pipefail
dir=${SWARM_DIR:-/tmp/bicycle-swarm}
netns=${SWARM_NETNS:-bicycle-swarm}
sock="unix://$dir/docker.sock"
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "swarm-engine: $*" >&2; exit 1; }
d() { docker -H "$sock" "$@"; }

start() {
  command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
  command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
  [ "$(id -u)" = 0 ] || die "must run as root (it starts a dockerd in a network namespace)"
  if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
    die "an engine already runs from $dir (pid $(cat "$dir/dockerd.pid")); run '$0 stop' first"
  fi
  mkdir -p "$dir/data" "$dir/exec"
  ip netns list | grep -qw "$netns" || ip netns add "$netns" || die "could not make the network namespace $netns (needs CAP_SYS_ADMIN)"
  ip netns exec "$netns" ip link set lo up
  # nsenter, not `ip netns exec`: that one remounts /sys in a new mount namespace, hiding the cgroup mounts dockerd needs.
  nsenter --net="/var/run/netns/$netns" dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "$sock" --pidfile "$dir/dockerd.pid" \
    >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/dockerd.launcher.pid"
  for _ in $(seq 1 150); do
    d version >/dev/null 2>&1 && break
    kill -0 "$(cat "$dir/dockerd.launcher.pid")" 2>/dev/null || die "dockerd exited at start; see $dir/dockerd.log: $(tail -5 "$dir/dockerd.log")"
    sleep 0.2
  done
  d version >/dev/null 2>&1 || die "dockerd on $sock did not answer within 30 s; see $dir/dockerd.log"
  "$here/build-test-images.sh" "$sock" >&2
  if [ "${SWARM_INIT:-1}" != 0 ] && [ "$(d info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    d swarm init --advertise-addr 127.0.0.1 >&2 || die "docker swarm init failed; see $dir/dockerd.log"
  fi
  echo "$sock"
}

stop() {
  if [ -S "$dir/docker.sock" ]; then
    d service ls -q 2>/dev/null | xargs -r docker -H "$sock" service rm >/dev/null 2>&1 || true
    d swarm leave --force >/dev/null 2>&1 || true
    d ps -aq 2>/dev/null | xargs -r docker -H "$sock" rm -f >/dev/null 2>&1 || true
  fi
  local pid=""
  [ -f "$dir/dockerd.pid" ] && pid=$(cat "$dir/dockerd.pid")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
  fi
  # Anything of this engine's that outlived it (its containerd and shims carry its exec-root in their arguments).
  for p in $(pgrep -f -- "$dir/exec" || true); do kill -KILL "$p" 2>/dev/null || true; done
  # Mounts left under the data root (overlay layers) would make rm fail.
  { grep -o " $dir[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
  ip netns del "$netns" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
