#!/usr/bin/env bash
# Start-up to /healthz and idle RSS of two `outpost` binaries, alternated A B A B.
# Usage: bench/startup/compare.sh OLD_BIN NEW_BIN [ROUNDS] [STARTS] [IDLE_SECS]
# Each round runs `target/release/startup BIN STARTS IDLE_SECS` once per binary; the
# medians over the rounds are printed, with new/old ratios.
set -euo pipefail
old=$1 new=$2 rounds=${3:-5} starts=${4:-10} idle=${5:-10}
here=$(cd "$(dirname "$0")/../.." && pwd)
startup=$here/target/release/startup
[ -x "$startup" ] || { echo "build it: cargo build --release -p outpost-bench" >&2; exit 2; }
# The page cache decides how much of a binary one page fault maps (fault-around maps the
# cached pages of the 64 KiB around it), and a binary read whole (by valgrind, by a copy)
# sits in the cache differently from one read by its own start-ups: that alone moved idle
# RSS by 0.5 MiB between two builds. Both start cold: drop the clean page cache (root).
sync
if [ -w /proc/sys/vm/drop_caches ]; then
  echo 1 >/proc/sys/vm/drop_caches
else
  echo "warning: not root, page cache not dropped: RSS of the two sides may not compare" >&2
fi
# A binary built in one cargo invocation with other packages has other symbol names than the
# start-up order file lists (see bench/host/order.sh), and its idle RSS says nothing.
order=$here/crates/outpost/link/startup.order
for bin in "$old" "$new"; do
  matched=$(nm --defined-only "$bin" 2>/dev/null | awk '{print $3}' | sort | comm -12 - <(sort "$order") | wc -l)
  [ "$matched" -ge $(( $(wc -l <"$order") * 95 / 100 )) ] ||
    echo "warning: $bin has $matched of the $(wc -l <"$order") ordered functions: built with other packages, or an order file of another version" >&2
done
declare -A ready rss
for r in $(seq "$rounds"); do
  for side in old new; do
    bin=${!side}
    out=$("$startup" "$bin" "$starts" "$idle")
    ms=$(sed -n 's/^ready: median \([0-9.]*\) ms.*/\1/p' <<<"$out")
    mib=$(sed -n 's/^idle RSS: .*MiB right after ready, \([0-9.]*\) MiB after.*/\1/p' <<<"$out")
    ready[$side]+="$ms "; rss[$side]+="$mib "
    echo "round $r $side: ready ${ms} ms, idle RSS ${mib} MiB ($(grep -o 'idle CPU.*' <<<"$out"))"
  done
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for side in old new; do
  eval "m_ready_$side=$(med <<<"${ready[$side]}")"; eval "m_rss_$side=$(med <<<"${rss[$side]}")"
done
echo "median ready: old ${m_ready_old} ms, new ${m_ready_new} ms, new/old $(awk "BEGIN{printf \"%.2f\", $m_ready_new/$m_ready_old}")"
echo "median idle RSS: old ${m_rss_old} MiB, new ${m_rss_new} MiB, new/old $(awk "BEGIN{printf \"%.2f\", $m_rss_new/$m_rss_old}")"
echo "load: $(cat /proc/loadavg)"
