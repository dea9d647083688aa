#!/usr/bin/env bash
# Side-by-side host-metrics benchmark: socktop_agent vs the `outpost` binary's
# /ws (and outpost-host-bench, the bare library server), in the same run.
#
# usage: bench/host/run.sh [OUTPOST_WS_URL [OUTPOST_PID]]
#   OUTPOST_BIN     env: an `outpost` binary (release). The script starts it
#                   itself, `outpost run` on loopback with a fresh data dir,
#                   with default caches for the idle and cached phases and
#                   with OUTPOST_METRICS_TTL_MS=0 OUTPOST_METRICS_PROCESSES_TTL_MS=0
#                   for the cache-off phase.
#   OUTPOST_WS_URL  or: an already running Outpost's /ws URL with ?token=
#   OUTPOST_PID     and its pid (idle RSS and CPU ticks)
# env: IDLE_SECS (60), LOAD_SECS (10)
#
# All traffic stays on 127.0.0.1. socktop_agent itself binds 0.0.0.0; we
# only ever connect to loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE_SECS="${IDLE_SECS:-60}"
LOAD_SECS="${LOAD_SECS:-10}"
OUTPOST_URL="${1:-}"
OUTPOST_PID="${2:-}"
OUTPOST_BIN="${OUTPOST_BIN:-}"
SOCKTOP_PORT=38401
HOST_PORT=38402
OUTPOST_PORT=38403
PIDS=()
TMP=$(mktemp -d)
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

if ! command -v socktop_agent >/dev/null; then
  dpkg-query -W -f='${Status}' libdrm-dev 2>/dev/null | grep -q 'install ok installed' \
    || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdrm-dev; }
  cargo install socktop_agent --version 1.60.1
fi
# BENCH (env): a prebuilt outpost-host-bench, to skip the build.
if [ -z "${BENCH:-}" ]; then
  cargo build --release -q -p outpost-host --features bench --bin outpost-host-bench
  BENCH="${CARGO_TARGET_DIR:-target}/release/outpost-host-bench"
fi

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

