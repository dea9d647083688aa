#!/usr/bin/env python3
"""Exec jobs through the product, side by side with a bare fork-exec (issue 13).

- outpost: `outpost run` with `exec.enabled` and one allowlisted command, `true` =
  ["/bin/true"]; each job a `POST /v1/jobs?wait=30` {"kind": "exec", "params": {"command":
  "true"}}. Every run goes through the whole path: the allowlist, the sandbox (scrubbed
  environment, its own process group, rlimits, no_new_privs, Landlock where the kernel has
  it, the unprivileged user when root), the audit log (two hash-chained lines, fsynced
  before the decision is acted on and after the outcome), the `exec.audit` events and the
  result in the store, the reply.
- bare: bench/exec/spawn.rs, `std::process::Command::new("/bin/true").output()`, nothing else.

Two figures, each side alternated with the other in every round (A B, then B A, ...):
- throughput: RUNS jobs, CONC in flight (curl --parallel for the agent, threads for bare);
- latency: SEQ jobs one at a time; p50 and p99 of each (curl's time_total for the agent,
  spawn to reaped for bare), and the agent's added latency over bare (p50 difference).

Usage: bench/exec/run.py [--rounds 3] [--runs 2000] [--conc 16] [--seq 300]
Needs: cargo (builds outpost and exec_spawn in release), curl. Loopback only; the agent is
stopped by PID.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUTPOST = os.path.join(ROOT, "target", "release", "outpost")
SPAWN = os.path.join(ROOT, "target", "release", "exec_spawn")

CONFIG = """
[exec]
enabled = true

[commands.true]
argv = ["/bin/true"]
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime: the agent and the children it reaped.
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Agent:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "agent")
        os.makedirs(self.dir, exist_ok=True)
        cfg = os.path.join(tmp, "outpost.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        env = dict(os.environ, OUTPOST_API_TOKEN=self.token, LOG_LEVEL="warn",
                   OUTPOST_JOBS_QUEUE_CAPACITY="4096")
        self.proc = subprocess.Popen([OUTPOST, "run", "--config", cfg, "--data-dir", self.dir,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    raise SystemExit("outpost did not start")
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def curl_config(agent, tmp, n, tag, timed=False):
    path = os.path.join(tmp, f"{tag}.cfg")
    body = json.dumps({"kind": "exec", "params": {"command": "true"}})
    outs = []
    with open(path, "w") as f:
        for i in range(n):
            if i:
                f.write("next\n")
            out = os.path.join(tmp, f"{tag}-{i}.json")
            outs.append(out)
            f.write(f'url = "http://127.0.0.1:{agent.port}/v1/jobs?wait=30"\n')
            f.write(f'header = "Authorization: Bearer {agent.token}"\n')
            f.write('header = "content-type: application/json"\n')
            f.write(f"data = {json.dumps(body)}\n")
            f.write(f'output = "{out}"\n')
            if timed:
                f.write('write-out = "%{time_total}\\n"\n')
    return path, outs


def check(outs):
    bad = 0
    for out in outs:
        with open(out) as f:
            bad += '"state":"succeeded"' not in f.read()
        os.unlink(out)
    if bad:
        raise SystemExit(f"{bad} exec jobs did not succeed")


def agent_throughput(agent, tmp, runs, conc):
    cfg, outs = curl_config(agent, tmp, runs, "tp")
    c0 = proc_cpu(agent.proc.pid)
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "--parallel", "--parallel-max", str(conc), "-K", cfg],
                   check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    cpu = proc_cpu(agent.proc.pid) - c0
    check(outs)
    return runs / wall, cpu / runs * 1e6


def agent_latency(agent, tmp, seq):
    cfg, outs = curl_config(agent, tmp, seq, "lat", timed=True)
    r = subprocess.run(["curl", "-s", "-K", cfg], check=True, capture_output=True, text=True)
    lat = sorted(float(x) * 1e6 for x in r.stdout.split())
    assert len(lat) == seq, r.stdout[:200]
    check(outs)
    return lat[len(lat) // 2], lat[int((len(lat) - 1) * 0.99)]


def bare(runs, conc):
    r = subprocess.run([SPAWN, "/bin/true", str(runs), str(conc)], check=True,
                       capture_output=True, text=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--seq", type=int, default=300)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost-bench", "--bin",
                    "exec_spawn"], cwd=ROOT, check=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} load {open('/proc/loadavg').read().split()[0]}"
          f" euid {os.geteuid()} rounds {a.rounds} runs {a.runs} conc {a.conc} seq {a.seq}")
    rows = {"agent_tp": [], "agent_cpu_us": [], "agent_p50": [], "agent_p99": [],
            "bare_tp": [], "bare_p50": [], "bare_p99": []}
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(tmp)
        try:
            # Warm-up: page cache, the first audit lines, the store's first pages.
            agent_throughput(agent, tmp, 100, a.conc)
            bare(100, a.conc)
            for r in range(a.rounds):
                sides = ["agent", "bare"] if r % 2 == 0 else ["bare", "agent"]
                for side in sides:
                    if side == "agent":
                        tp, cpu = agent_throughput(agent, tmp, a.runs, a.conc)
                        p50, p99 = agent_latency(agent, tmp, a.seq)
                        rows["agent_tp"].append(tp)
                        rows["agent_cpu_us"].append(cpu)
                        rows["agent_p50"].append(p50)
                        rows["agent_p99"].append(p99)
                        print(f"round {r} agent: {tp:.0f} jobs/s ({cpu:.0f} us CPU per job incl."
                              f" children), sequential p50 {p50:.0f} us p99 {p99:.0f} us")
                    else:
                        t = bare(a.runs, a.conc)
                        s = bare(a.seq, 1)
                        rows["bare_tp"].append(t["per_s"])
                        rows["bare_p50"].append(s["p50_us"])
                        rows["bare_p99"].append(s["p99_us"])
                        print(f"round {r} bare:  {t['per_s']:.0f} runs/s, sequential p50 "
                              f"{s['p50_us']} us p99 {s['p99_us']} us")
                sys.stdout.flush()
        finally:
            agent.stop()
    m = {k: statistics.median(v) for k, v in rows.items()}
    print(f"median agent {m['agent_tp']:.0f} jobs/s vs bare {m['bare_tp']:.0f} runs/s: ratio "
          f"{m['agent_tp'] / m['bare_tp']:.2f}; sequential p50 {m['agent_p50']:.0f} us vs "
          f"{m['bare_p50']:.0f} us (added {m['agent_p50'] - m['bare_p50']:.0f} us), p99 "
          f"{m['agent_p99']:.0f} vs {m['bare_p99']:.0f} us")


if __name__ == "__main__":
    main()
