#!/usr/bin/env python3
"""Polling through the product path, side by side with prometheus-snmp-exporter (issue 11).

1,000 targets (one snmpd listening on 1,000 UDP ports) x (20 GETs + an ifTable bulkwalk),
the same work as bench.py's (b), but through what users run:
- api:      `outpost run`, one `POST /v1/jobs?wait=30` per job, 32 requests in flight (curl
            --parallel), every result stored before it is answered. The jobs: one `snmp.poll`
            per target (the 20 GETs and the ifTable walk, as the exporter's module per scrape),
            each varbind as OID and typed value (--full: with its MIB name and net-snmp line
            too); with --mix split, an `snmp.get` and an `snmp.walk` per target;
- mqtt:     the same jobs published to the agent's MQTT job topic on a local Mosquitto, every
            result delivered to a subscriber (mosquitto_sub) before the run ends;
- exporter: prometheus-snmp-exporter 0.21, one `/snmp` scrape per target, 32 in flight.
Sides alternate in every run (A B C, then C B A, ...). The figure is varbinds per CPU-second
of the poller process (the agent or the exporter; clients not counted), and wall time.

Usage: bench/snmp/product.py [--runs N] [--targets N] [--only api,mqtt,exporter] [--mix poll|split]
                             [--full] [--perf DIR]
  --perf DIR: record `perf record -g` of the poller during each side's runs into DIR/SIDE-RUN.data
  (a diagnostic: perf's own cost lands in the figures of that run).
Needs: cargo build --release -p outpost (done here), snmpd, prometheus-snmp-exporter, curl,
mosquitto, mosquitto_sub/pub (scripts/deps/20-snmp.sh, 40-uplink.sh). Loopback only; every
process started here is stopped by PID.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402  (the shared snmpd, exporter config and measuring helpers)

ROOT = bench.ROOT
OUTPOST = os.environ.get("OUTPOST_BIN") or os.path.join(ROOT, "target", "release", "outpost")


def wait_port(port, proc, what, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited")
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


MIX = "poll"
FULL = False


def jobs_for(ports):
    """The job bodies per target: one `snmp.poll` (the GETs and the walk, as the exporter's
    module does per scrape), or with --mix split an `snmp.get` and an `snmp.walk`."""
    for p in ports:
        target = f"127.0.0.1:{p}"
        if MIX == "poll":
            params = {"target": target, "community": "public", "get": bench.GETS,
                      "walk": ["1.3.6.1.2.1.2.2"], "max_repetitions": 10, "retries": 2,
                      "timeout_ms": 2000}
            if FULL:
                params.update(names=True, text=True)
            yield {"kind": "snmp.poll", "params": params}
            continue
        yield {"kind": "snmp.get", "params": {"target": target, "community": "public",
                                              "oids": bench.GETS, "retries": 2, "timeout_ms": 2000}}
        yield {"kind": "snmp.walk", "params": {"target": target, "community": "public",
                                               "oid": "1.3.6.1.2.1.2.2", "max_repetitions": 10,
                                               "retries": 2, "timeout_ms": 2000}}


def count_varbinds(text):
    # Each varbind in a result's output carries one "oid" key (a walk job's params, which the
    # API echoes, carry one more: counted from the output on).
    return text.split('"output":', 1)[-1].count('"oid":')


class Agent:
    def __init__(self, tmp, name, mqtt_url=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = bench.free_port()
        self.token = uuid.uuid4().hex
        env = dict(os.environ, OUTPOST_API_TOKEN=self.token, LOG_LEVEL="warn",
                   OUTPOST_AGENT_ID="bench", OUTPOST_JOBS_QUEUE_CAPACITY="4096")
        if mqtt_url:
            env["OUTPOST_UPLINK_MQTT_URL"] = mqtt_url
        if os.environ.get("AGENT_LD_PRELOAD"):
            # Diagnostic: another allocator under the agents only (e.g. libjemalloc.so.2).
            env["LD_PRELOAD"] = os.environ["AGENT_LD_PRELOAD"]
        self.proc = subprocess.Popen([OUTPOST, "run", "--data-dir", self.dir,
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "outpost")

    def store_counters(self):
        """(commits, commands) of the agent's store so far: how well writes are grouped."""
        import urllib.request
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics",
                                     headers={"Authorization": f"Bearer {self.token}"})
        text = urllib.request.urlopen(req, timeout=10).read().decode()
        vals = {}
        for line in text.splitlines():
            for name in ("outpost_store_commits_total", "outpost_store_commands_total",
                         "outpost_store_inline_commits_total"):
                if line.startswith(name + " "):
                    vals[name] = float(line.split()[1])
        return (vals.get("outpost_store_commits_total", 0), vals.get("outpost_store_commands_total", 0),
                vals.get("outpost_store_inline_commits_total", 0))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run_api(agent, ports, tmp):
    cfg = os.path.join(tmp, "api-curl.cfg")
    outs = []
    with open(cfg, "w") as f:
        for i, body in enumerate(jobs_for(ports)):
            if i:
                # Each request its own headers and body: curl otherwise joins every `data`.
                f.write("next\n")
            out = os.path.join(tmp, f"api-{i}.json")
            outs.append(out)
            f.write(f'url = "http://127.0.0.1:{agent.port}/v1/jobs?wait=30"\n')
            f.write(f'header = "Authorization: Bearer {agent.token}"\n')
            f.write('header = "content-type: application/json"\n')
            f.write(f"data = {json.dumps(json.dumps(body))}\n")
            f.write(f'output = "{out}"\n')
    c0 = bench.proc_cpu(agent.proc.pid)
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "--parallel", "--parallel-max", "32", "-K", cfg], check=True,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    cpu = bench.proc_cpu(agent.proc.pid) - c0
    vb, failures = 0, 0
    for out in outs:
        with open(out) as f:
            text = f.read()
        ok = '"state":"succeeded"' in text
        failures += not ok
        vb += count_varbinds(text) if ok else 0
    return wall, cpu, vb, failures


