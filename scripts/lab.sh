#!/usr/bin/env bash
# A cluster of several hosts on this machine, for trying Bicycle, the cluster
# tests and the benchmarks. Each host is a network namespace
# (bicycle-lab-SUBNET-i) with eth0 = SUBNET.i/24 on the lab's bridge, its own
# dockerd and its own bicycled on SUBNET.i:7070; this machine reaches them all
# from SUBNET.254. SUBNET is $BICYCLE_LAB_SUBNET, default 10.78.0.
# Needs root and `npm run build` first.
#   scripts/lab.sh up 3                  start 3 hosts (host-1 founds the cluster, the others join it)
#   scripts/lab.sh kill 2                lose host-2: its bicycled, its containers and its engine die at once
#   scripts/lab.sh restart 2             bring host-2 back on its old data
#   scripts/lab.sh partition 1 2         cut host-1 and host-2 off from each other
#   scripts/lab.sh partition 1 2 --one-way   drop host-1's packets to host-2 only
#   scripts/lab.sh heal                  remove every partition
#   scripts/lab.sh exec 2 CMD ARGS...    run a command inside host-2's network namespace
#   scripts/lab.sh down                  stop and remove everything
# State lives in $BICYCLE_LAB_DIR (default ./.lab); `up` records the lab's size, subnet and port there.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node dist/scripts/lab/cli.js "$@"
