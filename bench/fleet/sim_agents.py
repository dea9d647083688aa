#!/usr/bin/env python3
"""Fleet benchmark with simulated agents (issue 20): thousands of MQTT connections on one Mosquitto.

A simulated agent speaks the uplink protocol as `outpost run` does over MQTT 3.1.1
(docs/protocol.md): client id `outpost-ID`, persistent session (clean session off), a
retained QoS 1 last will `offline` on `outpost/ID/status`, a subscription to
`outpost/ID/jobs` at QoS 1, a retained `online` status on connecting and again every
HEARTBEAT seconds (the agent's heartbeat_ms, 15 s), a PINGREQ every KEEPALIVE seconds; it
answers each `echo` job with a `result` (its own `seq`, the job's id, the params echoed) on
`outpost/ID/results` at QoS 1. All N live in one asyncio process (bench/fleet/mqtt_wire.py).

For each N (`--agents 1000,5000`; a fresh broker each):
1. the broker alone: its RSS;
2. N agents connect (at most 200 handshakes at once): time taken;
3. idle for IDLE seconds (heartbeats and pings only): broker CPU, and RSS at the end;
   RSS per connection = (RSS idle - RSS alone) / N;
4. jobs for JOBS seconds: a controller (one more connection, subscribed to
   outpost/+/results and outpost/+/status: it must be handed N retained `online` statuses) sends each agent one `echo` job per minute, spread evenly over the
   minute: broker CPU and RSS, results per second, round trip p50/p99/max (publish to result,
   through the broker twice and the simulated agent), the load client's own CPU;
5. every job must get exactly one distinct result (de-duplicated by job id).

Usage: bench/fleet/sim_agents.py [--agents 1000,5000] [--idle 30] [--jobs 60]
Needs: mosquitto (scripts/deps/40-uplink.sh); Python 3 only (no paho). Loopback only; the
broker is stopped by PID.
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mqtt_wire import Client  # noqa: E402
from procs import TICK, Broker, NatsNode, cpu_ticks, loadavg, mem_kb, pct, stop  # noqa: E402


def status(agent_id, state):
    return json.dumps({"state": state, "agent_id": agent_id, "version": "sim",
                       "at": int(time.time() * 1000)})


class SimAgent:
    def __init__(self, i):
        self.id = f"sim-{i:05d}"
        self.seq = 0
        self.c = None

    async def start(self, port, keepalive):
        self.c = Client(f"outpost-{self.id}", on_publish=self.on_job)
        await self.c.connect("127.0.0.1", port, keepalive=keepalive, clean=False,
                             will=(f"outpost/{self.id}/status", status(self.id, "offline").encode(), 1, True))
        await self.c.subscribe(f"outpost/{self.id}/jobs", 1)
        await self.c.publish(f"outpost/{self.id}/status", status(self.id, "online"), 1, True)

    def on_job(self, _topic, payload):
        try:
            job = json.loads(payload)
        except ValueError:
            return
        if job.get("type") != "job":
            return
        self.seq += 1
        now = int(time.time() * 1000)
        res = {"v": 1, "type": "result", "seq": self.seq,
               "result": {"id": job.get("id"), "kind": job.get("kind"), "state": "succeeded",
                          "output": job.get("params"), "created_at": now, "started_at": now,
                          "finished_at": now, "schedule": None}}
        self.c.publish_nowait(f"outpost/{self.id}/results", json.dumps(res), 1)


class Controller:
    def __init__(self):
        self.sent = {}   # job id -> (agent, send time, params)
        self.first = {}  # job id -> (receive time, canonical)
        self.dups = self.conflicts = self.unknown = 0
        self.errors = []
        self.online = set()
        self.c = Client(f"fleet-sim-ctl-{uuid.uuid4().hex[:8]}", on_publish=self.on_result)

    async def start(self, port):
        await self.c.connect("127.0.0.1", port, keepalive=60, clean=True)
        await self.c.subscribe("outpost/+/results", 1)
        await self.c.subscribe("outpost/+/status", 1)

    def on_result(self, topic, payload):
        now = time.perf_counter()
        if topic.endswith("/status"):
            try:
                body = json.loads(payload)
            except ValueError:
                body = {}
            (self.online.add if body.get("state") == "online" else self.online.discard)(topic.split("/")[1])
            return
        try:
            body = json.loads(payload)
        except ValueError:
            self.errors.append(topic)
            return
        res = body.get("result") or {}
        jid = res.get("id")
        canon = json.dumps(body, sort_keys=True)
        if jid not in self.sent:
            self.unknown += 1
        elif jid in self.first:
            self.dups += 1
            if self.first[jid][1] != canon:
                self.conflicts += 1
        else:
            self.first[jid] = (now, canon)
            agent, _, params = self.sent[jid]
            if topic != f"outpost/{agent}/results" or res.get("output") != params:
                self.errors.append({"job": jid, "topic": topic})

    def send(self, agent, seq):
        jid = str(uuid.uuid4())
        params = {"seq": seq}
        self.sent[jid] = (agent, time.perf_counter(), params)
        self.c.publish_nowait(f"outpost/{agent}/jobs",
                              json.dumps({"v": 1, "type": "job", "id": jid, "kind": "echo",
                                          "params": params}), 1)


async def ticker(agents, stop_ev, heartbeat, keepalive):
    """Each second, the agents whose turn it is refresh their status and ping (spread evenly
    over the period, as agents started at different times would)."""
    sec = 0
    n = len(agents)
    while not stop_ev.is_set():
        for i, ag in enumerate(agents):
            if heartbeat and (i * heartbeat) // n == sec % heartbeat:
                ag.c.publish_nowait(f"outpost/{ag.id}/status", status(ag.id, "online"), 1, True)
            if keepalive and (i * keepalive) // n == sec % keepalive:
                ag.c.ping()
        sec += 1
        try:
            await asyncio.wait_for(stop_ev.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def run_one(n, a, broker):
    me = os.getpid()
    out = {"agents": n, "load_before": loadavg()}
    await asyncio.sleep(0.5)
    out["broker_rss_kb_alone"] = mem_kb(broker.proc.pid)[0]

    agents = [SimAgent(i) for i in range(n)]
    sem = asyncio.Semaphore(200)

    async def start(ag):
        async with sem:
            # A deadline per handshake: a broker that stops answering fails the run.
            await asyncio.wait_for(ag.start(broker.port, a.keepalive), 60)
    t = time.perf_counter()
    await asyncio.gather(*(start(ag) for ag in agents))
    out["connect_s"] = round(time.perf_counter() - t, 2)
    ctl = Controller()
    await asyncio.wait_for(ctl.start(broker.port), 60)
    # Every agent's retained `online` status is on the broker: the controller, subscribing
    # after they all connected, is handed all N.
    end = time.monotonic() + 60
    while len(ctl.online) < n and time.monotonic() < end:
        await asyncio.sleep(0.05)
    out["retained_online"] = len(ctl.online)

    stop_ev = asyncio.Event()
    tick = asyncio.create_task(ticker(agents, stop_ev, a.heartbeat, a.keepalive))

    # Idle: heartbeats and pings only.
    c0, s0, t0 = cpu_ticks(broker.proc.pid), cpu_ticks(me), time.perf_counter()
    await asyncio.sleep(a.idle)
    c1, s1, t1 = cpu_ticks(broker.proc.pid), cpu_ticks(me), time.perf_counter()
    rss_idle = mem_kb(broker.proc.pid)[0]
    out["idle"] = {"seconds": round(t1 - t0, 1),
                   "broker_cpu_pct_of_core": round(100 * (c1 - c0) / TICK / (t1 - t0), 2),
                   "broker_rss_kb": rss_idle,
                   "broker_rss_per_connection_kb": round((rss_idle - out["broker_rss_kb_alone"]) / n, 2),
                   "load_client_cpu_pct_of_core": round(100 * (s1 - s0) / TICK / (t1 - t0), 1)}

    # Jobs: one per agent per minute, agent i at i/n of the minute.
    per_min = 60.0
    start_t = time.perf_counter() + 0.2
    total = int(n * a.jobs / per_min)
    c0, s0 = cpu_ticks(broker.proc.pid), cpu_ticks(me)
    k = 0
    while k < total:
        due = start_t + (k // n) * per_min + (k % n) * per_min / n
        d = due - time.perf_counter()
        if d > 0:
            await asyncio.sleep(d)
        now = time.perf_counter()
        # Every job due by now (sleep granularity: several per wakeup at 10,000 agents).
        while k < total and start_t + (k // n) * per_min + (k % n) * per_min / n <= now:
            ctl.send(agents[k % n].id, k)
            k += 1
    d = start_t + a.jobs - time.perf_counter()
    if d > 0:
        await asyncio.sleep(d)
    t2 = time.perf_counter()
    c2, s2 = cpu_ticks(broker.proc.pid), cpu_ticks(me)
    rss_jobs = mem_kb(broker.proc.pid)[0]
    end = time.monotonic() + 15
    while len(ctl.first) < len(ctl.sent) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # late duplicates would show here (counted, not a sync)
    secs = t2 - start_t
    rtt = sorted((ctl.first[j][0] - s[1]) * 1000 for j, s in ctl.sent.items() if j in ctl.first)
    missing = len(ctl.sent) - len(rtt)
    out["jobs"] = {"seconds": round(secs, 1),
                   "jobs_sent": len(ctl.sent), "results_received": len(rtt),
                   "results_per_s": round(len(rtt) / secs, 1),
                   "missing": missing, "duplicates": ctl.dups,
                   "conflicting_duplicates": ctl.conflicts, "unknown_results": ctl.unknown,
                   "errors": len(ctl.errors),
                   "rtt_ms": {"p50": round(pct(rtt, 0.5), 2) if rtt else None,
                              "p99": round(pct(rtt, 0.99), 2) if rtt else None,
                              "max": round(rtt[-1], 2) if rtt else None},
                   "broker_cpu_pct_of_core": round(100 * (c2 - c1) / TICK / secs, 2),
                   "broker_rss_kb": rss_jobs,
                   "broker_rss_per_connection_kb": round((rss_jobs - out["broker_rss_kb_alone"]) / n, 2),
                   "load_client_cpu_pct_of_core": round(100 * (s2 - s1) / TICK / secs, 1)}
    out["exactly_once"] = (out["retained_online"] == n and missing == 0 and ctl.conflicts == 0 and not ctl.errors
                           and ctl.unknown == 0)
    out["load_after"] = loadavg()

    stop_ev.set()
    await tick
    await ctl.c.close()
    await asyncio.gather(*(ag.c.close() for ag in agents), return_exceptions=True)
    return out


def table(runs):
    head = ("N", "connect s", "broker MiB alone", "idle MiB", "KiB/conn idle", "idle CPU %",
            "jobs MiB", "KiB/conn jobs", "jobs CPU %", "results/s", "RTT p50", "p99", "max ms",
            "sent", "recv", "dup", "ok", "load")
    rows = [head]
    for r in runs:
        i, j = r["idle"], r["jobs"]
        rows.append((str(r["agents"]), str(r["connect_s"]),
                     f'{r["broker_rss_kb_alone"] / 1024:.1f}', f'{i["broker_rss_kb"] / 1024:.1f}',
                     f'{i["broker_rss_per_connection_kb"]:.1f}', f'{i["broker_cpu_pct_of_core"]:.1f}',
                     f'{j["broker_rss_kb"] / 1024:.1f}', f'{j["broker_rss_per_connection_kb"]:.1f}',
                     f'{j["broker_cpu_pct_of_core"]:.1f}', str(j["results_per_s"]),
                     str(j["rtt_ms"]["p50"]), str(j["rtt_ms"]["p99"]), str(j["rtt_ms"]["max"]),
                     str(j["jobs_sent"]), str(j["results_received"]), str(j["duplicates"]),
                     "yes" if r["exactly_once"] else "NO", f'{r["load_before"]}/{r["load_after"]}'))
    w = [max(len(row[k]) for row in rows) for k in range(len(head))]
    return "\n".join(" | ".join(c.rjust(w[k]) for k, c in enumerate(row)) for row in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default="1000,5000")
    ap.add_argument("--idle", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=60, help="seconds of jobs (one per agent per minute)")
    ap.add_argument("--heartbeat", type=int, default=15, help="status refresh, s (0: none)")
    ap.add_argument("--keepalive", type=int, default=30, help="MQTT keep-alive, s (0: none)")
    ap.add_argument("--broker", choices=("mosquitto", "nats"), default="mosquitto",
                    help="mosquitto, or one NATS node (JetStream + its MQTT listener)")
    ap.add_argument("--json")
    a = ap.parse_args()
    ns = [int(x) for x in a.agents.split(",") if x.strip()]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(ns) + 1024
    if hard < need:
        raise SystemExit(f"open-files hard limit {hard} < {need}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    doc = {"broker": a.broker, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
           "idle_s": a.idle, "jobs_s": a.jobs, "heartbeat_s": a.heartbeat,
           "keepalive_s": a.keepalive, "runs": []}
    for n in ns:
        print(f"fleet-sim: {n} agents (load {loadavg()})", file=sys.stderr)
        tmp = tempfile.mkdtemp(prefix=f"fleet-sim-{n}-")
        broker = Broker(tmp, True) if a.broker == "mosquitto" else NatsNode(tmp)
        try:
            r = asyncio.run(run_one(n, a, broker))
        finally:
            stop([broker.proc])
            shutil.rmtree(tmp, ignore_errors=True)
        doc["runs"].append(r)
        print(table([r]).split("\n")[1], file=sys.stderr)
    text = json.dumps(doc, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print("\n" + table(doc["runs"]), file=sys.stderr)
    if not all(r["exactly_once"] for r in doc["runs"]):
        print("fleet-sim: some job did not get exactly one distinct, correct result", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