def run_mqtt(agent, broker_port, ports, tmp):
    n = len(list(jobs_for(ports)))
    results = os.path.join(tmp, "mqtt-results.txt")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker_port), "-q", "1",
                            "-t", "outpost/bench/results", "-C", str(n), "-W", "120"],
                           stdout=open(results, "w"), stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # let the subscription reach the broker before the first result
    jobs_file = os.path.join(tmp, "mqtt-jobs.txt")
    with open(jobs_file, "w") as f:
        for body in jobs_for(ports):
            f.write(json.dumps({"v": 1, "type": "job", "id": str(uuid.uuid4()), **body}) + "\n")
    c0 = bench.proc_cpu(agent.proc.pid)
    t0 = time.perf_counter()
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker_port), "-q", "1",
                    "-t", "outpost/bench/jobs", "-l"], stdin=open(jobs_file), check=True)
    sub.wait(timeout=180)
    wall = time.perf_counter() - t0
    cpu = bench.proc_cpu(agent.proc.pid) - c0
    vb, failures = 0, 0
    with open(results) as f:
        lines = f.read().splitlines()
    for line in lines:
        ok = '"state":"succeeded"' in line
        failures += not ok
        vb += count_varbinds(line) if ok else 0
    failures += n - len(lines)
    return wall, cpu, vb, failures


