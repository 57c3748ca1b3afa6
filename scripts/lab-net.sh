#!/usr/bin/env bash
# The network of a lab of hosts on this machine, shared by the Bicycle lab
# (scripts/lab/) and the Swarm lab (bench/swarm-cluster.sh). Needs root.
#
#   scripts/lab-net.sh up PREFIX SUBNET N          the switch and N hosts (below)
#   scripts/lab-net.sh down PREFIX                 every namespace of PREFIX, its processes, the leg
#   scripts/lab-net.sh partition PREFIX A B [--one-way]
#                                                  drop A's packets to B and, unless --one-way, B's to A
#   scripts/lab-net.sh heal PREFIX                 remove every partition rule
#   scripts/lab-net.sh kill PREFIX I               SIGKILL every process in host I's namespace (a lost machine's
#                                                  engine, containerd, shims...; containers have namespaces of their own)
#
# What `up` makes:
#   PREFIX-sw   a "switch" namespace holding the bridge br0; on it one veth
#               per host (hI) and the leg (leg).
#   PREFIX-I    host I (1..N): `lo` up, eth0 = SUBNET.I/24, the other end of hI.
#   lab-SUBNET  the leg's end in the machine's own namespace, SUBNET.254/24,
#               so that tests, the CLI and benchmarks here reach every host.
# No address is added anywhere else, and nothing is routed beyond SUBNET.0/24.
#
# Partitions are rules inside the hosts' namespaces, in the chain BICYCLE-LAB
# of the raw table, jumped from PREROUTING: "A's packets to B are dropped" is
# `-s SUBNET.A -j DROP` in B's namespace. Dropping on arrival, before
# conntrack and NAT, loses every packet from A the way a cut link would (A
# sees timeouts), whether it is for B itself or NATed on to one of
# B's containers, and whether it left A from A's own processes or from A's
# containers (masqueraded to SUBNET.A). The leg is never partitioned. The
# engines in the hosts' namespaces manage the nat and filter tables; none
# touches this chain.
#
# Commands enter a namespace with `nsenter --net=`: `ip netns exec` also
# remounts /sys, which hides the cgroup mounts a dockerd needs.
set -eEuo pipefail

CHAIN=BICYCLE-LAB
die() { echo "lab-net: $*" >&2; exit 1; }
in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" "$@"; }
exists() { [ -e "/var/run/netns/$1" ]; }

# The namespaces of PREFIX that exist: hosts first (in number order), the switch last.
namespaces() {
  local prefix=$1 ns n
  ip netns list | cut -d' ' -f1 | while read -r ns; do
    n=${ns#"$prefix"-}
    if [ "$n" != "$ns" ] && [[ $n =~ ^[0-9]+$ ]]; then echo "$n"; fi
  done | sort -n | while read -r n; do echo "$prefix-$n"; done
  if exists "$prefix-sw"; then echo "$prefix-sw"; fi
}

# Host I's address, read from its eth0.
address() {
  local ns="$1-$2"
  exists "$ns" || die "no host $2: namespace $ns does not exist"
  ip -n "$ns" -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1]; exit }'
}

up() {
  local prefix=${1:?PREFIX} subnet=${2:?SUBNET (three octets, e.g. 10.78.0)} count=${3:?N}
  [[ $subnet =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SUBNET must be three octets such as 10.78.0, not $subnet"
  [[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 253 ] || die "N must be 1 to 253, not $count"
  [ "$(id -u)" = 0 ] || die "must run as root (it makes network namespaces)"
  command -v ip >/dev/null || die "ip not found (apt-get install iproute2)"
  command -v iptables >/dev/null || die "iptables not found (apt-get install iptables)"
  local leg="lab-$subnet"
  [ -n "$(namespaces "$prefix")" ] && die "namespaces of $prefix exist already; run '$0 down $prefix' first"
  ip link show "$leg" >/dev/null 2>&1 && die "$leg exists already: a lab on $subnet.0/24 is up"
  [ -z "$(ip -4 route show table all root "$subnet.0/24")" ] || die "$subnet.0/24 is routed in this namespace already; choose another subnet"

  local sw="$prefix-sw"
  # Whoever makes the switch owns PREFIX: a second `up` racing this one fails here, before it could remove anything.
  ip netns add "$sw"
  trap 'down "$prefix" >/dev/null 2>&1 || true' ERR
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local i ns
  for i in $(seq 1 "$count"); do
    ns="$prefix-$i"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$sw" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "h$i" master br0 up
    ip -n "$ns" addr add "$subnet.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    in_ns "$ns" iptables -w -t raw -N "$CHAIN"
    in_ns "$ns" iptables -w -t raw -A PREROUTING -j "$CHAIN"
  done
  ip link add "$leg" type veth peer name leg netns "$sw"
  ip -n "$sw" link set leg master br0 up
  ip addr add "$subnet.254/24" dev "$leg"
  ip link set "$leg" up
  trap - ERR
}

# Kills every process of namespace ns at once (whatever runs there was started by the lab or its user) and
# waits until they are reaped: a dead containerd not yet reaped still has its pid, and an engine started
# again on the same exec root would take it for a live one and wait on its socket.
kill_all() {
  local pids pid
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 100); do
    for pid in $pids; do [ -e "/proc/$pid" ] && break; pid=; done
    [ -z "$pid" ] && return 0
    sleep 0.1
  done
  echo "lab-net: processes of $1 still not reaped after 10 s:" $pids >&2
}

down() {
  local prefix=${1:?PREFIX} ns
  for ns in $(namespaces "$prefix"); do
    # A process left in the namespace would keep it alive.
    kill_all "$ns"
    # Deleting the leg's switch end deletes its end in this namespace too.
    [ "$ns" = "$prefix-sw" ] && ip -n "$ns" link del leg 2>/dev/null || true
    ip netns del "$ns"
  done
}

partition() {
  local prefix=${1:?PREFIX} a=${2:?A} b=${3:?B} oneway=${4:-}
  [ "$a" != "$b" ] || die "a host cannot be partitioned from itself"
  case "$oneway" in '' | --one-way) ;; *) die "unknown option $oneway (accepted: --one-way)" ;; esac
  local ipa ipb
  ipa=$(address "$prefix" "$a")
  ipb=$(address "$prefix" "$b")
  drop "$prefix-$b" "$ipa"
  [ -n "$oneway" ] || drop "$prefix-$a" "$ipb"
}

# Drops, in namespace ns, every packet arriving from address (once, however often asked).
drop() {
  in_ns "$1" iptables -w -t raw -C "$CHAIN" -s "$2" -j DROP 2>/dev/null || in_ns "$1" iptables -w -t raw -A "$CHAIN" -s "$2" -j DROP
}

heal() {
  local prefix=${1:?PREFIX} ns
  for ns in $(namespaces "$prefix"); do
    [ "$ns" = "$prefix-sw" ] || in_ns "$ns" iptables -w -t raw -F "$CHAIN"
  done
}

case "${1:-}" in
  kill) exists "${2:?PREFIX}-${3:?I}" || die "no host $3: namespace $2-$3 does not exist"; kill_all "$2-$3" ;;
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  partition) shift; partition "$@" ;;
  heal) shift; heal "$@" ;;
  *) echo "usage: $0 up PREFIX SUBNET N | down PREFIX | partition PREFIX A B [--one-way] | heal PREFIX | kill PREFIX I" >&2; exit 2 ;;
esac
