#!/usr/bin/env python3
"""Containers through the product (issue 15) against the `docker` CLI doing the same, with
CONTAINERS busybox containers running on a dockerd the bench starts itself (its own data
root, exec root and socket under /tmp, `--iptables=false --bridge=none`, as
../shared/peers.md runs it; never a system engine; stopped by its PID at the end).

- list: `container.list` through `POST /v1/jobs?wait=30` (one kept-alive HTTP connection:
  what a program on the device or an uplink sees) and `outpost containers ps` (a process
  per call, the same job: what a person at the shell sees), against `docker ps` (a process
  per call). All three list the running containers.
- inspect: `container.inspect` {"id": NAME} (API) and `docker inspect NAME`.
- RSS of the agent (VmRSS and VmHWM from /proc): started and idle (no container job yet:
  the engine is not connected), after the lists and inspects, and after a scrape of
  /metrics carrying the CONTAINERS containers' figures (cAdvisor's names); with the time
  each scrape took.
- time from an app change to its container running: `app.apply` with one service's
  environment changed (answered once the recreated container runs) against the docker CLI
  doing the same by hand: `docker stop`, `docker rm`, `docker run -d` with the new
  environment (app_change_to_running). The service ends at once on SIGTERM on both sides.

Sides alternate in every round (A B C, then C B A, ...); each round times ITER calls per
side; per-call medians over rounds and the ratio of medians. The 1-minute load is waited on
(up to 10 min for < 1.2, then the run proceeds) and printed with the figures.

Usage: bench/containers/bench.py [--containers 100] [--rounds 5] [--iter 20] [--quiet-wait 600]
Command used for the figures: OUTPOST_BIN=target/release/outpost BUILD=0 nice -n 19 \
    python3 bench/containers/bench.py --containers 100 --rounds 5 --iter 20
Needs: cargo (builds outpost in release unless BUILD=0), docker.io and busybox-static
(scripts/deps/70-containers.sh). Loopback only.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUTPOST = os.environ.get("OUTPOST_BIN", os.path.join(TARGET, "release", "outpost"))
APPLETS = ["sh", "sleep", "echo", "cat", "true"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_quiet(limit=1.2, most=600):
    end = time.time() + most
    while True:
        with open("/proc/loadavg") as f:
            load = float(f.read().split()[0])
        if load < limit or time.time() > end:
            return load
        time.sleep(10)


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


class Dockerd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bk", dir="/tmp")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}",
                        DOCKER_CONFIG=os.path.join(self.dir, "client"))
        self.log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none",
             "--data-root", os.path.join(self.dir, "data"),
             "--exec-root", os.path.join(self.dir, "exec"),
             "-H", f"unix://{self.sock}", "-p", os.path.join(self.dir, "docker.pid")],
            stdout=self.log, stderr=self.log)
        end = time.time() + 60
        while subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode:
            if self.proc.poll() is not None or time.time() > end:
                raise SystemExit(f"dockerd did not start: see {self.dir}/dockerd.log")
            time.sleep(0.2)

    def docker(self, *args):
        r = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"docker {args}: {r.stderr}")
        return r.stdout

    def busybox(self):
        root = os.path.join(self.dir, "rootfs")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "tmp"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for a in APPLETS:
            os.symlink("busybox", os.path.join(root, "bin", a))
        tar = os.path.join(self.dir, "rootfs.tar")
        subprocess.run(["tar", "-C", root, "-cf", tar, "."], check=True)
        self.docker("import", tar, "busybox:local")

    def stop(self):
        # Containers first, so the engine stops promptly; then the engine by its PID.
        ids = self.docker("ps", "-aq").split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], env=self.env, capture_output=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["umount", "-R", os.path.join(self.dir, "exec")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Agent:
    def __init__(self, tmp, sock, containers):
        self.dir = os.path.join(tmp, "agent")
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, OUTPOST_TOKEN=self.token, LOG_LEVEL="warn", RUST_LOG="warn",
                   OUTPOST_CONTAINERS_SOCKET=sock,
                   OUTPOST_CONTAINERS_METRICS_MAX_CONTAINERS=str(containers),
                   OUTPOST_CONTAINERS_METRICS_TIMEOUT_MS="10000")
        self.env = env
        self.proc = subprocess.Popen([OUTPOST, "run", "--data-dir", self.dir,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    raise SystemExit("outpost did not start")
                time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def job(self, kind, params):
        self.conn.request("POST", "/v1/jobs?wait=30",
                          body=json.dumps({"kind": kind, "params": params}),
                          headers={"Authorization": f"Bearer {self.token}",
                                   "content-type": "application/json"})
        r = self.conn.getresponse()
        rec = json.loads(r.read())
        if rec.get("state") != "succeeded":
            raise SystemExit(f"{kind}: {rec}")
        return rec["output"]

    def scrape(self):
        self.conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {self.token}"})
        r = self.conn.getresponse()
        return r.read().decode()

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timed(fn, n):
    """Per-call milliseconds over n calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1000 / n


# A service that ends at once on SIGTERM (a bare `sleep` as PID 1 ignores it and would wait
# out the stop's 10 s grace on both sides).
CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]
APP = """services:
  web:
    image: busybox:local
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]
    network_mode: none
    environment:
      CHANGE: "{n}"
"""


