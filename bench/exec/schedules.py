#!/usr/bin/env python3
"""Schedules through the product (issue 13): 10,000 schedules due each minute.

`outpost run` (release build) with N schedules (`POST /v1/schedules`, cron `* * * * *`,
job `echo`, no jitter), all due at every minute's :00.

- timing error: for every job a schedule submitted, its stored `started_at` (when it took
  an executor slot and began to run) minus its due time (the minute it stands for); p50,
  p99 and max over MINUTES minute boundaries (N jobs each). Read from the store file after
  the agent stopped. It includes the executor's own concurrency (`echo` runs 1,024 at a
  time, so 10,000 start in waves). `created_*`: when the jobs were accepted and recorded,
  against the same due time (the scheduler does both up to 250 ms ahead).
- idle CPU between due times: utime+stime of the agent (/proc/PID/stat, in clock ticks)
  over the quiet part of a minute (from :QUIET_FROM to :58, after the burst is done), and
  the threads' wakeups over the same window (the sum of run counts, the third field of
  /proc/PID/task/*/schedstat, and voluntary context switches).
- idle CPU with nothing due: a second agent with the same N schedules due once a year
  (cron `0 0 1 1 *`), over a full 60 s: the cost of holding them (one timer, no polling).

Usage: bench/exec/schedules.py [--schedules 10000] [--minutes 3] [--quiet-from 15]
Needs: cargo (builds outpost in release). Loopback only; agents are stopped by PID.
"""
import argparse
import http.client
import json
import os
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
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wakeups(pid):
    """(run count summed over threads, voluntary context switches summed over threads)."""
    runs = vol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                runs += int(f.read().split()[2])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return runs, vol


class Agent:
    def __init__(self, tmp, name):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        # BENCH_RUST_LOG (e.g. "warn,outpost::schedules=debug") keeps the agent's log in
        # BENCH_LOG_DIR/<name>.log, to see where a late firing loses its time.
        env = dict(os.environ, OUTPOST_TOKEN=self.token,
                   LOG_LEVEL="warn", RUST_LOG=os.environ.get("BENCH_RUST_LOG", "warn"),
                   # Every schedule's job is accepted at once: the queue holds them all.
                   OUTPOST_JOBS_QUEUE_CAPACITY="40000")
        self.proc = subprocess.Popen([OUTPOST, "run", "--data-dir", self.dir,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log(name))
        end = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    raise SystemExit("outpost did not start")
                time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    @staticmethod
    def log(name):
        d = os.environ.get("BENCH_LOG_DIR")
        if not d:
            return subprocess.DEVNULL
        os.makedirs(d, exist_ok=True)
        return open(os.path.join(d, f"{name}.log"), "w")

    def post(self, path, body):
        self.conn.request("POST", path, body=json.dumps(body),
                          headers={"Authorization": f"Bearer {self.token}",
                                   "content-type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 201:
            raise SystemExit(f"POST {path}: {r.status} {data[:200]!r}")

    def add(self, n, cron):
        for i in range(n):
            self.post("/v1/schedules", {"id": f"s{i:05}", "when": {"cron": cron},
                                        "job": {"kind": "echo", "params": {"i": i}}})

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def sleep_until(t):
    while True:
        d = t - time.time()
        if d <= 0:
            return
        time.sleep(min(d, 1.0))


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=10000)
    ap.add_argument("--minutes", type=int, default=3)
    ap.add_argument("--quiet-from", type=int, default=15)
    a = ap.parse_args()
    if not os.path.exists(OUTPOST) or os.environ.get("BUILD", "1") == "1":
        subprocess.run(["cargo", "build", "--release", "-p", "outpost"], cwd=ROOT, check=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    out = {"schedules": a.schedules, "load_at_start": float(load)}
    with tempfile.TemporaryDirectory() as tmp:
        # Phase 1: due every minute.
        ag = Agent(tmp, "minutely")
        t0 = time.time()
        ag.add(a.schedules, "* * * * *")
        out["add_seconds"] = round(time.time() - t0, 1)
        # The first boundary after all are in, then MINUTES of them.
        first = (int(time.time()) // 60 + 1) * 60
        quiet = []
        for m in range(a.minutes):
            boundary = first + 60 * m
            sleep_until(boundary + a.quiet_from)
            c0, w0 = cpu_ticks(ag.proc.pid), wakeups(ag.proc.pid)
            t_q0 = time.time()
            sleep_until(boundary + 58)
            c1, w1 = cpu_ticks(ag.proc.pid), wakeups(ag.proc.pid)
            quiet.append({"seconds": round(time.time() - t_q0, 1), "ticks": c1 - c0,
                          "runs": w1[0] - w0[0], "voluntary_switches": w1[1] - w0[1]})
        ag.stop()
        db = sqlite3.connect(os.path.join(ag.dir, "outpost.db"))
        rows = db.execute("SELECT created_at, state, started_at FROM jobs"
                          " WHERE schedule IS NOT NULL").fetchall()
        db.close()
        lo, hi = first * 1000, (first + 60 * a.minutes) * 1000
        # Each job's due time: the minute it started in (a job starts at or after its due
        # time, within the minute); created_at is when it was accepted and recorded, up to
        # 250 ms ahead of it (negative offsets).
        rows = [(c, s, st) for c, s, st in rows if st is not None and lo <= st < hi]
        due = lambda st: (st // 60000) * 60000
        errs = sorted(st - due(st) for _, _, st in rows)
        made = sorted(c - due(st) for c, _, st in rows)
        ok = sum(1 for _, s, _ in rows if s == "succeeded")
        out["timing"] = {"jobs": len(errs), "expected": a.schedules * a.minutes,
                         "succeeded": ok,
                         "min_ms": errs[0] if errs else None,
                         "p50_ms": pct(errs, 0.50), "p99_ms": pct(errs, 0.99),
                         "max_ms": errs[-1] if errs else None,
                         "created_min_ms": made[0] if made else None,
                         "created_max_ms": made[-1] if made else None}
        # Per minute: each due time's own p50 and p99 (the figures above pool them).
        per = []
        for m in range(a.minutes):
            b = (first + 60 * m) * 1000
            e = sorted(st - b for _, _, st in rows if b <= st < b + 60000)
            if e:
                per.append({"jobs": len(e), "p50_ms": pct(e, 0.5), "p99_ms": pct(e, 0.99),
                            "min_ms": e[0], "max_ms": e[-1]})
        out["timing"]["per_minute"] = per
        out["between_due_times"] = quiet

        # Phase 2: the same number of schedules, none due for a year.
        ag = Agent(tmp, "yearly")
        ag.add(a.schedules, "0 0 1 1 *")
        time.sleep(2)  # the adds' own work settles (a measurement window, not a sync)
        c0, w0 = cpu_ticks(ag.proc.pid), wakeups(ag.proc.pid)
        t_i0 = time.time()
        time.sleep(60)
        c1, w1 = cpu_ticks(ag.proc.pid), wakeups(ag.proc.pid)
        out["idle_nothing_due"] = {"seconds": round(time.time() - t_i0, 1), "ticks": c1 - c0,
                                   "runs": w1[0] - w0[0],
                                   "voluntary_switches": w1[1] - w0[1]}
        ag.stop()
    with open("/proc/loadavg") as f:
        out["load_at_end"] = float(f.read().split()[0])
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
