#!/usr/bin/env python3
"""HTTP checks of a local server: Outpost's `check.http` jobs against Nagios' `check_http`
run as parallel processes, the way Nagios/Icinga run it (issue 14).

- outpost: `outpost run`; CHECKS jobs `POST /v1/jobs?wait=30` {"kind": "check.http",
  "params": {"url": "http://127.0.0.1:PORT/"}}, CONC in flight (one `curl --parallel`);
  every job goes the whole way: validation, the dispatcher, one fresh TCP connection and
  HTTP/1.1 exchange, the result stored, the reply. CPU: the agent process (utime+stime
  from /proc); the client's (curl's) CPU is reported apart.
- check_http: `xargs -P CONC` running `check_http -H 127.0.0.1 -p PORT` CHECKS times.
  CPU: everything xargs and its children used (RUSAGE_CHILDREN of this script around the
  run), i.e. the plugins' fork, exec, dynamic linking and the check itself.
- echo jobs: after each outpost side, CHECKS `echo` jobs the same way: the job path's own
  CPU (API, dispatcher, store, reply), to split the agent's CPU per check.
- scheduled (the way Nagios/Icinga run checks: on a schedule): CHECKS `POST /v1/schedules`
  with cron `*/PERIOD * * * * *` (seconds field; every one due at the same second) and a
  `check.http` job of the same URL, so each due time fires all of them together. Agent
  CPU from 0.5 s before a due time until all its results are stored (the agent's
  `outpost_jobs_total{kind="check.http"}` on `/metrics`, read every 200 ms: the store
  file is locked by the agent), minus the agent's idle CPU over a window of the same
  length, measured the same way (polled as often, its rate taken over the WINDOW seconds
  just before the due time). After the run, the store file is read: every measured due
  time stored CHECKS results, all OK; its wall time is from the due time to the last
  result's `finished_at`. Per-thread on-CPU nanoseconds
  (/proc/PID/task/*/schedstat) give the figure; utime+stime ticks are printed beside it
  (10 ms ticks are 10% of a thousand-check firing). check_http and the API mode run in
  the gap between due times, so each side alternates with the others in every round.
  As many `echo` schedules, due half a period after the checks, are measured the same
  way: the scheduled job path's own CPU (timer, dispatcher, store), as echo jobs are for
  the API mode.
- the server: bench/probes/http_server.rs (the tests' own server, one thread), the same
  for both sides; its CPU counts for neither.

Figures per side: checks per CPU-second and wall time. Sides alternate in each round
(A B, then B A, ...); medians over the rounds and the ratio of medians.

Usage: bench/probes/http_checks.py [--rounds 3] [--checks 1000] [--conc 8]
                                  [--mode both|api|scheduled] [--period 30]
OUTPOST_BIN=PATH runs another build of the agent (an A/B of two commits) with --no-build.
Needs: cargo (builds outpost and http_check_server in release), curl, monitoring-plugins-
basic (scripts/deps/60-probes.sh). Loopback only; the agent and server stop by PID.
"""
import argparse
import http.client
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUTPOST = os.environ.get("OUTPOST_BIN", os.path.join(TARGET, "release", "outpost"))
SERVER = os.path.join(TARGET, "release", "http_check_server")
CHECK_HTTP = "/usr/lib/nagios/plugins/check_http"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime of the agent itself (it forks nothing here).
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def thread_ns(pid):
    """On-CPU nanoseconds per live thread (the first field of each thread's schedstat)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return out


def thread_cpu_since(before, after):
    """CPU seconds the threads used between two `thread_ns` readings (a thread that ended
    meanwhile is not counted: none of the agent's threads ends while it works)."""
    return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9


def sleep_until(t):
    while True:
        d = t - time.time()
        if d <= 0:
            return
        time.sleep(min(d, 0.5))


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Agent:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "agent")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        env = dict(os.environ, OUTPOST_API_TOKEN=self.token, LOG_LEVEL="warn",
                   OUTPOST_JOBS_QUEUE_CAPACITY="4096")
        self.proc = subprocess.Popen([OUTPOST, "run", "--data-dir", self.dir,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "outpost")

    def add_schedules(self, n, cron, server_port, kind="check.http"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for i in range(n):
            params = {"url": f"http://127.0.0.1:{server_port}/"} if kind == "check.http" else {}
            body = {"id": f"{kind}-{i:05}", "when": {"cron": cron},
                    "job": {"kind": kind, "params": params}}
            conn.request("POST", "/v1/schedules", body=json.dumps(body),
                         headers={"Authorization": f"Bearer {self.token}",
                                  "content-type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 201:
                raise SystemExit(f"POST /v1/schedules: {r.status} {data[:200]!r}")
        conn.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def wait_port(port, proc, what):
    end = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.time() > end:
                raise SystemExit(f"{what} did not start")
            time.sleep(0.05)


def curl_config(agent, tmp, n, server_port, kind="check.http"):
    path = os.path.join(tmp, "checks.cfg")
    params = {"url": f"http://127.0.0.1:{server_port}/"} if kind == "check.http" else {}
    body = json.dumps({"kind": kind, "params": params})
    outs = []
    with open(path, "w") as f:
        for i in range(n):
            if i:
                f.write("next\n")
            out = os.path.join(tmp, f"out-{i}.json")
            outs.append(out)
            f.write(f'url = "http://127.0.0.1:{agent.port}/v1/jobs?wait=30"\n')
            f.write(f'header = "Authorization: Bearer {agent.token}"\n')
            f.write('header = "content-type: application/json"\n')
            f.write(f"data = {json.dumps(body)}\n")
            f.write(f'output = "{out}"\n')
    return path, outs


def verify_outpost(outs, kind="check.http"):
    bad = 0
    for out in outs:
        with open(out) as f:
            j = json.load(f)
        bad += not (j.get("state") == "succeeded"
                    and (kind != "check.http" or j["output"]["state"] == "OK"))
        os.unlink(out)
    if bad:
        raise SystemExit(f"{bad} check.http jobs were not OK")


def run_outpost(agent, tmp, checks, conc, server_port, kind="check.http"):
    cfg, outs = curl_config(agent, tmp, checks, server_port, kind)
    c0, k0 = proc_cpu(agent.proc.pid), children_cpu()
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "--parallel", "--parallel-max", str(conc), "-K", cfg],
                   check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    cpu, client = proc_cpu(agent.proc.pid) - c0, children_cpu() - k0
    verify_outpost(outs, kind)
    return wall, cpu, client


class Metrics:
    """The agent's `/metrics`, read over one kept-alive connection."""

    def __init__(self, agent):
        self.agent = agent
        self.conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)

    def jobs_done(self, kind):
        """Jobs of `kind` finished (result stored), any outcome."""
        self.conn.request("GET", "/metrics",
                          headers={"Authorization": f"Bearer {self.agent.token}"})
        r = self.conn.getresponse()
        text = r.read().decode()
        if r.status != 200:
            raise SystemExit(f"GET /metrics: {r.status}")
        return sum(float(line.rsplit(None, 1)[1]) for line in text.splitlines()
                   if line.startswith("outpost_jobs_total{") and f'kind="{kind}"' in line)

    def close(self):
        self.conn.close()


def run_scheduled(agent, checks, due, window, poll=0.2, kind="check.http"):
    """Agent CPU for one firing of CHECKS schedules due at `due` (Unix s), minus the idle
    CPU of a window of the same length measured the same way (polled as often)."""
    pid = agent.proc.pid
    m = Metrics(agent)
    try:
        sleep_until(due - 0.5 - window)
        i0, it0, w0 = thread_ns(pid), proc_cpu(pid), time.time()
        base = m.jobs_done(kind)
        while time.time() < due - 0.5:
            time.sleep(max(0.0, min(poll, due - 0.5 - time.time())))
            base = m.jobs_done(kind)
        i1, it1, w1 = thread_ns(pid), proc_cpu(pid), time.time()
        idle_rate = thread_cpu_since(i0, i1) / (w1 - w0)
        idle_tick_rate = (it1 - it0) / (w1 - w0)
        end = due + 30
        while True:
            time.sleep(poll)
            n = m.jobs_done(kind) - base
            if n >= checks:
                break
            if time.time() > end:
                raise SystemExit(f"scheduled: only {n:.0f} of {checks} results in 30 s")
        c1, t1, w2 = thread_ns(pid), proc_cpu(pid), time.time()
    finally:
        m.close()
    if n != checks:
        raise SystemExit(f"scheduled: {n:.0f} results (expected {checks})")
    busy = w2 - w1
    cpu = thread_cpu_since(i1, c1) - idle_rate * busy
    ticks = (t1 - it1) - idle_tick_rate * busy
    return cpu, ticks, idle_rate


def verify_scheduled(agent, dues, checks, kind="check.http"):
    """After the agent stopped: every measured due time stored CHECKS check.http results,
    all OK. Returns each due time's wall time, from the due time to its last result."""
    db = sqlite3.connect(f"file:{agent.dir}/outpost.db?mode=ro", uri=True)
    walls = []
    try:
        for due in dues:
            # A firing's jobs are accepted (their `created_at`) up to the scheduler's lead,
            # 500 ms, before the due time, and started at it.
            lo = due * 1000 - 1000
            n, ok, last = db.execute(
                "SELECT count(*), coalesce(sum(state = 'succeeded' AND "
                "(kind != 'check.http' OR json_extract(output, '$.state') = 'OK')), 0), "
                "max(finished_at) FROM jobs "
                "WHERE schedule IS NOT NULL AND kind = ? AND created_at >= ? AND created_at < ?",
                (kind, lo, lo + 6_000)).fetchone()
            if n != checks or ok != checks:
                raise SystemExit(f"due {due}: {n} scheduled results, {ok} OK "
                                 f"(expected {checks} OK)")
            walls.append(last / 1000 - due)
    finally:
        db.close()
    return walls


def run_check_http(checks, conc, server_port):
    args = "\n".join(["x"] * checks) + "\n"
    # One check_http per input line, CONC at a time; `-I {}` with no `{}` in the command
    # runs it unchanged (no shell in between: the fork+exec is the plugin's own).
    cmd = ["xargs", "-P", str(conc), "-I", "{}", CHECK_HTTP, "-H", "127.0.0.1",
           "-p", str(server_port)]
    k0 = children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, input=args, text=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    cpu = children_cpu() - k0
    if r.returncode != 0:
        raise SystemExit(f"check_http: some checks were not OK (xargs exit {r.returncode})")
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--mode", choices=["both", "api", "scheduled"], default="both")
    ap.add_argument("--period", type=int, default=30,
                    help="seconds between due times (divides 60)")
    ap.add_argument("--window", type=float, default=2.0,
                    help="idle window before each due time, seconds")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if 60 % a.period:
        raise SystemExit("--period must divide 60")
    if not os.path.exists(CHECK_HTTP):
        raise SystemExit(f"{CHECK_HTTP} missing: run scripts/deps/60-probes.sh")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost"], cwd=ROOT,
                       check=True)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost-bench", "--bin",
                        "http_check_server"], cwd=ROOT, check=True)
    api = a.mode in ("both", "api")
    sched = a.mode in ("both", "scheduled")
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} load "
          f"{open('/proc/loadavg').read().split()[0]} rounds {a.rounds} checks {a.checks} "
          f"conc {a.conc} mode {a.mode}" + (f" period {a.period} s" if sched else ""))
    rows = {k: [] for k in ["o_wall", "o_cpu", "o_client", "o_rate", "n_wall", "n_cpu",
                            "n_rate", "e_cpu", "s_wall", "s_cpu", "s_ticks", "s_rate",
                            "se_cpu", "se_wall"]}
    server = subprocess.Popen([SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())

    def side_api(r):
        wall, cpu, client = run_outpost(agent, tmp, a.checks, a.conc, port)
        rate = a.checks / cpu
        rows["o_wall"].append(wall)
        rows["o_cpu"].append(cpu)
        rows["o_client"].append(client)
        rows["o_rate"].append(rate)
        print(f"round {r} outpost api:   {wall:.2f} s wall, agent CPU {cpu:.3f} s "
              f"= {rate:.0f} checks/CPU-s (curl client CPU {client:.2f} s)")
        # The job path alone (API, dispatcher, store, reply): `echo` jobs the same way,
        # to split the agent's CPU per check into the path's and the check's own.
        _, ecpu, _ = run_outpost(agent, tmp, a.checks, a.conc, port, "echo")
        rows["e_cpu"].append(ecpu)
        print(f"round {r} outpost api echo jobs (job path alone): agent CPU "
              f"{ecpu:.2f} s = {ecpu / a.checks * 1e6:.0f} us/job")

    def side_check_http(r):
        wall, cpu = run_check_http(a.checks, a.conc, port)
        rate = a.checks / cpu
        rows["n_wall"].append(wall)
        rows["n_cpu"].append(cpu)
        rows["n_rate"].append(rate)
        print(f"round {r} check_http:    {wall:.2f} s wall, children CPU "
              f"{cpu:.2f} s = {rate:.0f} checks/CPU-s")

    def next_due(after):
        return (int(after) // a.period + 1) * a.period

    dues, echo_dues = [], []

    def side_scheduled_echo(r, due):
        # The scheduled job path alone (timer, dispatcher, store): as many `echo`
        # schedules, due half a period after the checks, measured the same way.
        cpu, _, _ = run_scheduled(agent, a.checks, due, a.window, kind="echo")
        echo_dues.append(due)
        rows["se_cpu"].append(cpu)
        print(f"round {r} outpost sched echo jobs (job path alone): agent CPU {cpu:.3f} s "
              f"= {cpu / a.checks * 1e6:.0f} us/job")

    def side_scheduled(r, due, keep=True):
        cpu, ticks, idle = run_scheduled(agent, a.checks, due, a.window)
        rate = a.checks / cpu
        if keep:
            dues.append(due)
            rows["s_cpu"].append(cpu)
            rows["s_ticks"].append(ticks)
            rows["s_rate"].append(rate)
        print(f"round {r} outpost sched: agent CPU "
              f"{cpu:.3f} s = {rate:.0f} checks/CPU-s (utime+stime {ticks:.2f} s; "
              f"idle {idle * 1e3:.1f} ms/s subtracted){'' if keep else ' [warm-up]'}")

    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(tmp)
        try:
            if sched:
                t0 = time.time()
                agent.add_schedules(a.checks, f"*/{a.period} * * * * *", port)
                agent.add_schedules(a.checks, f"{a.period // 2}/{a.period} * * * * *", port,
                                    kind="echo")
                print(f"# {a.checks} check.http schedules (and as many echo ones, due half "
                      f"a period later) added in {time.time() - t0:.1f} s")
            # Warm-up: the store's first pages, the page cache for check_http; and one
            # firing unmeasured.
            due = None
            if sched:
                due = next_due(time.time() + a.window + 1)
                side_scheduled("w", due, keep=False)
            if api:
                run_outpost(agent, tmp, 100, a.conc, port)
            run_check_http(50, a.conc, port)
            for r in range(a.rounds):
                others = [side_check_http] + ([side_api] if api else [])
                if r % 2:
                    others.reverse()
                if sched:
                    due = next_due(max(due, time.time() + a.window + 1))
                    side_scheduled(r, due)
                # Between due times: the others, each of which must end before the next
                # due time's idle window (else a firing would land in its figures).
                for side in others:
                    side(r)
                    if sched and time.time() > due + a.period // 2 - a.window - 0.5:
                        raise SystemExit(f"round {r}: the gap between due times was too "
                                         f"short; raise --period")
                if sched:
                    side_scheduled_echo(r, due + a.period // 2)
                sys.stdout.flush()
        finally:
            agent.stop()
            server.stdin.close()
            server.wait(timeout=10)
        if sched:
            rows["s_wall"] = verify_scheduled(agent, dues, a.checks)
            rows["se_wall"] = verify_scheduled(agent, echo_dues, a.checks, "echo")
            print("scheduled: due->last result stored, s: "
                  + " ".join(f"{w:.2f}" for w in rows["s_wall"]))
    m = {k: statistics.median(v) for k, v in rows.items() if v}
    n = m["n_rate"]
    print(f"median check_http {n:.0f} checks/CPU-s ({m['n_cpu']:.2f} s CPU, "
          f"{m['n_wall']:.2f} s wall) = {m['n_cpu'] / a.checks * 1e6:.0f} us/check")
    if api:
        print(f"median outpost api {m['o_rate']:.0f} checks/CPU-s (agent {m['o_cpu']:.3f} s "
              f"CPU, {m['o_wall']:.2f} s wall; curl {m['o_client']:.2f} s CPU): ratio "
              f"{m['o_rate'] / n:.1f}x; counting curl's CPU too "
              f"{(a.checks / (m['o_cpu'] + m['o_client'])) / n:.1f}x; per check "
              f"{m['o_cpu'] / a.checks * 1e6:.0f} us (job path, from echo jobs, "
              f"{m['e_cpu'] / a.checks * 1e6:.0f} us)")
    if sched:
        print(f"median outpost scheduled {m['s_rate']:.0f} checks/CPU-s (agent "
              f"{m['s_cpu']:.3f} s CPU, utime+stime {m['s_ticks']:.2f} s; "
              f"{m['s_wall']:.2f} s due->last stored): ratio {m['s_rate'] / n:.1f}x; per check "
              f"{m['s_cpu'] / a.checks * 1e6:.0f} us (job path, from echo schedules, "
              f"{m['se_cpu'] / a.checks * 1e6:.0f} us)")


if __name__ == "__main__":
    main()