def app_change_to_running(ag, d, rounds, per_round):
    """Time from an app change to its container running: `app.apply` of an app whose one
    service's environment changed (the job answers once the recreated container runs: the
    store, the reconciler's plan, remove, create, start) against the docker CLI doing the
    same to a plain container (`docker stop`, `docker rm`, `docker run -d`). Sides
    alternate per round; per-change medians."""
    n = [0]

    def outpost_change():
        n[0] += 1
        ag.job("app.apply", {"name": "benchapp", "compose": APP.format(n=n[0])})

    def docker_change():
        # What the reconciler does, by hand: a graceful stop, remove, create and start.
        n[0] += 1
        d.docker("stop", "bench-plain")
        d.docker("rm", "bench-plain")
        d.docker("run", "-d", "--network", "none", "--name", "bench-plain", "-e",
                 f"CHANGE={n[0]}", "busybox:local", *CMD)

    # The first apply creates the app (not a change); the first run creates the container.
    outpost_change()
    d.docker("run", "-d", "--network", "none", "--name", "bench-plain",
             "busybox:local", *CMD)
    sides = {"outpost_app_apply": outpost_change, "docker_stop_rm_run": docker_change}
    got = {k: [] for k in sides}
    for r in range(rounds):
        for k in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            got[k].append(timed(sides[k], per_round))
    med = {k: round(statistics.median(v), 1) for k, v in got.items()}
    return {"median_ms": med, "rounds_ms": {k: [round(x, 1) for x in v] for k, v in got.items()},
            "ratio_docker_over_outpost": round(med["docker_stop_rm_run"] / med["outpost_app_apply"], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iter", type=int, default=20)
    ap.add_argument("--quiet-wait", type=int, default=600,
                    help="seconds to wait at most for a 1-minute load below 1.2")
    a = ap.parse_args()
    if os.environ.get("BUILD", "1") == "1":
        subprocess.run(["nice", "-n", "19", "cargo", "build", "--release", "-p", "outpost"],
                       cwd=ROOT, check=True)
    d = Dockerd()
    out = {"containers": a.containers, "rounds": a.rounds, "iter": a.iter}
    try:
        d.busybox()
        for i in range(a.containers):
            d.docker("run", "-d", "--network", "none", "--name", f"bench-{i:03}",
                     "busybox:local", "sleep", "1000000")
        with tempfile.TemporaryDirectory() as tmp:
            ag = Agent(tmp, d.sock, a.containers)
            pid = ag.proc.pid
            time.sleep(1)  # settle after start (measurement only, not synchronisation)
            out["rss_idle_kb"] = rss_kb(pid)
            probe = f"bench-{a.containers // 2:03}"
            assert len(ag.job("container.list", {})) == a.containers
            cli = [OUTPOST, "containers", "--api", ag.url, "--token", ag.token, "--json", "ps"]

            def outpost_cli():
                subprocess.run(cli, check=True, capture_output=True)

            def docker_ps():
                subprocess.run(["docker", "ps"], env=d.env, check=True, capture_output=True)

            def docker_inspect():
                subprocess.run(["docker", "inspect", probe], env=d.env, check=True,
                               capture_output=True)

            sides = {
                "list_api": lambda: ag.job("container.list", {}),
                "list_outpost_cli": outpost_cli,
                "list_docker_ps": docker_ps,
                "inspect_api": lambda: ag.job("container.inspect", {"id": probe}),
                "inspect_docker": docker_inspect,
            }
            out["load_before"] = wait_quiet(most=a.quiet_wait)
            rounds = {k: [] for k in sides}
            order = list(sides)
            for r in range(a.rounds):
                for k in (order if r % 2 == 0 else order[::-1]):
                    rounds[k].append(timed(sides[k], a.iter))
            with open("/proc/loadavg") as f:
                out["load_after"] = float(f.read().split()[0])
            med = {k: round(statistics.median(v), 2) for k, v in rounds.items()}
            out["median_ms_per_call"] = med
            out["rounds_ms_per_call"] = {k: [round(x, 2) for x in v] for k, v in rounds.items()}
            out["ratio_docker_ps_over_api"] = round(med["list_docker_ps"] / med["list_api"], 1)
            out["ratio_docker_ps_over_outpost_cli"] = round(
                med["list_docker_ps"] / med["list_outpost_cli"], 2)
            out["ratio_docker_inspect_over_api"] = round(
                med["inspect_docker"] / med["inspect_api"], 1)
            out["rss_after_jobs_kb"] = rss_kb(pid)
            scrapes = []
            for _ in range(5):
                t0 = time.perf_counter()
                text = ag.scrape()
                scrapes.append((time.perf_counter() - t0) * 1000)
            rows = sum(1 for l in text.splitlines() if l.startswith("container_last_seen{"))
            if rows != a.containers:
                own = [l for l in text.splitlines() if l.startswith("outpost_container_metrics")]
                raise SystemExit(f"/metrics showed {rows} containers, not {a.containers}: {own}")
            out["scrape_ms"] = {"median": round(statistics.median(scrapes), 1),
                                "all": [round(x, 1) for x in scrapes]}
            out["metrics_bytes"] = len(text)
            out["rss_after_scrapes_kb"] = rss_kb(pid)
            out["app_change_to_running"] = app_change_to_running(ag, d, a.rounds, 3)
            ag.stop()
    finally:
        d.stop()
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
