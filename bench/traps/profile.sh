#!/usr/bin/env bash
# Where a persisted trap's CPU goes (issue 11): `outpost run` with the trap receiver, flooded
# by trap_flood at RATE for SECS, sampled by `perf record -g -p PID` for the whole flood and
# its drain. Prints the share of samples per thread (read loop "outpost-trap", writer on the
# tokio workers, "outpost-store") and the top symbols, then the µs of CPU per persisted trap
# of this run (perf's own overhead included, so a little above run.sh's figure).
#
# Usage: bench/traps/profile.sh   (repo root, after the release build run.sh names)
# Env: OUTPOST, FLOOD, RATE (50000), SECS (4), TOP (25), OUT (perf.data path, kept).
set -euo pipefail
OUTPOST=${OUTPOST:-${CARGO_TARGET_DIR:-target}/release/outpost}
FLOOD=${FLOOD:-${CARGO_TARGET_DIR:-target}/release/trap_flood}
RATE=${RATE:-50000}
SECS=${SECS:-4}
TOP=${TOP:-25}
PORT=${PORT:-11620}
API=${API:-127.0.0.1:17180}
WORK=$(mktemp -d)
OUT=${OUT:-$WORK/perf.data}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK/op"; }
trap cleanup EXIT
command -v perf >/dev/null || { echo "perf missing (apt-get install linux-perf)" >&2; exit 1; }

count() {
  curl -s -H "Authorization: Bearer $(cat "$WORK/op/token")" "http://$API/metrics" |
    awk '/^outpost_trap_accepted_total /{print $2+0; f=1} END{if(!f) print 0}'
}

mkdir -p "$WORK/op"
OUTPOST_TRAP_ENABLED=true OUTPOST_TRAP_LISTEN=127.0.0.1 OUTPOST_TRAP_PORT=$PORT \
  OUTPOST_TRAP_LOG=false OUTPOST_API_LISTEN=$API LOG_LEVEL=info \
  "$OUTPOST" run --data-dir "$WORK/op" 2>"$WORK/op.log" &
pid=$!; PIDS+=("$pid")
until curl -s -o /dev/null "http://$API/healthz"; do sleep 0.05; done
total=$((RATE * SECS))
perf record -q -F 4999 -g -o "$OUT" -p "$pid" 2>/dev/null &
perfpid=$!; PIDS+=("$perfpid")
sleep 0.3 # perf attaches asynchronously; nothing else waits on it
t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
"$FLOOD" "127.0.0.1:$PORT" "$RATE" "$SECS" public >/dev/null
for _ in $(seq 100); do [ "$(count)" -ge "$total" ] && break; sleep 0.1; done
t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
got=$(count)
kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true
kill "$pid"; wait "$pid" 2>/dev/null || true
tick_us=$((1000000 / $(getconf CLK_TCK)))
echo "# $(date -u +%FT%TZ) rate=$RATE secs=$SECS persisted=$got/$total load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v t=$((t1 - t0)) -v g="$got" -v us="$tick_us" 'BEGIN{printf "cpu_us_per_trap=%.2f (under perf)\n", t*us/g}'
echo "## by thread"
perf report -i "$OUT" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
echo "## top symbols (self)"
perf report -i "$OUT" --no-children --sort comm,sym --stdio -g none 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -"$TOP"
echo "perf data: $OUT"
