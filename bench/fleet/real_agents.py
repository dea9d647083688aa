#!/usr/bin/env python3
"""Fleet benchmark with real agents (issue 20): N `outpost run` processes on one Mosquitto.

For each N (`--agents 50,100,200`; every N gets a fresh broker and fresh agents):

- one Mosquitto on an ephemeral loopback port (its own config and directory);
- N `outpost run` agents, each with its own data directory, API port, token and agent id
  (`fleet-0000`...), connected to the broker by the MQTT uplink (OUTPOST_UPLINK_MQTT_URL);
- a controller (paho-mqtt, one connection) that waits for every agent's retained `online`
  status, then sends each agent one `echo` job per second (QoS 1 on `outpost/ID/jobs`),
  staggered evenly over the second, for WARMUP + WINDOW seconds, and takes each job's round
  trip: from just before its publish to the arrival of its result on `outpost/ID/results`.
  Results are de-duplicated by job id; every job sent must get exactly one distinct result
  (a redelivery must be identical), and the result must be `succeeded` with the params
  echoed back.
- with `--pool-jobs K` (K > 0), every agent also joins the pool `fleet` (`uplink.mqtt.pool`:
  the shared subscription `$share/fleet/outpost/pool/fleet/jobs`) and the controller sends K
  pool jobs per second on `outpost/pool/fleet/jobs`, spread over the second between the
  per-agent jobs. A pool job may be answered by any agent, but by exactly one distinct
  result: the same check as above, and the spread over agents is reported.

Figures per N, over the measured WINDOW (the warm-up's jobs are sent but not counted):
- agent RSS (VmRSS and RssAnon from /proc/PID/status at the end of the window): median, max;
- CPU (utime+stime from /proc/PID/stat) over the window: all agents together, per agent,
  and the broker's; per agent also from /proc/PID/task/*/schedstat (exact on-CPU time: the
  tick-sampled figure misjudges agents that run tens of microseconds at a time); broker RSS
  at the end of the window;
- job round trip p50, p99, max; jobs sent, results received, duplicates, conflicts, errors.

Output: one JSON document (stdout, and --json FILE) and a short table (stderr).

With `--cache-pressure MB`, one `nice 19` process per CPU streams through MB MiB for the whole
run (bench/fleet/pollute.c, built with cc), so the caches are equally cold at every N: on a
quiet machine, agents that run the same code more often find it warmer, and the per-agent
CPU falls with N for that reason alone (bench/RESULTS.md).

Usage: bench/fleet/real_agents.py [--agents 50,100,200] [--warmup 10] [--window 60]
                                  [--repeat 1] [--cache-pressure MB] [--json out.json]
Needs: OUTPOST_BIN (default target/release/outpost, never built here), mosquitto
(scripts/deps/40-uplink.sh), paho-mqtt in the test venv (scripts/deps/46-fleet.sh): run it
with /work/main/venv/bin/python or $OUTPOST_TEST_VENV/bin/python. Loopback only; every
process it started is stopped by PID.
"""
import argparse
import atexit
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import paho.mqtt.client as mqtt
except ImportError:
    raise SystemExit("paho-mqtt missing: run scripts/deps/46-fleet.sh and use the test venv's python")

from procs import OUTPOST, TICK, Broker, cpu_ns, cpu_ticks, cpu_user_sys_ticks, ctx_switches, free_port, loadavg, mem_kb, pct, stop, wait_for  # noqa: E402


