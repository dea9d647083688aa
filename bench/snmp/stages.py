#!/usr/bin/env python3
# Used for the profile table in bench/RESULTS.md (issue 11): perf script -F comm,ip,sym -i FILE > s.txt; stages.py s.txt
"""Share of samples per stage of the polling path, from `perf script -F comm,ip,sym`."""
import collections, sys
stacks = []; cur = []
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if not line.strip():
        if cur: stacks.append(cur)
        cur = []; continue
    if not line.startswith('\t') and not line.startswith(' '):
        cur = [line.strip()]
    else:
        p = line.strip().split(None, 1); cur.append(p[1] if len(p) > 1 else p[0])
if cur: stacks.append(cur)
RULES = [
    ("store: commit (WAL frames, checkpoints)", lambda c, s: c == "outpost-store" and any(k in f for f in s for k in ("sqlite3VdbeHalt", "sqlite3WalDefaultHook", "sqlite3_wal_checkpoint"))),
    ("store: statements, rows, hand-offs", lambda c, s: c == "outpost-store"),
    ("result JSON (executor output to text)", lambda c, s: any(k in f for f in s for k in ("RawJson::to_raw", "serialize_entry", "collect_seq", "push_to", "push_dotted"))),
    ("MQTT uplink (rumqttc, envelopes, job intake)", lambda c, s: any(k in f for f in s for k in ("rumqttc", "uplink::mqtt", "encode_row", "uplink::inbound", "Delivery"))),
    ("SNMP engine (requests, replies, decode)", lambda c, s: any("outpost_snmp::" in f for f in s)),
    ("API handler and dispatcher (parse, validate, submit, reply)", lambda c, s: any(k in f for f in s for k in ("Handler<", "dispatcher::Dispatcher", "ErasedExecutor", "api::"))),
    ("HTTP (hyper, axum, sockets)", lambda c, s: any(k in f for f in s for k in ("hyper::", "axum", "hyper_util"))),
    ("runtime: park, wake-ups (epoll, futex)", lambda c, s: any(k in f for f in s for k in ("park_internal", "park_driver", "park_timeout"))),
]
c = collections.Counter()
OTHER = collections.Counter()
for s in stacks:
    comm, fr = s[0], s[1:]
    for name, rule in RULES:
        if rule(comm, fr):
            c[name] += 1; break
    else:
        c["other (allocator, unattributed libc/kernel)"] += 1
        OTHER[fr[0] if fr else "?"] += 1
N = len(stacks)
print(f"| stage | share of agent CPU |\n|---|---:|")
for k, v in c.most_common():
    print(f"| {k} | {100*v/N:.0f}% |")
if len(sys.argv) > 2:
    for k, v in OTHER.most_common(15): print(f"  other leaf {100*v/N:.1f}% {k[:100]}")
