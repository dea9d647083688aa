#!/usr/bin/env bash
# Side by side: socktop_agent 1.60.1 and `outpost run`'s /ws, in the same run, the two sides
# alternated (A B A B ...) in every phase, medians of ROUNDS rounds, ratios per request.
#
# usage (from anywhere): [OUTPOST_BIN=...] [BENCH=...] [STARTUP=...] bash bench/host/run.sh
#   OUTPOST_BIN  an `outpost` release binary; default $CARGO_TARGET_DIR/release/outpost
#                (built if missing). Started as `outpost run` on loopback, fresh data dir.
#   BENCH        outpost-host-bench (the load client); built if missing.
#   STARTUP      the `startup` bench binary (start-up to /healthz); built if missing.
# env: ROUNDS (3), LOAD_SECS (5), IDLE_SECS (60), STARTUP_RUNS (20),
#      REQUESTS ("get_metrics get_processes get_disks")
#
# Phases, each alternating the sides:
#   connector  socktop_connector 1.60 (socktop's client library) decodes each side's replies;
#   idle       both started fresh and cold (page cache dropped), no client for IDLE_SECS:
#              RSS and CPU ticks, per round;
#   cached     default caches on both (socktop_agent's and Outpost's defaults are the same:
#              metrics 250 ms, disks 1 s, processes 1.5 s): one connection, one request in
#              flight (as socktop's TUI), LOAD_SECS per run;
#   uncached   every TTL 0 on both sides, the same load;
#   start-up   `startup`: `outpost run` to /healthz ready, median of STARTUP_RUNS.
# Load runs go A B A B per request: socktop_agent, then Outpost, ROUNDS times.
#
# All traffic stays on 127.0.0.1. socktop_agent itself binds 0.0.0.0; we only ever connect to
# loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-3}"
LOAD_SECS="${LOAD_SECS:-5}"
IDLE_SECS="${IDLE_SECS:-60}"
STARTUP_RUNS="${STARTUP_RUNS:-20}"
REQUESTS="${REQUESTS:-get_metrics get_processes get_disks}"
TARGET="${CARGO_TARGET_DIR:-target}"
OUTPOST_BIN="${OUTPOST_BIN:-$TARGET/release/outpost}"
BENCH="${BENCH:-$TARGET/release/outpost-host-bench}"
STARTUP="${STARTUP:-$TARGET/release/startup}"
SOCKTOP_PORT=38401
OUTPOST_PORT=38403
TMP=$(mktemp -d)
SOCKTOP_PID=""
OUTPOST_PID=""
cleanup() {
  for p in "$SOCKTOP_PID" "$OUTPOST_PID"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

if ! command -v socktop_agent >/dev/null; then
  dpkg-query -W -f='${Status}' libdrm-dev 2>/dev/null | grep -q 'install ok installed' \
    || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdrm-dev; }
  cargo install socktop_agent --version 1.60.1
fi
[ -x "$OUTPOST_BIN" ] || cargo build --release -q -p outpost --bin outpost
[ -x "$BENCH" ] || cargo build --release -q -p outpost-host --features bench --bin outpost-host-bench
[ -x "$STARTUP" ] || cargo build --release -q -p outpost-bench --bin startup

wait_port() { # PORT: wait until something listens, 20 s deadline
  local deadline=$((SECONDS + 20))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "port $1 never opened" >&2; exit 1; }
    sleep 0.1
  done
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (a > 0) ? "%.2f" : "n/a", b / a }'; }

start_socktop() { # TTL_MS or "" for the defaults
  if [ -n "$1" ]; then
    SOCKTOP_AGENT_METRICS_TTL_MS="$1" SOCKTOP_AGENT_DISKS_TTL_MS="$1" SOCKTOP_AGENT_PROCESSES_TTL_MS="$1" \
      socktop_agent --port $SOCKTOP_PORT >/dev/null 2>&1 &
  else
    socktop_agent --port $SOCKTOP_PORT >/dev/null 2>&1 &
  fi
  SOCKTOP_PID=$!; wait_port $SOCKTOP_PORT
}
start_outpost() { # TTL_MS or "" for the defaults; fresh data dir
  local dir="$TMP/outpost-$RANDOM" env=()
  [ -n "$1" ] && env=(OUTPOST_METRICS_TTL_MS="$1" OUTPOST_METRICS_DISKS_TTL_MS="$1" OUTPOST_METRICS_PROCESSES_TTL_MS="$1")
  env "${env[@]}" OUTPOST_TOKEN=bench-token LOG_LEVEL=warn \
    "$OUTPOST_BIN" run --data-dir "$dir" --listen "127.0.0.1:$OUTPOST_PORT" 2>>"$TMP/outpost.log" &
  OUTPOST_PID=$!; wait_port $OUTPOST_PORT
}
stop_all() {
  for p in "$SOCKTOP_PID" "$OUTPOST_PID"; do [ -n "$p" ] && { kill "$p"; wait "$p" 2>/dev/null || true; }; done
  SOCKTOP_PID=""; OUTPOST_PID=""
}
SOCKTOP_URL="ws://127.0.0.1:$SOCKTOP_PORT/ws"
OUTPOST_URL="ws://127.0.0.1:$OUTPOST_PORT/ws?token=bench-token"
load() { "$BENCH" load "$1" "$2" "$LOAD_SECS" | awk '{ print $2 }'; } # URL REQUEST -> req/s

