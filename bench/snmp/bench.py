#!/usr/bin/env python3
"""SNMP benchmarks, Outpost side by side with its peers in one run.

(a) full-tree bulkwalk of a local snmpd: outpost-snmp's runner vs net-snmp
    snmpbulkwalk, same max-repetitions; wall time and client CPU, medians.
(b) 1,000 targets (one snmpd listening on 1,000 UDP ports) x 20 GETs + an
    ifTable bulkwalk: outpost-snmp's poller vs prometheus-snmp-exporter;
    varbinds per poller CPU-second and wall time, medians.

Usage: bench/snmp/bench.py [--runs N] [--targets N] [--only a|b]
Needs: cargo build --release -p outpost-snmp --examples (done here),
snmpd, snmpbulkwalk, prometheus-snmp-exporter, curl (scripts/deps/20-snmp.sh).
Only loopback is used. Every process started here is stopped by PID.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REL = os.path.join(ROOT, "target", "release", "examples")
ENV = dict(os.environ, MIBS="")

GETS = [
    "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.7.0", "1.3.6.1.2.1.1.8.0",
    "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.11.1.0", "1.3.6.1.2.1.11.2.0", "1.3.6.1.2.1.11.3.0",
    "1.3.6.1.2.1.11.4.0", "1.3.6.1.2.1.11.5.0", "1.3.6.1.2.1.11.6.0", "1.3.6.1.2.1.11.8.0",
    "1.3.6.1.2.1.11.9.0", "1.3.6.1.2.1.11.10.0", "1.3.6.1.2.1.11.11.0", "1.3.6.1.2.1.11.12.0",
]
GET_TYPES = ["DisplayString", "DisplayString", "gauge", "DisplayString", "DisplayString",
             "DisplayString", "gauge", "gauge", "gauge"] + ["counter"] * 11
IF_COLUMNS = [  # ifTable columns and exporter types
    ("ifIndex", "gauge"), ("ifDescr", "DisplayString"), ("ifType", "gauge"), ("ifMtu", "gauge"),
    ("ifSpeed", "gauge"), ("ifPhysAddress", "PhysAddress48"), ("ifAdminStatus", "gauge"),
    ("ifOperStatus", "gauge"), ("ifLastChange", "gauge"), ("ifInOctets", "counter"),
    ("ifInUcastPkts", "counter"), ("ifInNUcastPkts", "counter"), ("ifInDiscards", "counter"),
    ("ifInErrors", "counter"), ("ifInUnknownProtos", "counter"), ("ifOutOctets", "counter"),
    ("ifOutUcastPkts", "counter"), ("ifOutNUcastPkts", "counter"), ("ifOutDiscards", "counter"),
    ("ifOutErrors", "counter"), ("ifOutQLen", "gauge"), ("ifSpecific", "DisplayString"),
]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run_measured(cmd, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall seconds, child user+sys CPU seconds, stdout).
    CPU comes from wait4's rusage of that child alone."""
    out_path = tempfile.mktemp(prefix="bench-out-")
    with open(out_path if stdout is subprocess.PIPE else os.devnull, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=ENV)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    text = ""
    if stdout is subprocess.PIPE:
        with open(out_path) as f:
            text = f.read()
        os.unlink(out_path)
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"command failed: {' '.join(cmd[:6])}...", file=sys.stderr)
    return wall, ru.ru_utime + ru.ru_stime, text


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


class Snmpd:
    def __init__(self, addrs, conf_extra=""):
        self.dir = tempfile.mkdtemp(prefix="bench-snmpd-")
        conf = os.path.join(self.dir, "snmpd.conf")
        with open(conf, "w") as f:
            f.write("rocommunity public 127.0.0.1 .1\nsysServices 72\n" + conf_extra)
        os.makedirs(os.path.join(self.dir, "persist"))
        env = dict(ENV, SNMP_PERSISTENT_DIR=os.path.join(self.dir, "persist"))
        self.proc = subprocess.Popen(
            ["snmpd", "-f", "-C", "-c", conf, "-Lf", os.path.join(self.dir, "log")] + addrs,
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, target, deadline=30):
        end = time.time() + deadline
        while time.time() < end:
            r = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", "-On",
                                target, ".1.3.6.1.2.1.1.5.0"], env=ENV, capture_output=True)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                raise SystemExit("snmpd exited")
        raise SystemExit("snmpd not answering")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def med(xs):
    return statistics.median(xs)


def bench_a(runs, reps_list):
    port = free_port()
    d = Snmpd([f"udp:127.0.0.1:{port}"])
    target = f"127.0.0.1:{port}"
    out = {}
    try:
        d.wait(target)
        lines = subprocess.run([os.path.join(REL, "snmp"), "bulkwalk", "-v2c", "-c", "public", target, ".1"],
                               capture_output=True, env=ENV).stdout.count(b"\n")
        for reps in reps_list:
            ours = [os.path.join(REL, "snmp"), "bulkwalk", "-v2c", "-c", "public", f"-Cr{reps}", target, ".1"]
            theirs = ["snmpbulkwalk", "-v2c", "-c", "public", "-On", f"-Cr{reps}", target, ".1"]
            res = {"ours": [], "netsnmp": []}
            for i in range(runs):
                # Alternate so drift on a shared machine hits both alike.
                for name, cmd in (("ours", ours), ("netsnmp", theirs)) if i % 2 == 0 else (("netsnmp", theirs), ("ours", ours)):
                    res[name].append(run_measured(cmd)[:2])
            r = {k: {"wall_s": med([w for w, _ in v]), "cpu_s": med([c for _, c in v])} for k, v in res.items()}
            r["varbinds"] = lines
            r["wall_ratio_netsnmp_over_ours"] = r["netsnmp"]["wall_s"] / r["ours"]["wall_s"]
            r["cpu_ratio_netsnmp_over_ours"] = r["netsnmp"]["cpu_s"] / max(r["ours"]["cpu_s"], 1e-6)
            out[f"Cr{reps}"] = r
            print(json.dumps({"bench": "a", "reps": reps, **r}), flush=True)
    finally:
        d.stop()
    return out