class Agent:
    def __init__(self, tmp, i, url, pool=None, cmd=None, wrap=None):
        self.id = f"fleet-{i:04d}"
        self.dir = os.path.join(tmp, self.id)
        os.makedirs(self.dir)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        env = dict(os.environ, OUTPOST_TOKEN=self.token, OUTPOST_AGENT_ID=self.id,
                   OUTPOST_UPLINK_MQTT_URL=url, LOG_LEVEL="warn", RUST_LOG="warn")
        if pool:
            env["OUTPOST_UPLINK_MQTT_POOL"] = pool
        self.log = os.path.join(tmp, f"{self.id}.log")
        # cmd: another agent in Outpost's place (--reference); wrap: a command line that runs
        # this one (--count-instructions runs the first agent under callgrind).
        argv = cmd or [OUTPOST, "run", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}"]
        self.wrapped = bool(wrap)
        self.proc = subprocess.Popen((wrap or []) + argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))

    def log_tail(self, n=2000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


class Callgrind:
    """The first agent under valgrind's callgrind (--count-instructions): its user-space
    instructions per job over the window, a figure the machine's speed does not change. The
    window is cut by two dumps (callgrind_control -d): the second holds the window's count."""

    def __init__(self, tmp):
        if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
            raise SystemExit("--count-instructions needs valgrind (apt-get install valgrind)")
        self.out = os.path.join(tmp, "callgrind.out")
        noauxv = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "noauxv.py")
        self.wrap = [sys.executable, noauxv, "valgrind", "--tool=callgrind", f"--callgrind-out-file={self.out}",
                     "--dump-line=no", "--compress-pos=no"]
        self.dumps = 0

    def dump(self, pid):
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        self.dumps += 1

    def per_job(self, jobs):
        # callgrind numbers its dumps .1, .2, ...; the counters are zeroed at each dump.
        path = f"{self.out}.{self.dumps}"
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return round(int(line.split()[1]) / max(1, jobs))
        raise SystemExit(f"no totals in {path}")


# The pool every agent joins with --pool-jobs, and the marker for its jobs in Controller.sent.
POOL_NAME = "fleet"
POOL = object()


