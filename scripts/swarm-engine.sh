#!/usr/bin/env bash
# A second, throw-away Docker engine on this machine, in Swarm mode, for the
# benchmarks (bench/converge.ts) to measure Docker Swarm beside Bicycle
# without touching the main engine.
#
#   scripts/swarm-engine.sh start   prints the engine's socket (unix://...) on stdout when it answers, in Swarm mode,
#                                   with bicycle/busybox:test loaded
#   scripts/swarm-engine.sh stop    leaves the swarm, stops the engine, removes its state and its address
#
# Everything lives under $SWARM_DIR (default /tmp/bicycle-swarm): its own
# --data-root, --exec-root, socket, pid file and log, so it shares nothing
# with the main engine. It makes no firewall rules (--iptables=false), and
# instead of docker0 (the main engine's) it uses a bridge made here
# ($SWARM_BRIDGE, default bswarm0, address $SWARM_ADDR/24), so its containers
# still get a network like the main engine's (a veth on a bridge, an address)
# and the comparison stays fair. The swarm manager advertises and listens on
# that bridge's address, so its ports (2377, 7946) cannot clash with anything
# on loopback or eth0. The bridge is removed on stop.
# Never run a second engine here with --bridge=none: at start such an engine
# deletes the interface docker0, which is the main engine's.
set -euo pipefail
dir=${SWARM_DIR:-/tmp/bicycle-swarm}
bridge=${SWARM_BRIDGE:-bswarm0}
addr=${SWARM_ADDR:-10.254.77.1}
sock="unix://$dir/docker.sock"
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "swarm-engine: $*" >&2; exit 1; }
d() { docker -H "$sock" "$@"; }

start() {
  command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
  command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
  [ "$(id -u)" = 0 ] || die "must run as root (it starts a dockerd and makes a bridge)"
  if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
    die "an engine already runs from $dir (pid $(cat "$dir/dockerd.pid")); run '$0 stop' first"
  fi
  mkdir -p "$dir/data" "$dir/exec"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge || die "could not make the bridge $bridge (needs CAP_NET_ADMIN)"
  fi
  ip addr replace "$addr/24" dev "$bridge"
  ip link set "$bridge" up
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "$sock" --pidfile "$dir/dockerd.pid" \
    --bridge="$bridge" --iptables=false --ip-masq=false --ip-forward=false \
    >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/dockerd.launcher.pid"
  for _ in $(seq 1 150); do
    d version >/dev/null 2>&1 && break
    kill -0 "$(cat "$dir/dockerd.launcher.pid")" 2>/dev/null || die "dockerd exited at start; see $dir/dockerd.log: $(tail -5 "$dir/dockerd.log")"
    sleep 0.2
  done
  d version >/dev/null 2>&1 || die "dockerd on $sock did not answer within 30 s; see $dir/dockerd.log"
  "$here/build-test-images.sh" "$sock" >&2
  if [ "$(d info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    d swarm init --advertise-addr "$addr" --listen-addr "$addr:2377" >&2 \
      || die "docker swarm init failed; see $dir/dockerd.log"
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
  # The engine's own containerd and shims, if any outlived it (found by our exec-root only).
  for p in $(pgrep -f -- "$dir/exec" || true); do kill -KILL "$p" 2>/dev/null || true; done
  # Mounts left under the data root (overlay layers, netns) would make rm fail.
  { grep -o " $dir[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
  ip link del "$bridge" 2>/dev/null || true
  # Swarm init made docker_gwbridge in the host's network namespace; remove it unless the main engine uses one.
  if ip link show docker_gwbridge >/dev/null 2>&1 && ! docker network inspect docker_gwbridge >/dev/null 2>&1; then
    ip link del docker_gwbridge 2>/dev/null || true
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