def exporter_config(path):
    lines = ["bench:", "  version: 2", "  max_repetitions: 10", "  retries: 2", "  timeout: 2s",
             "  auth:", "    community: public", "  get:"]
    lines += [f"    - {o}" for o in GETS]
    lines += ["  walk:", "    - 1.3.6.1.2.1.2.2", "  metrics:"]
    for i, (o, t) in enumerate(zip(GETS, GET_TYPES)):
        lines += [f"    - name: get{i}", f"      oid: {o[:-2]}", f"      type: {t}", "      help: bench"]
    for col, (name, t) in enumerate(IF_COLUMNS, 1):
        lines += [f"    - name: {name}", f"      oid: 1.3.6.1.2.1.2.2.1.{col}", f"      type: {t}",
                  "      help: bench", "      indexes:", "        - labelname: ifIndex", "          type: gauge"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def bench_b(runs, targets, base):
    ports = list(range(base, base + targets))
    d = Snmpd([f"udp:127.0.0.1:{p}" for p in ports])
    tmp = tempfile.mkdtemp(prefix="bench-exporter-")
    exp = None
    out = {}
    try:
        d.wait(f"127.0.0.1:{ports[0]}")
        d.wait(f"127.0.0.1:{ports[-1]}")
        cfg = os.path.join(tmp, "snmp.yml")
        exporter_config(cfg)
        eport = free_port()
        exp = subprocess.Popen(["prometheus-snmp-exporter", f"--config.file={cfg}",
                                f"--web.listen-address=127.0.0.1:{eport}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 20
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", eport), timeout=0.2).close()
                break
            except OSError:
                if exp.poll() is not None:
                    raise SystemExit("exporter exited: check its config")
        curlcfg = os.path.join(tmp, "curl.cfg")
        with open(curlcfg, "w") as f:
            for p in ports:
                f.write(f'url = "http://127.0.0.1:{eport}/snmp?module=bench&target=127.0.0.1:{p}"\n')
                f.write(f'output = "{tmp}/out-{p}.txt"\n')
        ours_cmd = [os.path.join(REL, "poll_many"), "--ports", f"{ports[0]}-{ports[-1]}", "--reps", "10",
                    "--get-chunk", "10"]
        res = {"ours": [], "exporter": []}
        samples = None
        for i in range(runs):
            order = ("ours", "exporter") if i % 2 == 0 else ("exporter", "ours")
            for name in order:
                if name == "ours":
                    wall, cpu, text = run_measured(ours_cmd, stdout=subprocess.PIPE)
                    r = json.loads(text)
                    res["ours"].append((wall, cpu, r["varbinds"], r["failures"]))
                else:
                    c0 = proc_cpu(exp.pid)
                    t0 = time.perf_counter()
                    subprocess.run(["curl", "-s", "--parallel", "--parallel-max", "32", "-K", curlcfg], check=True,
                                   stderr=subprocess.DEVNULL)
                    wall = time.perf_counter() - t0
                    cpu = proc_cpu(exp.pid) - c0
                    vb, failures = 0, 0
                    for p in ports:
                        with open(f"{tmp}/out-{p}.txt") as f:
                            body = f.read()
                        n = sum(1 for l in body.splitlines() if l and not l.startswith("#") and not l.startswith("snmp_scrape"))
                        vb += n
                        failures += n == 0
                    res["exporter"].append((wall, cpu, vb, failures))
        for k, v in res.items():
            out[k] = {"wall_s": med([x[0] for x in v]), "cpu_s": med([x[1] for x in v]),
                      "varbinds": med([x[2] for x in v]), "failures": max(x[3] for x in v),
                      "varbinds_per_cpu_s": med([x[2] / max(x[1], 1e-3) for x in v])}
        out["vb_per_cpu_ratio_ours_over_exporter"] = out["ours"]["varbinds_per_cpu_s"] / out["exporter"]["varbinds_per_cpu_s"]
        out["wall_ratio_exporter_over_ours"] = out["exporter"]["wall_s"] / out["ours"]["wall_s"]
        print(json.dumps({"bench": "b", "targets": targets, **out}), flush=True)
    finally:
        if exp:
            exp.terminate()
            exp.wait()
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--base-port", type=int, default=20001)
    ap.add_argument("--only", choices=["a", "b"])
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "outpost-snmp", "--examples"], cwd=ROOT, check=True)
    if a.only != "b":
        bench_a(a.runs, [10, 50])
    if a.only != "a":
        bench_b(a.runs, a.targets, a.base_port)


if __name__ == "__main__":
    main()
