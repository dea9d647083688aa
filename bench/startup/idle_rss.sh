#!/bin/bash
# idle RSS of `outpost run` on defaults, after /healthz answers, 5 s idle; A B alternated
for r in 1 2 3; do for b in "$@"; do
  d=$(mktemp -d); port=$((18900 + RANDOM % 500))
  OUTPOST_TOKEN=t setsid $b run --data-dir $d --listen 127.0.0.1:$port >/dev/null 2>&1 < /dev/null & p=$!
  for i in $(seq 1 100); do curl -s -o /dev/null 127.0.0.1:$port/healthz && break; sleep 0.05; done
  sleep 5
  echo "$b $(awk '/^VmRSS/{print $2}' /proc/$p/status) kB anon $(awk '/^RssAnon/{print $2}' /proc/$p/status)"
  kill $p; wait $p 2>/dev/null; rm -rf $d
done; done