echo "== $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(ls -d /proc/[0-9]* | wc -l) processes"
echo "outpost: $OUTPOST_BIN ($(stat -c %s "$OUTPOST_BIN") bytes); socktop_agent: $(command -v socktop_agent)"
echo "rounds $ROUNDS, load runs ${LOAD_SECS} s, idle ${IDLE_SECS} s"

echo "== connector: socktop_connector decodes each side's replies"
start_socktop ""; start_outpost ""
echo "-- socktop_agent"; "$BENCH" connector-check "$SOCKTOP_URL"
echo "-- outpost";       "$BENCH" connector-check "$OUTPOST_URL"
stop_all

echo "== idle: started fresh, no client for ${IDLE_SECS} s (the port probe is the only connection)"
IDLE_S=""; IDLE_O=""
for r in $(seq "$ROUNDS"); do
  # Both start cold: how much of a binary one page fault maps depends on which of its pages
  # the page cache holds, and how they got there (bench/startup/compare.sh says more); a
  # binary just built or copied is cached whole, one installed long ago only in part. So the
  # clean page cache is dropped before every round (root), as at boot.
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches
  else echo "warning: not root, page cache not dropped: the two sides' RSS may not compare" >&2; fi
  # Alternate which side starts first.
  if [ $((r % 2)) -eq 1 ]; then start_socktop ""; start_outpost ""; else start_outpost ""; start_socktop ""; fi
  t_s=$(ticks "$SOCKTOP_PID"); t_o=$(ticks "$OUTPOST_PID")
  sleep "$IDLE_SECS"
  s=$(rss_kb "$SOCKTOP_PID"); o=$(rss_kb "$OUTPOST_PID")
  echo "round $r  socktop_agent RSS $s kB (anon $(anon_kb "$SOCKTOP_PID")) ticks $(( $(ticks "$SOCKTOP_PID") - t_s ))   outpost RSS $o kB (anon $(anon_kb "$OUTPOST_PID")) ticks $(( $(ticks "$OUTPOST_PID") - t_o ))"
  IDLE_S="$IDLE_S $s"; IDLE_O="$IDLE_O $o"
  stop_all
done
ms=$(echo "$IDLE_S" | median); mo=$(echo "$IDLE_O" | median)
SUMMARY="idle RSS (kB)|$ms|$mo|$(ratio "$ms" "$mo")"

phase() { # NAME TTL_MS|"" : both sides up, every request A B A B
  local name="$1" ttl="$2"
  echo "== $name: one connection, one request in flight, ${LOAD_SECS} s per run, A = socktop_agent, B = outpost"
  start_socktop "$ttl"; start_outpost "$ttl"
  for q in $REQUESTS; do
    local all_s="" all_o="" r s o
    for r in $(seq "$ROUNDS"); do
      s=$(load "$SOCKTOP_URL" "$q"); o=$(load "$OUTPOST_URL" "$q")
      echo "$q round $r  socktop_agent $s req/s  outpost $o req/s  ($(ratio "$s" "$o")x)"
      all_s="$all_s $s"; all_o="$all_o $o"
    done
    s=$(echo "$all_s" | median); o=$(echo "$all_o" | median)
    echo "$q median  socktop_agent $s req/s  outpost $o req/s  ratio $(ratio "$s" "$o")x"
    SUMMARY="$SUMMARY
$q, $name (req/s)|$s|$o|$(ratio "$s" "$o")"
  done
  echo "RSS after the load: socktop_agent $(rss_kb "$SOCKTOP_PID") kB, outpost $(rss_kb "$OUTPOST_PID") kB"
  stop_all
}
phase "cached (default TTLs)" ""
phase "uncached (every TTL 0)" 0

echo "== start-up: outpost run to /healthz ready, $STARTUP_RUNS starts"
"$STARTUP" "$OUTPOST_BIN" "$STARTUP_RUNS" 1 | tee "$TMP/startup.txt"
STARTUP_MS=$(awk '/^ready: median/ { print $3 }' "$TMP/startup.txt")

echo "== summary: medians of $ROUNDS alternated rounds; ratio = outpost / socktop_agent"
echo "figure|socktop_agent|outpost|ratio"
echo "$SUMMARY"
echo "start-up to /healthz (ms, median of $STARTUP_RUNS)||$STARTUP_MS|"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
