#!/usr/bin/env bash
# Trap receiver benchmark (issue 4): Outpost and snmptrapd measured in the same run, at
# stepped rates, with one fast sender (trap_flood: pre-encoded v2c traps of 3 varbinds,
# varied request ids, sendmmsg in batches of 64).
#
# For each receiver and rate: start it fresh, send RATE*SECS traps, wait until everything
# is accounted for (or stays still for 2 s), then report received, lost, and receiver CPU
# (utime+stime from /proc/PID/stat) per received trap. Outpost's count is
# outpost_trap_accepted_total, incremented only after the event's transaction committed:
# persisted, not just read.
#
# Usage: bench/traps/run.sh            (from the repo root, after a release build:
#   cargo build --release -p outpost --bin outpost -p outpost-bench --bin trap_flood)
# Env: OUTPOST, FLOOD (binaries), RATES, SECS, TRAP_LOG (true/false for Outpost's line log).
set -euo pipefail
OUTPOST=${OUTPOST:-${CARGO_TARGET_DIR:-target}/release/outpost}
FLOOD=${FLOOD:-${CARGO_TARGET_DIR:-target}/release/trap_flood}
RATES=${RATES:-"10000 20000 40000 50000 60000 80000 100000"}
SECS=${SECS:-5}
TRAP_LOG=${TRAP_LOG:-false}
PORT=${PORT:-11620}
API=${API:-127.0.0.1:17180}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
for b in "$OUTPOST" "$FLOOD" /usr/sbin/snmptrapd; do
  [ -x "$b" ] || { echo "missing $b (release build? scripts/deps/20-snmp.sh?)" >&2; exit 1; }
done

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# Waits until "$1" (a command printing a number) reaches $2, or stops moving for 2 s.
drain() {
  local want=$1 cmd=$2 last=-1 still=0 n
  while :; do
    n=$($cmd)
    [ "$n" -ge "$want" ] && { echo "$n"; return; }
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
    [ $still -ge 20 ] && { echo "$n"; return; }
    sleep 0.1
  done
}

outpost_count() {
  curl -s -H "Authorization: Bearer $(cat "$WORK/op/token")" "http://$API/metrics" |
    awk '/^outpost_trap_accepted_total /{print $2+0; f=1} END{if(!f) print 0}'
}
trapd_count() { grep -c '^20.*\[UDP: ' "$WORK/trapd.log" || true; }

run_outpost() {
  local rate=$1 total=$((rate * SECS))
  rm -rf "$WORK/op"; mkdir -p "$WORK/op"
  OUTPOST_TRAP_ENABLED=true OUTPOST_TRAP_LISTEN=127.0.0.1 OUTPOST_TRAP_PORT=$PORT \
    OUTPOST_TRAP_LOG=$TRAP_LOG OUTPOST_API_LISTEN=$API LOG_LEVEL=info \
    "$OUTPOST" run --data-dir "$WORK/op" 2>"$WORK/op.log" &
  local pid=$!; PIDS+=("$pid")
  until curl -s -o /dev/null "http://$API/healthz"; do sleep 0.05; done
  local t0; t0=$(ticks $pid)
  "$FLOOD" "127.0.0.1:$PORT" "$rate" "$SECS" public >/dev/null
  local got; got=$(drain $total outpost_count)
  local t1; t1=$(ticks $pid)
  local rss; rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  # Where a loss went: the kernel (socket buffer full) or a counted drop by reason.
  local why; why=$(curl -s -H "Authorization: Bearer $(cat "$WORK/op/token")" "http://$API/metrics" |
    awk '/^outpost_trap_kernel_drops_total /{k=$2} /^outpost_trap_dropped_total/{d=d" "$1"="$2}
         END{printf "kernel_drops=%d%s", k, d}')
  kill $pid; wait $pid 2>/dev/null || true
  report outpost "$rate" "$total" "$got" $((t1 - t0)) "$rss"
  [ "$got" -ge "$total" ] || echo "          ($why)"
}

run_trapd() {
  local rate=$1 total=$((rate * SECS))
  rm -f "$WORK/trapd.log"; mkdir -p "$WORK/persist"
  printf 'disableAuthorization yes\n' >"$WORK/snmptrapd.conf"
  SNMP_PERSISTENT_DIR="$WORK/persist" MIBS="" /usr/sbin/snmptrapd -f -C -c "$WORK/snmptrapd.conf" \
    -Lf "$WORK/trapd.log" -On "udp:127.0.0.1:$PORT" &
  local pid=$!; PIDS+=("$pid")
  until grep -q "NET-SNMP version" "$WORK/trapd.log" 2>/dev/null; do sleep 0.05; done
  local t0; t0=$(ticks $pid)
  "$FLOOD" "127.0.0.1:$PORT" "$rate" "$SECS" public >/dev/null
  local got; got=$(drain $total trapd_count)
  local t1; t1=$(ticks $pid)
  local rss; rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  report snmptrapd "$rate" "$total" "$got" $((t1 - t0)) "$rss"
}

report() { # name rate sent got ticks rss_kib
  awk -v n="$1" -v r="$2" -v s="$3" -v g="$4" -v t="$5" -v m="$6" -v us="$TICK_US" 'BEGIN{
    lost = s - g; pct = 100 * lost / s; cpu = (g > 0) ? t * us / g : 0;
    printf "%-9s rate=%6d sent=%7d received=%7d lost=%6d (%.2f%%) cpu_us_per_trap=%.2f peak_rss_kib=%d\n",
      n, r, s, g, lost, pct, cpu, m }'
}

echo "# $(date -u +%FT%TZ) SECS=$SECS TRAP_LOG=$TRAP_LOG load: $(cut -d' ' -f1-3 /proc/loadavg)"
for rate in $RATES; do
  run_outpost "$rate"
  run_trapd "$rate"
done