class Controller:
    """One MQTT connection: jobs out, results and statuses in, round trips recorded."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.online = set()
        self.sent = {}      # job id -> (agent id, send time, params, measured?)
        self.first = {}     # job id -> (receive time, canonical result)
        self.dups = 0
        self.conflicts = 0  # a second result for a job that differs from the first
        self.unknown = 0    # a result for a job this controller never sent
        self.errors = []    # `error` envelopes and results that are not the echo expected
        self.pool_takers = {}  # agent id -> pool jobs it answered (first results only)
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fleet-ctl-{uuid.uuid4().hex[:8]}",
                             clean_session=True, protocol=mqtt.MQTTv311)
        self.c.max_inflight_messages_set(0)  # 0: no limit (paho's default is 20)
        self.c.max_queued_messages_set(0)
        self.c.on_message = self.on_message
        self.subscribed = threading.Event()
        self.c.on_subscribe = lambda *a, **k: self.subscribed.set()
        self.c.connect("127.0.0.1", port, keepalive=60)
        # paho leaves Nagle on: a job published while a PUBACK of ours is unacknowledged
        # would wait for the broker's delayed ACK, and count against the agents.
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.loop_start()
        self.c.subscribe([("outpost/+/results", 1), ("outpost/+/status", 1)])
        if not self.subscribed.wait(10):
            raise SystemExit("controller: no SUBACK from the broker")

    def on_message(self, _c, _u, msg):
        now = time.perf_counter()
        parts = msg.topic.split("/")
        try:
            body = json.loads(msg.payload)
        except ValueError:
            with self.lock:
                self.errors.append({"topic": msg.topic, "payload": msg.payload[:200].decode("utf-8", "replace")})
            return
        if parts[-1] == "status":
            with self.lock:
                if body.get("state") == "online":
                    self.online.add(parts[1])
                else:
                    self.online.discard(parts[1])
            return
        if body.get("type") != "result":
            with self.lock:
                self.errors.append(body)
            return
        res = body.get("result") or {}
        jid = res.get("id")
        canon = json.dumps(body, sort_keys=True)
        with self.lock:
            if jid not in self.sent:
                self.unknown += 1
                return
            if jid in self.first:
                self.dups += 1
                if self.first[jid][1] != canon:
                    self.conflicts += 1
                return
            self.first[jid] = (now, canon)
            agent, _, params, _ = self.sent[jid]
            if agent == POOL:
                # Any agent may take a pool job; which one did is the pool's balance.
                agent = parts[1]
                self.pool_takers[agent] = self.pool_takers.get(agent, 0) + 1
            if (parts[1] != agent or res.get("state") != "succeeded"
                    or res.get("output") != params):
                self.errors.append({"job": jid, "agent": agent, "topic": msg.topic,
                                    "state": res.get("state"), "output": res.get("output"),
                                    "error": res.get("error")})

    def send(self, agent, seq, measured):
        """A job for `agent`, or for the pool when `agent` is POOL."""
        jid = str(uuid.uuid4())
        params = {"seq": seq}
        payload = json.dumps({"v": 1, "type": "job", "id": jid, "kind": "echo", "params": params})
        with self.lock:
            self.sent[jid] = (agent, time.perf_counter(), params, measured)
        topic = f"outpost/pool/{POOL_NAME}/jobs" if agent == POOL else f"outpost/{agent}/jobs"
        self.c.publish(topic, payload, qos=1)

    def outstanding(self, only_measured=True):
        with self.lock:
            return sum(1 for j, s in self.sent.items() if (s[3] or not only_measured) and j not in self.first)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def run_one(n, a, log_dir):
    tmp = tempfile.mkdtemp(prefix=f"fleet-{n}-")
    broker = None
    agents = []
    ctl = None
    try:
        broker = Broker(tmp, a.broker_nodelay)
        ctl = Controller(broker.port)
        t_start = time.monotonic()
        cg = Callgrind(tmp) if a.count_instructions else None
        agents = [Agent(tmp, i, broker.url, POOL_NAME if a.pool_jobs else None, cmd=a.ref_cmd,
                        wrap=cg.wrap if cg and i == 0 else None) for i in range(n)]
        ids = [ag.id for ag in agents]
        # The figures are the unwrapped agents' (callgrind's agent runs 50 times slower).
        meas = [ag for ag in agents if not ag.wrapped]
        # Every agent connected, subscribed and online: its retained status says so.
        try:
            wait_for(f"{n} agents online", 120,
                     lambda: len(ctl.online) >= n,
                     lambda: all(ag.proc.poll() is None for ag in agents))
        except SystemExit:
            for ag in agents:
                if ag.proc.poll() is not None:
                    print(f"fleet: {ag.id} exited {ag.proc.returncode}:\n{ag.log_tail()}", file=sys.stderr)
                    break
            raise
        startup_s = time.monotonic() - t_start
        time.sleep(2)  # the start-up's own work settles (a measurement pause, not a sync)
        load0 = loadavg()

        # Sending: agent i at offset i/n of every second, pool job j at (j + 0.5)/K,
        # WARMUP + WINDOW seconds.
        total = a.warmup + a.window
        slots = sorted([(i / n, agent) for i, agent in enumerate(ids)]
                       + [((j + 0.5) / a.pool_jobs, POOL) for j in range(a.pool_jobs)],
                       key=lambda x: x[0])
        t0 = time.perf_counter() + 0.5
        cpu0 = mem_end = None
        late = []
        seq = 0
        for sec in range(total):
            measured = sec >= a.warmup
            if sec == a.warmup:
                us0 = [cpu_user_sys_ticks(ag.proc.pid) for ag in meas]
                cpu0 = ([sum(u) for u in us0], cpu_ticks(broker.proc.pid))
                ns0 = [cpu_ns(ag.proc.pid) for ag in meas]
                cs0 = [ctx_switches(ag.proc.pid) for ag in meas]
                tw0 = time.perf_counter()
                if cg:
                    cg.dump(agents[0].proc.pid)
            for off, agent in slots:
                due = t0 + sec + off
                d = due - time.perf_counter()
                if d > 0:
                    time.sleep(d)
                elif measured:
                    late.append(-d)
                ctl.send(agent, seq, measured)
                seq += 1
        # The end of the window: one second after the last second's sends began.
        d = t0 + total - time.perf_counter()
        if d > 0:
            time.sleep(d)
        tw1 = time.perf_counter()
        us1 = [cpu_user_sys_ticks(ag.proc.pid) for ag in meas]
        cpu1 = ([sum(u) for u in us1], cpu_ticks(broker.proc.pid))
        ns1 = [cpu_ns(ag.proc.pid) for ag in meas]
        cs1 = [ctx_switches(ag.proc.pid) for ag in meas]
        mem_end = [mem_kb(ag.proc.pid) for ag in meas]
        if cg:
            cg.dump(agents[0].proc.pid)
        broker_mem = mem_kb(broker.proc.pid)
        load1 = loadavg()
        # Drain: every measured job's result, within a deadline (a missing one is reported).
        end = time.monotonic() + 15
        while ctl.outstanding() and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(1)  # a window for late duplicates to show (not a sync: counted if any)
        alive = sum(1 for ag in agents if ag.proc.poll() is None)

        with ctl.lock:
            rtt = []
            pool_rtt = []
            missing = 0
            sent_m = 0
            pool_m = 0
            wrapped_m = 0  # measured jobs sent to the wrapped agent: its CPU is not counted
            for jid, (agent, ts, _, m) in ctl.sent.items():
                if not m:
                    continue
                sent_m += 1
                wrapped_m += cg is not None and agent == agents[0].id
                pool_m += agent is POOL
                got = ctl.first.get(jid)
                if got is None:
                    missing += 1
                else:
                    (pool_rtt if agent is POOL else rtt).append((got[0] - ts) * 1000.0)
            rtt.sort()
            pool_rtt.sort()
            takers = sorted(ctl.pool_takers.values())
            secs = tw1 - tw0
            nm = len(meas)
            jobs_m = max(1, sent_m - wrapped_m)
            agent_ticks = [b - a_ for a_, b in zip(cpu0[0], cpu1[0])]
            total_cpu_s = sum(agent_ticks) / TICK
            rss = sorted(m[0] for m in mem_end)
            anon = sorted(m[1] for m in mem_end)
            r = {
                "agents": n,
                "agents_alive_at_end": alive,
                "startup_s": round(startup_s, 1),
                "window_s": round(secs, 2),
                "load_before": load0, "load_after": load1,
                "jobs_sent": sent_m,
                "results_received": len(rtt) + len(pool_rtt),
                "missing": missing,
                "duplicates": ctl.dups,
                "conflicting_duplicates": ctl.conflicts,
                "unknown_results": ctl.unknown,
                "errors": len(ctl.errors),
                "error_samples": ctl.errors[:5],
                "exactly_once": missing == 0 and ctl.conflicts == 0 and not ctl.errors and ctl.unknown == 0,
                "rtt_ms": {"p50": round(pct(rtt, 0.5), 2) if rtt else None,
                           "p90": round(pct(rtt, 0.9), 2) if rtt else None,
                           "p99": round(pct(rtt, 0.99), 2) if rtt else None,
                           "max": round(rtt[-1], 2) if rtt else None},
                "pool": {"jobs_sent": pool_m, "results": len(pool_rtt),
                         "agents_that_took_some": len(takers),
                         "per_agent_min": takers[0] if takers else 0,
                         "per_agent_max": takers[-1] if takers else 0,
                         "rtt_ms_p50": round(pct(pool_rtt, 0.5), 2) if pool_rtt else None,
                         "rtt_ms_p99": round(pct(pool_rtt, 0.99), 2) if pool_rtt else None},
                "sends_late": {"count": len(late),
                               "max_ms": round(max(late) * 1000, 2) if late else 0},
                "agent_rss_kb": {"median": statistics.median(rss), "max": rss[-1], "min": rss[0]},
                "agent_rss_anon_kb": {"median": statistics.median(anon), "max": anon[-1]},
                "agent_cpu": {"total_s": round(total_cpu_s, 2),
                              "total_pct_of_core": round(100 * total_cpu_s / secs, 1),
                              "per_agent_pct_of_core": round(100 * total_cpu_s / secs / nm, 3),
                              "per_job_ms": round(1000 * total_cpu_s / jobs_m, 3),
                              "per_agent_max_s": round(max(agent_ticks) / TICK, 2),
                              # The same from schedstat (exact, not tick-sampled).
                              "per_agent_pct_of_core_schedstat": round(
                                  100 * (sum(ns1) - sum(ns0)) / 1e9 / secs / nm, 3),
                              "per_job_ms_schedstat": round(
                                  1000 * (sum(ns1) - sum(ns0)) / 1e9 / jobs_m, 3),
                              # User and kernel time apart (ticks summed over all agents):
                              # where a change with N is, in our code or in system calls.
                              "per_agent_user_pct_of_core": round(
                                  100 * sum(b[0] - a_[0] for a_, b in zip(us0, us1)) / TICK / secs / nm, 3),
                              "per_agent_system_pct_of_core": round(
                                  100 * sum(b[1] - a_[1] for a_, b in zip(us0, us1)) / TICK / secs / nm, 3),
                              # Thread sleeps and wake-ups per job, all agents' threads.
                              "ctx_switches_per_job": round((sum(cs1) - sum(cs0)) / jobs_m, 2)},
                "instructions_per_job": cg.per_job(wrapped_m) if cg else None,
                "broker": {"cpu_s": round((cpu1[1] - cpu0[1]) / TICK, 2),
                           "cpu_pct_of_core": round(100 * (cpu1[1] - cpu0[1]) / TICK / secs, 1),
                           "rss_kb": broker_mem[0]},
            }
        return r
    finally:
        if ctl is not None:
            ctl.close()
        stop([ag.proc for ag in agents])
        if broker is not None:
            stop([broker.proc])
        if log_dir:
            for ag in agents:
                shutil.copy(ag.log, os.path.join(log_dir, f"{ag.id}-n{n}.log"))
        if os.environ.get("FLEET_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


def table(runs):
    head = ("N", "RSS med MiB", "RSS max MiB", "anon med MiB", "agents CPU %", "CPU/agent %",
            "CPU/agent % (schedstat)", "user/sys %", "cs/job", "instr/job", "broker CPU %", "broker RSS MiB", "RTT p50", "p99", "max ms", "sent", "recv", "dup",
            "ok", "load")
    rows = [head]
    for r in runs:
        rows.append((str(r["agents"]),
                     f'{r["agent_rss_kb"]["median"] / 1024:.1f}', f'{r["agent_rss_kb"]["max"] / 1024:.1f}',
                     f'{r["agent_rss_anon_kb"]["median"] / 1024:.1f}',
                     f'{r["agent_cpu"]["total_pct_of_core"]:.1f}', f'{r["agent_cpu"]["per_agent_pct_of_core"]:.3f}',
                     f'{r["agent_cpu"]["per_agent_pct_of_core_schedstat"]:.3f}',
                     f'{r["agent_cpu"].get("per_agent_user_pct_of_core", 0):.3f}/'
                     f'{r["agent_cpu"].get("per_agent_system_pct_of_core", 0):.3f}',
                     f'{r["agent_cpu"].get("ctx_switches_per_job", 0):.1f}',
                     str(r.get("instructions_per_job") or "-"),
                     f'{r["broker"]["cpu_pct_of_core"]:.1f}', f'{r["broker"]["rss_kb"] / 1024:.1f}',
                     f'{r["rtt_ms"]["p50"]}', f'{r["rtt_ms"]["p99"]}', f'{r["rtt_ms"]["max"]}',
                     str(r["jobs_sent"]), str(r["results_received"]), str(r["duplicates"]),
                     "yes" if r["exactly_once"] else "NO", f'{r["load_before"]}/{r["load_after"]}'))
    w = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(" | ".join(c.rjust(w[i]) for i, c in enumerate(row)) for row in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default="50,100,200", help="comma-separated N, run in this order")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=1, help="rounds over all N (N1 N2 N3 N1 N2 N3 ...)")
    ap.add_argument("--broker-nodelay", type=int, choices=(0, 1), default=1,
                    help="Mosquitto's set_tcp_nodelay (its default is 0: Nagle on)")
    ap.add_argument("--pool-jobs", type=int, default=0,
                    help="also K jobs per second to the pool every agent joins (0: no pool)")
    ap.add_argument("--json", help="also write the JSON here")
    ap.add_argument("--log-dir", help="keep each agent's stderr here")
    ap.add_argument("--cache-pressure", type=int, default=0, metavar="MB",
                    help="run bench/fleet/pollute.c (built with cc) at nice 19 on every CPU, each "
                         "streaming through MB MiB, for the whole run: caches equally cold at every N")
    ap.add_argument("--reference", action="store_true",
                    help="run bench/fleet/echo_ref.c (built with cc), the least an MQTT echo agent can "
                         "do, in Outpost's place: a control for the per-agent CPU figures")
    ap.add_argument("--count-instructions", action="store_true",
                    help="run the first agent under callgrind and report its instructions per job "
                         "(the other agents' figures leave it out)")
    a = ap.parse_args()
    a.ref_cmd = [build_c("echo_ref")] if a.reference else None
    if not a.reference and not os.path.exists(OUTPOST):
        raise SystemExit(f"{OUTPOST} missing: build it (cargo build --release -p outpost) or set OUTPOST_BIN")
    ns = [int(x) for x in a.agents.split(",") if x.strip()]
    # Each agent holds a few descriptors, the broker one per client, the controller is one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 64 * max(ns) + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if a.log_dir:
        os.makedirs(a.log_dir, exist_ok=True)
    out = {"outpost": OUTPOST, "broker_tcp_nodelay": bool(a.broker_nodelay), "warmup_s": a.warmup, "window_s": a.window,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "cpus": os.cpu_count(), "load_at_start": loadavg(), "runs": []}
    out["cache_pressure_mb"] = a.cache_pressure
    out["agent"] = "bench/fleet/echo_ref.c" if a.reference else OUTPOST
    polluters = start_polluters(a.cache_pressure) if a.cache_pressure else []
    try:
        run_rounds(a, ns, out)
    finally:
        stop(polluters)
    finish(a, ns, out)


def build_c(name):
    """bench/fleet/NAME.c compiled with cc into a temporary directory: its path."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.c")
    d = tempfile.mkdtemp(prefix=f"fleet-{name}-")
    atexit.register(shutil.rmtree, d, True)
    exe = os.path.join(d, name)
    subprocess.run(["cc", "-O2", "-Wall", "-o", exe, src], check=True)
    return exe


