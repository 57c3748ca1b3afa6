#!/usr/bin/env bash
# Three Docker engines on this machine, each in a network namespace of its
# own, joined by a Linux bridge, as a Swarm of 3 managers: for the failover
# benchmark (bench/failover.ts) to measure Swarm beside Bicycle.
#
#   bench/swarm-cluster.sh start     3 engines, the image loaded in each, swarm init on 1, 2 and 3 joined as managers;
#                                    prints the 3 sockets (unix://...), one a line
#   bench/swarm-cluster.sh kill N    a lost machine: engine N's containers, its dockerd, containerd and shims killed at once
#   bench/swarm-cluster.sh engine N  starts engine N again on its old data (it rejoins the swarm as itself)
#   bench/swarm-cluster.sh stop      everything removed: engines, containers, mounts, namespaces, bridge, files
#
# Network: the lab's (scripts/lab-net.sh, as for a Bicycle lab, on 10.77.0
# so that both can run at once): namespace $NS-sw holds the bridge;
# namespace $NS-N holds engine N with eth0 = 10.77.0.N/24, a veth whose other
# end is on the bridge; this machine's leg on the bridge is 10.77.0.254. Each
# engine has its own docker0 and iptables there, configured like the main
# engine (defaults). Engines are entered with nsenter (`ip netns exec`
# remounts /sys and hides the cgroup mounts dockerd needs).
set -euo pipefail
dir=${SWARM3_DIR:-/tmp/bicycle-swarm3}
ns=${SWARM3_NETNS:-bicycle-sw3}
subnet=${SWARM3_SUBNET:-10.77.0}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# From dist/bench the scripts directory is two levels up.
[ -x "$root/scripts/build-test-images.sh" ] || root=$(cd "$here/../.." && pwd)

die() { echo "swarm-cluster: $*" >&2; exit 1; }
sock() { echo "unix://$dir/e$1/docker.sock"; }
d() { local n=$1; shift; docker -H "$(sock "$n")" "$@"; }

engine() {
  local n=$1 e="$dir/e$1"
  mkdir -p "$e/data" "$e/exec"
  nsenter --net="/var/run/netns/$ns-$n" dockerd --data-root "$e/data" --exec-root "$e/exec" -H "$(sock "$n")" \
    --pidfile "$e/dockerd.pid" >>"$e/dockerd.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 1 150); do
    d "$n" version >/dev/null 2>&1 && return 0
    kill -0 "$launcher" 2>/dev/null || die "dockerd $n exited at start: $(tail -5 "$e/dockerd.log")"
    sleep 0.2
  done
  die "dockerd $n did not answer within 30 s; see $e/dockerd.log"
}

start() {
  command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
  [ "$(id -u)" = 0 ] || die "must run as root (it makes network namespaces and starts dockerd in them)"
  [ -e "$dir" ] && die "$dir exists; run '$0 stop' first"
  "$root/scripts/lab-net.sh" up "$ns" "$subnet" 3 || die "could not make the network (see above)"
  mkdir -p "$dir"
  for n in 1 2 3; do engine "$n" & done
  wait
  for n in 1 2 3; do "$root/scripts/build-test-images.sh" "$(sock "$n")" >&2 & done
  wait
  d 1 swarm init --advertise-addr "$subnet.1" >&2 || die "docker swarm init failed; see $dir/e1/dockerd.log"
  local token
  token=$(d 1 swarm join-token -q manager)
  for n in 2 3; do
    d "$n" swarm join --advertise-addr "$subnet.$n" --token "$token" "$subnet.1:2377" >&2 || die "engine $n could not join; see $dir/e$n/dockerd.log"
  done
  for n in 1 2 3; do sock "$n"; done
}

kill_engine() {
  local n=$1 e="$dir/e$1"
  # As the lab does for a Bicycle host: its containers, then the engine and what it started.
  d "$n" ps -q 2>/dev/null | xargs -r docker -H "$(sock "$n")" kill >/dev/null 2>&1 || true
  # The engine, its containerd and shims at once; returns once they are reaped.
  "$root/scripts/lab-net.sh" kill "$ns" "$n"
  rm -f "$e/dockerd.pid"
}

stop() {
  for n in 1 2 3; do
    local e="$dir/e$n"
    if [ -S "$e/docker.sock" ]; then
      d "$n" ps -aq 2>/dev/null | xargs -r docker -H "$(sock "$n")" rm -f >/dev/null 2>&1 || true
    fi
    if [ -f "$e/dockerd.pid" ]; then
      local pid
      pid=$(cat "$e/dockerd.pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for n in 1 2 3; do
    local e="$dir/e$n"
    if [ -f "$e/dockerd.pid" ]; then
      local pid
      pid=$(cat "$e/dockerd.pid")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # What outlived its engine (containerd, shims) dies with the namespaces.
  "$root/scripts/lab-net.sh" down "$ns"
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  kill) kill_engine "${2:?engine number}" ;;
  engine) engine "${2:?engine number}" ;;
  stop) stop ;;
  *) echo "usage: $0 start|kill N|engine N|stop" >&2; exit 2 ;;
esac
