#!/usr/bin/env bash
# Regenerates crates/outpost/link/startup.order, the function order the release link uses
# (see ARCHITECTURE.md, "Start-up code layout"). Run it after changes to the start-up path,
# on a release build of the current source:
#
#   cargo build --release -p outpost
#   cargo build --release -p outpost-host --features bench --bin outpost-host-bench
#   bash bench/host/order.sh [target/release/outpost]
#   cargo build --release -p outpost                    # relinks with the new order
#
# Build `outpost` alone, as `cargo run --release` does: built in one invocation with other
# packages (outpost-bench pulls in the test-support crate), shared dependencies get other
# features, so other symbol names, and a third of the file no longer matches (idle RSS went
# from 6.7 to 7.7 MiB that way). `bench/startup/compare.sh` warns when it does not match.
#
# It runs `outpost run` under valgrind's callgrind and records which functions ran:
#   1. start-up, up to a client's first connection (the port probe), then idle;
#   2. the common requests: /healthz, /metrics, a job, the job list, socktop's /ws.
# The file lists (1), then what (2) added, keeping only names in the binary's symbol table.
# Needs valgrind (Debian: valgrind), python3, nm, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-target/release/outpost}"
BENCH="${BENCH:-target/release/outpost-host-bench}"
OUT=crates/outpost/link/startup.order
PORT=38499
TMP=$(mktemp -d)
VG=""
cleanup() { [ -n "$VG" ] && kill "$VG" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# The agent runs under valgrind through bench/tools/noauxv.py (it says why).

wait_port() {
  local deadline=$((SECONDS + 120))
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "port $PORT never opened" >&2; exit 1; }
    sleep 0.5
  done
}
OUTPOST_TOKEN=order-token LOG_LEVEL=warn python3 bench/tools/noauxv.py valgrind --tool=callgrind \
  --demangle=no --dump-instr=no --callgrind-out-file="$TMP/cg.out" \
  "$BIN" run --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" 2>"$TMP/valgrind.log" &
VG=$!
wait_port
sleep 5
callgrind_control -d startup "$VG" >/dev/null 2>&1
sleep 2
auth=(-H "Authorization: Bearer order-token")
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"
curl -sf -o /dev/null "${auth[@]}" "http://127.0.0.1:$PORT/metrics"
curl -sf -o /dev/null "${auth[@]}" -H 'content-type: application/json' \
  -d '{"kind":"echo","params":{"x":1}}' "http://127.0.0.1:$PORT/v1/jobs"
curl -sf -o /dev/null "${auth[@]}" "http://127.0.0.1:$PORT/v1/jobs"
if [ -x "$BENCH" ]; then
  "$BENCH" load "ws://127.0.0.1:$PORT/ws?token=order-token" get_metrics 2 >/dev/null
  "$BENCH" load "ws://127.0.0.1:$PORT/ws?token=order-token" get_processes 2 >/dev/null
else
  echo "($BENCH missing: /ws not exercised)" >&2
fi
sleep 2
callgrind_control -d requests "$VG" >/dev/null 2>&1
sleep 2
kill "$VG"; wait "$VG" 2>/dev/null || true; VG=""

nm --defined-only "$BIN" | awk '$2 ~ /^[tTwW]$/ {print $3}' >"$TMP/symbols"
# Start-up code valgrind does not show: the C runtime's entry and init code, SHA-NI code
# and its intrinsics (valgrind hides the CPU feature, so the token digest takes another path) and rustix's
# aux-vector check (the real vDSO). Found with `perf record -e exceptions:page_fault_user`
# on the built binary: page faults outside the ordered block.
grep -E '^(_start|frame_dummy)$|sha256.*x86|x86.*sha|core_arch|auxv.*check_elf_base|auxv.*init_from_aux_iter' \
  "$TMP/symbols" >"$TMP/extra" || true
python3 - "$TMP/symbols" "$TMP/cg.out.1" "$TMP/extra" "$TMP/cg.out.2" >"$OUT" <<'PY'
import re, sys
symbols = set(open(sys.argv[1]).read().split())
order = {}
for dump in sys.argv[2:]:
    if not dump.endswith((".1", ".2")):
        for name in open(dump).read().split():
            order.setdefault(name, None)
        continue
    names = {}
    for line in open(dump):
        m = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            m = re.match(r"^cfn=\((\d+)\) (.*)$", line.rstrip("\n"))
            if m: names[m.group(1)] = m.group(2)
            continue
        if m.group(2): names[m.group(1)] = m.group(2)
        name = re.sub(r"'\d+$", "", names.get(m.group(1), ""))
        if name in symbols: order.setdefault(name, None)
print("\n".join(order))
PY
echo "$OUT: $(wc -l <"$OUT") functions"