start_socktop() { # TTL_MS or "" for default (metrics and processes)
  if [ -n "$1" ]; then SOCKTOP_AGENT_METRICS_TTL_MS="$1" SOCKTOP_AGENT_PROCESSES_TTL_MS="$1" socktop_agent --port $SOCKTOP_PORT >/dev/null 2>&1 &
  else socktop_agent --port $SOCKTOP_PORT >/dev/null 2>&1 & fi
  SOCKTOP_PID=$!; PIDS+=("$SOCKTOP_PID"); wait_port $SOCKTOP_PORT
}
start_host() { # METRICS_TTL_MS [PROCESSES_TTL_MS]
  "$BENCH" serve $HOST_PORT "$@" &
  HOST_PID=$!; PIDS+=("$HOST_PID"); wait_port $HOST_PORT
}
start_outpost() { # METRICS_TTL_MS PROCESSES_TTL_MS: the real binary, fresh data dir
  [ -n "$OUTPOST_BIN" ] || return 0
  local dir="$TMP/outpost-$1"
  OUTPOST_TOKEN=bench-token OUTPOST_METRICS_TTL_MS="$1" OUTPOST_METRICS_PROCESSES_TTL_MS="$2" \
    LOG_LEVEL=warn "$OUTPOST_BIN" run --data-dir "$dir" --listen "127.0.0.1:$OUTPOST_PORT" 2>"$TMP/outpost-$1.log" &
  OUTPOST_PID=$!; PIDS+=("$OUTPOST_PID"); wait_port $OUTPOST_PORT
  OUTPOST_URL="ws://127.0.0.1:$OUTPOST_PORT/ws?token=bench-token"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

start_outpost 250 1500
echo "== socktop_connector decodes each agent's replies"
start_host 250
"$BENCH" connector-check "ws://127.0.0.1:$HOST_PORT/ws"
[ -n "$OUTPOST_URL" ] && "$BENCH" connector-check "$OUTPOST_URL"
stop $HOST_PID
if [ -n "$OUTPOST_BIN" ]; then # restart: the idle figures must not include the check above
  stop "$OUTPOST_PID"; rm -rf "$TMP/outpost-250"; start_outpost 250 1500
fi

echo "== idle: no client, ${IDLE_SECS} s (the port probe is the only connection)"
start_socktop ""
start_host 250
t_s=$(ticks $SOCKTOP_PID); t_h=$(ticks $HOST_PID)
[ -n "$OUTPOST_PID" ] && t_o=$(ticks "$OUTPOST_PID")
sleep "$IDLE_SECS"
echo "socktop_agent  RSS $(rss_kb $SOCKTOP_PID) kB (anon $(anon_kb $SOCKTOP_PID) kB)  CPU ticks $(( $(ticks $SOCKTOP_PID) - t_s ))"
echo "outpost-host   RSS $(rss_kb $HOST_PID) kB (anon $(anon_kb $HOST_PID) kB)  CPU ticks $(( $(ticks $HOST_PID) - t_h ))"
[ -n "$OUTPOST_PID" ] && echo "outpost        RSS $(rss_kb "$OUTPOST_PID") kB (anon $(anon_kb "$OUTPOST_PID") kB)  CPU ticks $(( $(ticks "$OUTPOST_PID") - t_o ))"

echo "== get_metrics, cache on (250 ms), one connection, ${LOAD_SECS} s"
echo -n "socktop_agent  "; "$BENCH" load "ws://127.0.0.1:$SOCKTOP_PORT/ws" get_metrics "$LOAD_SECS"
echo -n "outpost-host   "; "$BENCH" load "ws://127.0.0.1:$HOST_PORT/ws" get_metrics "$LOAD_SECS"
[ -n "$OUTPOST_URL" ] && { echo -n "outpost        "; "$BENCH" load "$OUTPOST_URL" get_metrics "$LOAD_SECS"; }

echo "== get_processes (default 1.5 s process cache), ${LOAD_SECS} s"
echo -n "socktop_agent  "; "$BENCH" load "ws://127.0.0.1:$SOCKTOP_PORT/ws" get_processes "$LOAD_SECS"
echo -n "outpost-host   "; "$BENCH" load "ws://127.0.0.1:$HOST_PORT/ws" get_processes "$LOAD_SECS"
[ -n "$OUTPOST_URL" ] && { echo -n "outpost        "; "$BENCH" load "$OUTPOST_URL" get_processes "$LOAD_SECS"; }
echo "RSS after load: socktop_agent $(rss_kb $SOCKTOP_PID) kB, outpost-host $(rss_kb $HOST_PID) kB"
[ -n "$OUTPOST_PID" ] && echo "RSS after load: outpost $(rss_kb "$OUTPOST_PID") kB"
stop $SOCKTOP_PID; stop $HOST_PID
[ -n "$OUTPOST_BIN" ] && stop "$OUTPOST_PID"

echo "== cache off (metrics and processes TTL 0), ${LOAD_SECS} s each"
start_socktop 0
start_host 0 0
start_outpost 0 0
echo -n "socktop_agent  "; "$BENCH" load "ws://127.0.0.1:$SOCKTOP_PORT/ws" get_metrics "$LOAD_SECS"
echo -n "outpost-host   "; "$BENCH" load "ws://127.0.0.1:$HOST_PORT/ws" get_metrics "$LOAD_SECS"
[ -n "$OUTPOST_BIN" ] && { echo -n "outpost        "; "$BENCH" load "$OUTPOST_URL" get_metrics "$LOAD_SECS"; }
echo -n "socktop_agent  "; "$BENCH" load "ws://127.0.0.1:$SOCKTOP_PORT/ws" get_processes "$LOAD_SECS"
echo -n "outpost-host   "; "$BENCH" load "ws://127.0.0.1:$HOST_PORT/ws" get_processes "$LOAD_SECS"
[ -n "$OUTPOST_BIN" ] && { echo -n "outpost        "; "$BENCH" load "$OUTPOST_URL" get_processes "$LOAD_SECS"; }
[ -z "$OUTPOST_BIN" ] && [ -n "$OUTPOST_URL" ] && echo "(outpost: restart it with its metrics TTL at 0 and run again for its uncached figure)"
true
