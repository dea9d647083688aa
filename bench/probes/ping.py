#!/usr/bin/env python3
"""`outpost ping` against fping 5.1 on 1,000 targets, 3 probes each (issue 14).

Both tools get the same work: `-q -c 3 -p PERIOD -t TIMEOUT -f TARGETS`, and fping also
`-i 1` (1 ms between any two packets, i.e. 1,000 packets/s: the engine's default cap, so
both send at the same rate). Each run is one process, started with `ip netns exec` in a
namespace of the benchmark's own; its wall time, and its CPU (user + sys, from wait4's
rusage), are recorded. Sides alternate within every round (A B, then B A, ...); medians over
ROUNDS and the outpost/fping ratios of the medians are printed.

Scenarios:
- loopback: a namespace with only `lo`; targets 127.0.1.1 upward (127.0.0.0/8 answers as
  the kernel's own).
- lossy: prober namespace A, veth to namespace B, which owns 10.200.0.0/16 (`ip route add
  local`) with kernel echo replies off and bench/probes/lossy_peer.py answering all but every
  4th request: exactly 750 of the 3,000 probes are lost, and both tools must report that.

Usage: sudo bench/probes/ping.py [--rounds 3] [--targets 1000] [--period 1000] [--timeout 500]
Needs: root (namespaces, raw sockets), fping (scripts/deps/60-probes.sh), outpost built in
release (cargo build --release -p outpost). Waits (up to 10 min) for a 1-minute load under
1.2 before measuring, and prints the load it measured at.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUTPOST = os.path.join(ROOT, "target", "release", "outpost")
PEER = os.path.join(ROOT, "bench", "probes", "lossy_peer.py")


def sh(*args):
    subprocess.run(args, check=True)


def ns_add(name):
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")


def ns_del(name):
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)


def run(ns, argv):
    """(wall seconds, cpu seconds, exit code, stderr) of argv run inside namespace ns."""
    t0 = time.monotonic()
    p = subprocess.Popen(["ip", "netns", "exec", ns] + argv,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, p.returncode, err.decode()


def received(stderr):
    """Sum of rcv over the -q summary lines (`HOST : xmt/rcv/%loss = 3/2/33%...`)."""
    return sum(int(m.group(2)) for m in re.finditer(r"xmt/rcv/%loss = (\d+)/(\d+)/", stderr))


def wait_quiet(limit=1.2, deadline=600):
    end = time.monotonic() + deadline
    while True:
        load = os.getloadavg()[0]
        if load < limit or time.monotonic() > end:
            return load
        time.sleep(5)


def bench(name, ns, targets_file, n, args, expect_rcv):
    common = ["-q", "-c", "3", "-p", str(args.period), "-t", str(args.timeout), "-f", targets_file]
    sides = {
        "outpost": [OUTPOST, "ping"] + common,
        "fping": ["fping", "-i", "1"] + common,
    }
    res = {k: {"wall": [], "cpu": []} for k in sides}
    for r in range(args.rounds):
        order = ["outpost", "fping"] if r % 2 == 0 else ["fping", "outpost"]
        for side in order:
            wall, cpu, code, err = run(ns, sides[side])
            rcv = received(err)
            if rcv != expect_rcv:
                sys.exit(f"{name}/{side}: received {rcv}, expected {expect_rcv} (exit {code})\n{err[-2000:]}")
            res[side]["wall"].append(wall)
            res[side]["cpu"].append(cpu)
            print(f"  {name} round {r + 1} {side:8s} wall {wall:6.3f} s  cpu {cpu:6.3f} s  rcv {rcv}/{3 * n}",
                  flush=True)
    med = {s: {m: statistics.median(v) for m, v in res[s].items()} for s in res}
    print(f"{name}: median wall outpost {med['outpost']['wall']:.3f} s, fping {med['fping']['wall']:.3f} s "
          f"(ratio {med['outpost']['wall'] / med['fping']['wall']:.2f}); median cpu outpost "
          f"{med['outpost']['cpu']:.3f} s, fping {med['fping']['cpu']:.3f} s "
          f"(ratio {med['outpost']['cpu'] / max(med['fping']['cpu'], 1e-9):.2f})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--period", type=int, default=1000)
    ap.add_argument("--timeout", type=int, default=500)
    ap.add_argument("--only", choices=["loopback", "lossy"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: namespaces and raw sockets")
    if not os.path.exists(OUTPOST):
        sys.exit(f"{OUTPOST} missing: cargo build --release -p outpost")
    n = args.targets
    tag = f"opb{os.getpid()}"
    tmp = tempfile.mkdtemp()
    peer = None
    try:
        load = wait_quiet()
        print(f"1-minute load before measuring: {load:.2f}", flush=True)
        if args.only in (None, "loopback"):
            lo = f"{tag}-lo"
            ns_add(lo)
            f = os.path.join(tmp, "loopback")
            with open(f, "w") as fh:
                fh.writelines(f"127.0.{1 + i // 250}.{1 + i % 250}\n" for i in range(n))
            bench("loopback", lo, f, n, args, 3 * n)
        if args.only in (None, "lossy"):
            a, b = f"{tag}-a", f"{tag}-b"
            ns_add(a)
            ns_add(b)
            sh("ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
            sh("ip", "-n", a, "addr", "add", "10.199.0.1/24", "dev", "va")
            sh("ip", "-n", b, "addr", "add", "10.199.0.2/24", "dev", "vb")
            sh("ip", "-n", a, "link", "set", "va", "up")
            sh("ip", "-n", b, "link", "set", "vb", "up")
            sh("ip", "-n", a, "route", "add", "10.200.0.0/16", "via", "10.199.0.2")
            sh("ip", "-n", b, "route", "add", "local", "10.200.0.0/16", "dev", "lo")
            sh("ip", "netns", "exec", b, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
            f = os.path.join(tmp, "lossy")
            with open(f, "w") as fh:
                fh.writelines(f"10.200.{i // 250}.{1 + i % 250}\n" for i in range(n))
            peer = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, PEER, "4"],
                                    stdout=subprocess.PIPE)
            if peer.stdout.readline().strip() != b"ready":
                sys.exit("lossy peer did not start")
            # Every run loses exactly the requests the peer drops: i % 4 == 0 of 3n, counted
            # from the peer's start, so each run must start at a multiple of 4 (3n is, for
            # n a multiple of 4).
            assert (3 * n) % 4 == 0, "--targets must be a multiple of 4 for exact loss"
            bench("lossy", a, f, n, args, 3 * n - (3 * n) // 4)
        print(f"1-minute load after: {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        if peer:
            peer.kill()
            peer.wait()
        for suffix in ("lo", "a", "b"):
            ns_del(f"{tag}-{suffix}")


if __name__ == "__main__":
    main()
