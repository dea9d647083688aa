#!/usr/bin/env bash
# Trap receiver benchmark (issues 4 and 11): Outpost and snmptrapd measured in the same run,
# sides alternated (for every round, for every rate: A B A B ...), at stepped rates, with
# one fast sender (trap_flood: pre-encoded v2c traps of 3 varbinds, varied request ids,
# sendmmsg in batches of 64). Medians over the rounds at the end.
#
# Every step starts its receiver fresh, sends RATE*SECS traps, waits until everything is
# accounted for (or stays still for 2 s), then reports received, lost, and receiver CPU
# (utime+stime from /proc/PID/stat, first packet to last accounted) per received trap.
#
# Receivers (RECEIVERS, in the order they alternate):
#   outpost      `outpost run` with the trap receiver; received = outpost_trap_accepted_total,
#                which counts a trap only after the transaction holding its event committed:
#                persisted, not just read.
#   snmptrapd    net-snmp's, logging every trap to a file; received = records in the log.
#   listen-file  `outpost traps listen` printing to a file; received = lines printed.
#   listen-null  `outpost traps listen` printing to /dev/null; received = the lines it says
#                it wrote (its exit summary's "accepted"; a write error would count as dropped).
#   listen-pipe  `outpost traps listen | wc -l`; received = wc's count.
#   (LISTEN_ARGS adds arguments to `traps listen`, e.g. --json.)
#
# Usage: bench/traps/run.sh            (from the repo root, after a release build:
#   cargo build --release -p outpost --bin outpost && cargo build --release -p outpost-bench --bin trap_flood)
# Env: OUTPOST, FLOOD (binaries), RATES, SECS, ROUNDS, RECEIVERS, LISTEN_ARGS,
#      TRAP_LOG (true/false for Outpost's line log).
set -euo pipefail
OUTPOST=${OUTPOST:-${CARGO_TARGET_DIR:-target}/release/outpost}
FLOOD=${FLOOD:-${CARGO_TARGET_DIR:-target}/release/trap_flood}
RATES=${RATES:-"50000 60000 80000 100000"}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-3}
RECEIVERS=${RECEIVERS:-"outpost snmptrapd"}
TRAP_LOG=${TRAP_LOG:-false}
PORT=${PORT:-11620}
API=${API:-127.0.0.1:17180}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
WORK=$(mktemp -d)
RESULTS=$WORK/results
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

# Waits until process $1 used no CPU for 1 s (it has read and written all it will).
idle() {
  local pid=$1 last=-1 still=0 n
  while :; do
    n=$(ticks "$pid")
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
    [ $still -ge 10 ] && return
    sleep 0.1
  done
}

outpost_count() {
  curl -s -H "Authorization: Bearer $(cat "$WORK/op/token")" "http://$API/metrics" |
    awk '/^outpost_trap_accepted_total /{print $2+0; f=1} END{if(!f) print 0}'
}
trapd_count() { grep -c '^20.*\[UDP: ' "$WORK/trapd.log" || true; }
listen_count() { wc -l <"$WORK/listen.out"; }

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

# `outpost traps listen`, its output to a file (listen-file), to /dev/null (listen-null) or
# through a pipe to `wc -l` (listen-pipe).
run_listen() {
  local to=$1 rate=$2 total=$(($2 * SECS)) out wc=
  rm -f "$WORK/listen.out" "$WORK/listen.err" "$WORK/fifo" "$WORK/wc"; : >"$WORK/listen.out"
  case $to in
    file) out=$WORK/listen.out ;;
    null) out=/dev/null ;;
    pipe) mkfifo "$WORK/fifo"; out=$WORK/fifo; wc -l <"$WORK/fifo" >"$WORK/wc" & wc=$! ;;
  esac
  # shellcheck disable=SC2086 # LISTEN_ARGS is a list of words
  "$OUTPOST" traps listen --listen 127.0.0.1 --port "$PORT" --community public ${LISTEN_ARGS:-} \
    >"$out" 2>"$WORK/listen.err" &
  local pid=$!; PIDS+=("$pid")
  until grep -q "listening on" "$WORK/listen.err" 2>/dev/null; do sleep 0.05; done
  local t0; t0=$(ticks $pid)
  "$FLOOD" "127.0.0.1:$PORT" "$rate" "$SECS" public >/dev/null
  if [ "$to" = file ]; then drain $total listen_count >/dev/null; else idle $pid; fi
  local t1; t1=$(ticks $pid)
  local rss; rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid 2>/dev/null || true
  [ -z "$wc" ] || wait "$wc"
  local summary; summary=$(grep -v 'so far' "$WORK/listen.err" | grep ' accepted, ' | tail -1)
  local got
  case $to in
    file) got=$(listen_count) ;;
    null) got=$(awk '{print $3}' <<<"$summary") ;;
    pipe) got=$(cat "$WORK/wc") ;;
  esac
  report "listen-$to" "$rate" "$total" "${got:-0}" $((t1 - t0)) "$rss"
  [ "${got:-0}" -ge "$total" ] || echo "          (${summary#outpost traps: })"
}

report() { # name rate sent got ticks rss_kib
  awk -v n="$1" -v r="$2" -v s="$3" -v g="$4" -v t="$5" -v m="$6" -v us="$TICK_US" 'BEGIN{
    lost = s - g; pct = 100 * lost / s; cpu = (g > 0) ? t * us / g : 0;
    printf "%-11s rate=%d sent=%d received=%d lost=%d (%.2f%%) cpu_us_per_trap=%.2f peak_rss_kib=%d\n",
      n, r, s, g, lost, pct, cpu, m }' | tee -a "$RESULTS"
}

echo "# $(date -u +%FT%TZ) SECS=$SECS ROUNDS=$ROUNDS RECEIVERS=\"$RECEIVERS\" TRAP_LOG=$TRAP_LOG load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  echo "## round $round  load: $(cut -d' ' -f1-3 /proc/loadavg)"
  for rate in $RATES; do
    for r in $RECEIVERS; do
      case $r in
        outpost) run_outpost "$rate" ;;
        snmptrapd) run_trapd "$rate" ;;
        listen-file) run_listen file "$rate" ;;
        listen-null) run_listen null "$rate" ;;
        listen-pipe) run_listen pipe "$rate" ;;
        *) echo "unknown receiver $r" >&2; exit 2 ;;
      esac
    done
  done
done

# Medians over the rounds, per receiver and rate; the ratio is of the medians.
echo "# medians of $ROUNDS rounds  load: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ split($2, a, "="); split($7, c, "="); split($6, l, "[(%]");
       key = $1 " " a[2]; cpu[key] = cpu[key] " " c[2]; loss[key] = loss[key] " " l[2];
       if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
     function med(s,   v, k, i, j, t) {
       k = split(s, v, " ");
       for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
       return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
     END { for (i = 1; i <= n; i++) { split(order[i], p, " ");
             printf "%-11s rate=%6d median_cpu_us_per_trap=%.2f median_loss=%.2f%%  (cpu:%s; loss%%:%s)\n",
               p[1], p[2], med(cpu[order[i]]), med(loss[order[i]]), cpu[order[i]], loss[order[i]] } }' "$RESULTS"