def start_polluters(mb):
    """One `nice 19` cache polluter per CPU (bench/fleet/pollute.c, compiled here)."""
    exe = build_c("pollute")
    return [subprocess.Popen(["nice", "-n", "19", exe, str(mb)]) for _ in range(os.cpu_count() or 1)]


def run_rounds(a, ns, out):
    for rnd in range(a.repeat):
        for n in ns:
            print(f"fleet: round {rnd + 1}/{a.repeat}, {n} agents (load {loadavg()})", file=sys.stderr)
            r = run_one(n, a, a.log_dir)
            r["round"] = rnd + 1
            out["runs"].append(r)
            print(table([r]).split("\n")[1], file=sys.stderr)


def finish(a, ns, out):
    out["load_at_end"] = loadavg()
    if a.repeat > 1:
        med = []
        for n in ns:
            rs = [r for r in out["runs"] if r["agents"] == n]
            med.append({"agents": n, "rounds": len(rs),
                        "agent_rss_kb_median": statistics.median(r["agent_rss_kb"]["median"] for r in rs),
                        "agent_rss_anon_kb_median": statistics.median(r["agent_rss_anon_kb"]["median"] for r in rs),
                        "per_agent_cpu_pct": statistics.median(r["agent_cpu"]["per_agent_pct_of_core"] for r in rs),
                        "per_agent_cpu_pct_schedstat": statistics.median(
                            r["agent_cpu"]["per_agent_pct_of_core_schedstat"] for r in rs),
                        "per_agent_user_pct": statistics.median(
                            r["agent_cpu"]["per_agent_user_pct_of_core"] for r in rs),
                        "per_agent_system_pct": statistics.median(
                            r["agent_cpu"]["per_agent_system_pct_of_core"] for r in rs),
                        "ctx_switches_per_job": statistics.median(
                            r["agent_cpu"]["ctx_switches_per_job"] for r in rs),
                        "instructions_per_job": statistics.median(
                            r["instructions_per_job"] or 0 for r in rs),
                        "broker_cpu_pct": statistics.median(r["broker"]["cpu_pct_of_core"] for r in rs),
                        "rtt_p50_ms": statistics.median(r["rtt_ms"]["p50"] for r in rs),
                        "rtt_p99_ms": statistics.median(r["rtt_ms"]["p99"] for r in rs),
                        "all_exactly_once": all(r["exactly_once"] for r in rs)})
        out["medians"] = med
    doc = json.dumps(out, indent=1)
    print(doc)
    if a.json:
        with open(a.json, "w") as f:
            f.write(doc + "\n")
    print("\n" + table(out["runs"]), file=sys.stderr)
    if not all(r["exactly_once"] for r in out["runs"]):
        print("fleet: some job did not get exactly one distinct, correct result", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
