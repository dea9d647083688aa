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
- the server: bench/probes/http_server.rs (the tests' own server, one thread), the same
  for both sides; its CPU counts for neither.

Figures per side: checks per CPU-second and wall time. Sides alternate in each round
(A B, then B A, ...); medians over the rounds and the ratio of medians.

Usage: bench/probes/http_checks.py [--rounds 3] [--checks 1000] [--conc 8]
Needs: cargo (builds outpost and http_check_server in release), curl, monitoring-plugins-
basic (scripts/deps/60-probes.sh). Loopback only; the agent and server stop by PID.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUTPOST = os.path.join(TARGET, "release", "outpost")
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
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(CHECK_HTTP):
        raise SystemExit(f"{CHECK_HTTP} missing: run scripts/deps/60-probes.sh")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost"], cwd=ROOT,
                       check=True)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost-bench", "--bin",
                        "http_check_server"], cwd=ROOT, check=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} load "
          f"{open('/proc/loadavg').read().split()[0]} rounds {a.rounds} checks {a.checks} "
          f"conc {a.conc}")
    rows = {k: [] for k in ["o_wall", "o_cpu", "o_client", "o_rate", "n_wall", "n_cpu", "n_rate",
                            "e_cpu"]}
    server = subprocess.Popen([SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(tmp)
        try:
            # Warm-up: the store's first pages, the page cache for check_http.
            run_outpost(agent, tmp, 100, a.conc, port)
            run_check_http(50, a.conc, port)
            for r in range(a.rounds):
                sides = ["outpost", "check_http"] if r % 2 == 0 else ["check_http", "outpost"]
                for side in sides:
                    if side == "outpost":
                        wall, cpu, client = run_outpost(agent, tmp, a.checks, a.conc, port)
                        rate = a.checks / cpu
                        rows["o_wall"].append(wall)
                        rows["o_cpu"].append(cpu)
                        rows["o_client"].append(client)
                        rows["o_rate"].append(rate)
                        print(f"round {r} outpost:    {wall:.2f} s wall, agent CPU {cpu:.2f} s "
                              f"= {rate:.0f} checks/CPU-s (curl client CPU {client:.2f} s)")
                        # The job path alone (API, dispatcher, store, reply): `echo` jobs
                        # the same way, to split the agent's CPU per check into the path's
                        # and the check's own.
                        _, ecpu, _ = run_outpost(agent, tmp, a.checks, a.conc, port, "echo")
                        rows["e_cpu"].append(ecpu)
                        print(f"round {r} outpost echo jobs (job path alone): agent CPU "
                              f"{ecpu:.2f} s = {ecpu / a.checks * 1e6:.0f} us/job")
                    else:
                        wall, cpu = run_check_http(a.checks, a.conc, port)
                        rate = a.checks / cpu
                        rows["n_wall"].append(wall)
                        rows["n_cpu"].append(cpu)
                        rows["n_rate"].append(rate)
                        print(f"round {r} check_http: {wall:.2f} s wall, children CPU "
                              f"{cpu:.2f} s = {rate:.0f} checks/CPU-s")
                    sys.stdout.flush()
        finally:
            agent.stop()
            server.stdin.close()
            server.wait(timeout=10)
    m = {k: statistics.median(v) for k, v in rows.items()}
    print(f"median outpost {m['o_rate']:.0f} checks/CPU-s (agent {m['o_cpu']:.2f} s CPU, "
          f"{m['o_wall']:.2f} s wall; curl {m['o_client']:.2f} s CPU) vs check_http "
          f"{m['n_rate']:.0f} checks/CPU-s ({m['n_cpu']:.2f} s CPU, {m['n_wall']:.2f} s wall): "
          f"ratio {m['o_rate'] / m['n_rate']:.1f}x; counting curl's CPU too "
          f"{(a.checks / (m['o_cpu'] + m['o_client'])) / m['n_rate']:.1f}x")
    print(f"per check: outpost agent {m['o_cpu'] / a.checks * 1e6:.0f} us (of which the job "
          f"path, from echo jobs, {m['e_cpu'] / a.checks * 1e6:.0f} us), check_http "
          f"{m['n_cpu'] / a.checks * 1e6:.0f} us")


if __name__ == "__main__":
    main()
