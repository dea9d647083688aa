#!/usr/bin/env bash
# Two builds of the agent side by side in the fleet benchmark (issue 20): ROUNDS rounds, each
# running real_agents.py once with each build, B first in odd rounds and A first in even ones
# (each run itself alternates the agent counts), then the medians per build.
#
#   bash bench/fleet/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [-- real_agents.py arguments]
#
# A side given as `ref` runs bench/fleet/echo_ref.c instead (real_agents.py --reference): the
# least an MQTT echo agent can do, whose work per job cannot depend on N.
#
# Default arguments: --agents 50,200 --warmup 10 --window 20. Output: one JSON per run in
# bench/out/fleet-ab/, and a table per build and agent count: per-agent CPU (schedstat, % of a
# core), CPU per job, context switches per job, round trip p50/p99, median RSS and anonymous
# RSS, and whether every job came back exactly once.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY [ROUNDS] [-- ARGS]" >&2; exit 2; }
a=$1 b=$2; shift 2
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then rounds=$1; shift; fi
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--agents "50,200" --warmup 10 --window 20)
py="${OUTPOST_TEST_VENV:-$PWD/venv}/bin/python"
out=bench/out/fleet-ab
mkdir -p "$out"
rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
  order="b a"; [ $((r % 2)) -eq 0 ] && order="a b"
  for side in $order; do
    bin=$a; [ "$side" = b ] && bin=$b
    # Both builds start from a cold page cache: how much of a binary each page fault maps
    # depends on which of its pages the cache holds (a binary just copied is held whole,
    # and its agents showed 0.5 MiB more RSS for that alone).
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 1 >/proc/sys/vm/drop_caches; fi
    extra=(); [ "$bin" = ref ] && extra=(--reference)
    OUTPOST_BIN="$bin" "$py" bench/fleet/real_agents.py "${args[@]}" "${extra[@]}" --json "$out/$side-$r.json" >/dev/null
    echo "round $r: $side ($bin) done" >&2
  done
done
"$py" - "$out" "$a" "$b" <<'PY'
import glob, json, statistics as st, sys
out, names = sys.argv[1], {"a": sys.argv[2], "b": sys.argv[3]}
for side in ("a", "b"):
    by_n = {}
    for f in sorted(glob.glob(f"{out}/{side}-*.json")):
        for r in json.load(open(f))["runs"]:
            by_n.setdefault(r["agents"], []).append(r)
    print(f"{side}: {names[side]}")
    print("    N | CPU/agent % (schedstat) | ms/job | cs/job | RTT p50 | p99 | RSS MiB | anon MiB | once")
    for n, rs in sorted(by_n.items()):
        m = lambda f: st.median(f(r) for r in rs)
        print(f"{n:5d} | {m(lambda r: r['agent_cpu']['per_agent_pct_of_core_schedstat']):23.3f} | "
              f"{m(lambda r: r['agent_cpu']['per_job_ms_schedstat']):6.3f} | "
              f"{m(lambda r: r['agent_cpu']['ctx_switches_per_job']):6.2f} | "
              f"{m(lambda r: r['rtt_ms']['p50']):7.2f} | {m(lambda r: r['rtt_ms']['p99']):4.2f} | "
              f"{m(lambda r: r['agent_rss_kb']['median']) / 1024:7.1f} | "
              f"{m(lambda r: r['agent_rss_anon_kb']['median']) / 1024:8.2f} | "
              f"{'yes' if all(r['exactly_once'] for r in rs) else 'NO'}")
    ns = sorted(by_n)
    if len(ns) > 1:
        lo = st.median(r['agent_cpu']['per_agent_pct_of_core_schedstat'] for r in by_n[ns[0]])
        hi = st.median(r['agent_cpu']['per_agent_pct_of_core_schedstat'] for r in by_n[ns[-1]])
        print(f"  per-agent CPU {ns[-1]} / {ns[0]}: {hi / lo:.2f}")
PY
