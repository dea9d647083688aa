#!/usr/bin/env python3
"""Idle cost of the connectivity monitor (issue 14).

Two `outpost run` (release build) side by side, identical but for `connectivity.enabled`:
A has the monitor on with its default 30 s period, B has it off. Every probe of A is
healthy and local: the host's default route, DNS to a dnsmasq on 127.0.0.1 (which also
answers the TCP probe on its port), HTTP to a Python http.server on 127.0.0.1. No recovery
steps. After a settling pause, both are measured over the same WINDOW seconds:

- CPU: utime+stime of the agent (/proc/PID/stat, clock ticks; 100 per second here);
- wakeups: the threads' run counts (/proc/PID/task/*/schedstat, third field);
- RSS at the end of the window (VmRSS, /proc/PID/status).

ROUNDS rounds, each with two fresh agents started in alternating order (A B, then B A,
...), measured over the same window: both sides see the same machine load. Medians, and
the difference A - B per round.

Usage: nice -n 19 bench/probes/connectivity_idle.py [--rounds 3] [--window 60] [--settle 10]
Needs: cargo (builds outpost in release unless BUILD=0), dnsmasq, python3. Loopback only;
every process is stopped by PID.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUTPOST = os.environ.get("OUTPOST_BIN", os.path.join(TARGET, "release", "outpost"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def runs(pid):
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                n += int(f.read().split()[2])
        except FileNotFoundError:
            pass
    return n


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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


class Agent:
    def __init__(self, tmp, name, config):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        cfg = os.path.join(self.dir, "outpost.toml")
        with open(cfg, "w") as f:
            f.write(config)
        self.port = free_port()
        env = dict(os.environ, OUTPOST_TOKEN=uuid.uuid4().hex, LOG_LEVEL="warn")
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen(
            [OUTPOST, "run", "--config", cfg, "--data-dir", self.dir,
             "--listen", f"127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.token = env["OUTPOST_TOKEN"]
        wait_port(self.port, self.proc, "outpost")

    def connectivity(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/v1/connectivity", headers={"Authorization": f"Bearer {self.token}"})
        r = c.getresponse()
        body = r.read()
        c.close()
        return json.loads(body) if r.status == 200 else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--settle", type=int, default=10)
    a = ap.parse_args()
    if not os.path.exists(OUTPOST) or os.environ.get("BUILD", "1") == "1":
        subprocess.run(["cargo", "build", "--release", "-p", "outpost"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        dns_port = free_port()
        dns = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
             "--listen-address=127.0.0.1", f"--port={dns_port}", "--user=root",
             f"--pid-file={tmp}/dnsmasq.pid", "--address=/probe.test/192.0.2.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(dns_port, dns, "dnsmasq")
        http_port = free_port()
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        web = subprocess.Popen(
            ["/usr/bin/python3", "-m", "http.server", str(http_port), "--bind", "127.0.0.1",
             "--directory", www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(http_port, web, "http.server")
        on = (f"[connectivity]\nenabled = true\ndns_server = \"127.0.0.1:{dns_port}\"\n"
              f"dns_name = \"probe.test\"\ntcp_target = \"127.0.0.1:{dns_port}\"\n"
              f"http_url = \"http://127.0.0.1:{http_port}/\"\n")
        off = "[connectivity]\nenabled = false\n"
        rows = []
        try:
            for r in range(a.rounds):
                order = [("on", on), ("off", off)] if r % 2 == 0 else [("off", off), ("on", on)]
                agents = {name: Agent(tmp, f"{name}{r}", cfg) for name, cfg in order}
                time.sleep(a.settle)
                st = agents["on"].connectivity()
                if not st or st["state"] != "online":
                    raise SystemExit(f"the monitor is not online: {st}")
                with open("/proc/loadavg") as f:
                    load = float(f.read().split()[0])
                c0 = {n: (cpu_ticks(ag.proc.pid), runs(ag.proc.pid)) for n, ag in agents.items()}
                time.sleep(a.window)
                row = {"round": r, "order": [n for n, _ in order], "load1": load}
                for n, ag in agents.items():
                    row[n] = {"ticks": cpu_ticks(ag.proc.pid) - c0[n][0],
                              "wakeups": runs(ag.proc.pid) - c0[n][1],
                              "rss_kib": rss_kib(ag.proc.pid)}
                row["on_probe_rounds"] = a.window // 30
                rows.append(row)
                print(json.dumps(row), flush=True)
                for ag in agents.values():
                    ag.stop()
        finally:
            for p in (dns, web):
                p.terminate()
                p.wait(timeout=10)
    med = lambda side, k: statistics.median(x[side][k] for x in rows)
    summary = {
        "window_s": a.window, "rounds": a.rounds, "tick_hz": TICK,
        "median": {side: {k: med(side, k) for k in ("ticks", "wakeups", "rss_kib")}
                   for side in ("on", "off")},
        "median_diff_on_minus_off": {
            k: statistics.median(x["on"][k] - x["off"][k] for x in rows)
            for k in ("ticks", "wakeups", "rss_kib")},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
