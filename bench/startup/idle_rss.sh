#!/usr/bin/env bash
# Idle RSS of `outpost run` on built-in defaults: started, probed once on /healthz, then
# 5 s idle; VmRSS and RssAnon printed. Two (or more) binaries are alternated, 3 rounds.
#
#   bash bench/startup/idle_rss.sh OLD_BIN NEW_BIN
#
# A quick check that the start-up order file still matches the code (a stale one roughly
# doubles idle RSS); bench/startup/compare.sh and bench/host/run.sh are the full benchmarks.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
for _round in 1 2 3; do
  for bin in "$@"; do
    dir=$(mktemp -d)
    port=$((18900 + RANDOM % 500))
    OUTPOST_TOKEN=t setsid "$bin" run --data-dir "$dir" --listen "127.0.0.1:$port" \
      >/dev/null 2>&1 </dev/null &
    pid=$!
    deadline=$((SECONDS + 10))
    until curl -s -o /dev/null "127.0.0.1:$port/healthz"; do
      [ $SECONDS -lt $deadline ] || { echo "$bin never answered on $port" >&2; kill "$pid"; exit 1; }
      sleep 0.05
    done
    sleep 5
    echo "$bin VmRSS $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") kB," \
      "RssAnon $(awk '/^RssAnon/ {print $2}' "/proc/$pid/status") kB"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
  done
done
