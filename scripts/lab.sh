#!/usr/bin/env bash
# A cluster of several hosts on this machine, for trying Bicycle and for the
# cluster tests: each host has its own dockerd and its own bicycled on
# 127.0.0.(10+i):7070. Needs root (dockerd) and `npm run build` first.
#   scripts/lab.sh up 3       start 3 hosts (host-1 founds the cluster, the others join it)
#   scripts/lab.sh kill 2     lose host-2: its bicycled, its containers and its engine die at once
#   scripts/lab.sh restart 2  bring host-2 back on its old data
#   scripts/lab.sh down       stop and remove everything
# State lives in $BICYCLE_LAB_DIR (default ./.lab); set BICYCLE_LAB_HOSTS for kill/restart/down of a lab larger than 3.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node dist/test/helpers/lab-cli.js "$@"