def run_exporter(exp, eport, ports, tmp):
    cfg = os.path.join(tmp, "exp-curl.cfg")
    with open(cfg, "w") as f:
        for p in ports:
            f.write(f'url = "http://127.0.0.1:{eport}/snmp?module=bench&target=127.0.0.1:{p}"\n')
            f.write(f'output = "{tmp}/exp-{p}.txt"\n')
    c0 = bench.proc_cpu(exp.pid)
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "--parallel", "--parallel-max", "32", "-K", cfg], check=True,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    cpu = bench.proc_cpu(exp.pid) - c0
    vb, failures = 0, 0
    for p in ports:
        with open(f"{tmp}/exp-{p}.txt") as f:
            body = f.read()
        k = sum(1 for l in body.splitlines()
                if l and not l.startswith("#") and not l.startswith("snmp_scrape"))
        vb += k
        failures += k == 0
    return wall, cpu, vb, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--base-port", type=int, default=20001)
    ap.add_argument("--only", default="api,mqtt,exporter")
    ap.add_argument("--perf", default=None)
    ap.add_argument("--mix", choices=["poll", "split"], default="poll",
                    help="poll: one snmp.poll job per target (default); split: an snmp.get and "
                         "an snmp.walk job per target")
    ap.add_argument("--full", action="store_true",
                    help="snmp.poll with names and text (each varbind as snmp.get shows it)")
    a = ap.parse_args()
    global MIX, FULL
    MIX, FULL = a.mix, a.full
    sides = a.only.split(",")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost"], cwd=ROOT, check=True)
    ports = list(range(a.base_port, a.base_port + a.targets))
    d = bench.Snmpd([f"udp:127.0.0.1:{p}" for p in ports])
    tmp = tempfile.mkdtemp(prefix="bench-product-")
    procs = []
    try:
        d.wait(f"127.0.0.1:{ports[0]}")
        d.wait(f"127.0.0.1:{ports[-1]}")
        bport = bench.free_port()
        bconf = os.path.join(tmp, "mosquitto.conf")
        with open(bconf, "w") as f:
            f.write(f"listener {bport} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    "max_inflight_messages 0\n")
        broker = subprocess.Popen(["mosquitto", "-c", bconf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        procs.append(broker)
        wait_port(bport, broker, "mosquitto")
        # Two agents, so neither side's CPU includes the other's work: the API one has no
        # uplink, the MQTT one is driven over MQTT only.
        api_agent = Agent(tmp, "api")
        procs.append(api_agent.proc)
        mqtt_agent = Agent(tmp, "mqtt", mqtt_url=f"mqtt://127.0.0.1:{bport}")
        procs.append(mqtt_agent.proc)
        ecfg = os.path.join(tmp, "snmp.yml")
        bench.exporter_config(ecfg)
        eport = bench.free_port()
        exp = subprocess.Popen(["prometheus-snmp-exporter", f"--config.file={ecfg}",
                                f"--web.listen-address=127.0.0.1:{eport}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(exp)
        wait_port(eport, exp, "prometheus-snmp-exporter")
        time.sleep(1)  # the MQTT uplink subscribes after the API listens
        res = {s: [] for s in sides}
        for i in range(a.runs):
            order = sides if i % 2 == 0 else list(reversed(sides))
            for s in order:
                perf = None
                if a.perf:
                    os.makedirs(a.perf, exist_ok=True)
                    pid = {"api": api_agent.proc.pid, "mqtt": mqtt_agent.proc.pid, "exporter": exp.pid}[s]
                    perf = subprocess.Popen(["perf", "record", "-q", "--call-graph", os.environ.get("PERF_CALL_GRAPH", "fp"), "-p", str(pid), "-o",
                                             os.path.join(a.perf, f"{s}-{i}.data")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)  # perf attaches before the first request
                if s == "api":
                    r = run_api(api_agent, ports, tmp)
                elif s == "mqtt":
                    r = run_mqtt(mqtt_agent, bport, ports, tmp)
                else:
                    r = run_exporter(exp, eport, ports, tmp)
                if perf:
                    perf.send_signal(2)
                    perf.wait()
                res[s].append(r)
                print(json.dumps({"run": i, "side": s, "wall_s": round(r[0], 3), "cpu_s": round(r[1], 3),
                                  "varbinds": r[2], "failures": r[3]}), flush=True)
        out = {}
        for s, v in res.items():
            out[s] = {"wall_s": bench.med([x[0] for x in v]), "cpu_s": bench.med([x[1] for x in v]),
                      "varbinds": bench.med([x[2] for x in v]), "failures": max(x[3] for x in v),
                      "varbinds_per_cpu_s": bench.med([x[2] / max(x[1], 1e-3) for x in v])}
        if "exporter" in out:
            for s in ("api", "mqtt"):
                if s in out:
                    out[f"{s}_vb_per_cpu_over_exporter"] = (out[s]["varbinds_per_cpu_s"]
                                                           / out["exporter"]["varbinds_per_cpu_s"])
                    out[f"{s}_wall_exporter_over_ours"] = out["exporter"]["wall_s"] / out[s]["wall_s"]
        for name, ag in (("api", api_agent), ("mqtt", mqtt_agent)):
            if name in sides:
                c, n, inline = ag.store_counters()
                print(json.dumps({"agent": name, "store_commits": c, "store_commands": n,
                                  "commands_per_commit": round(n / max(c, 1), 2),
                                  "inline_commits": inline}), flush=True)
        print(json.dumps({"bench": "product", "mix": a.mix, "full": a.full, "targets": a.targets, "runs": a.runs,
                          **out}), flush=True)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
