"""Processes and figures shared by the fleet benchmarks: Mosquitto on a loopback port,
ports, /proc readings, stopping by PID."""
import os
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
OUTPOST = os.environ.get("OUTPOST_BIN", os.path.join(TARGET, "release", "outpost"))
TICK = os.sysconf("SC_CLK_TCK")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_next_port = [None]


def free_port():
    """A free loopback port below the kernel's ephemeral range: a port taken from that range
    (bind to 0) can be handed, before the agent binds it, to another agent's outgoing
    connection to the broker (hundreds start at once)."""
    lo, _ = _ephemeral_range()
    if _next_port[0] is None:
        _next_port[0] = max(1024, lo - 12000) + (os.getpid() % 2000)
    while _next_port[0] < lo:
        p = _next_port[0]
        _next_port[0] += 1
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise SystemExit("no free port below the ephemeral range")


def cpu_user_sys_ticks(pid):
    """(utime, stime) in ticks: tick-sampled, so read them summed over many processes."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def cpu_ticks(pid):
    return sum(cpu_user_sys_ticks(pid))  # utime + stime


def ctx_switches(pid):
    """Context switches (voluntary + involuntary) of every live thread: with one job a second
    per agent, nearly each is a sleep and a wake-up."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def cpu_ns(pid):
    """On-CPU nanoseconds of every live thread (the first field of each thread's schedstat):
    exact, where utime+stime is sampled at the timer tick, which misjudges processes that
    run for tens of microseconds at a time, as an idle agent does."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def mem_kb(pid):
    """(VmRSS, RssAnon) in KiB: RSS counts the binary's shared pages in every agent, RssAnon
    only the agent's own memory."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("RssAnon", 0)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))] if xs else None


def wait_for(what, deadline_s, cond, alive=lambda: True):
    end = time.monotonic() + deadline_s
    while not cond():
        if not alive():
            raise SystemExit(f"gave up waiting for {what}: a process died")
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {what} after {deadline_s} s")
        time.sleep(0.05)


def stop(procs, grace_s=20):
    """SIGTERM all at once (agents shut down in parallel), then SIGKILL what is left."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Broker:
    def __init__(self, tmp, nodelay):
        self.dir = os.path.join(tmp, "mosquitto")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            # Root stays root (mosquitto otherwise drops to its own user and cannot write its
            # directory). set_tcp_nodelay: Mosquitto's default (false) leaves Nagle on its
            # sockets, and a result written right after a PUBACK waits for the peer's delayed
            # ACK (~40 ms a job; --broker-nodelay 0 measures it). No persistence
            # file: the sessions live in memory, as between a broker's autosaves. No queue or
            # in-flight limit per client.
            f.write(f"user root\nlistener {self.port} 127.0.0.1\npersistence false\n"
                    f"max_queued_messages 0\nmax_inflight_messages 0\n"
                    f"log_dest file {self.dir}/log\nlog_type error\nlog_type warning\n"
                    f"allow_anonymous true\nset_tcp_nodelay {'true' if nodelay else 'false'}\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            raise SystemExit("mosquitto missing: run scripts/deps/40-uplink.sh")
        self.proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(f"mosquitto on {self.port}", 10, up, lambda: self.proc.poll() is None)

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"


class NatsNode:
    """One NATS node with JetStream and its MQTT listener (the cluster the suite tests on,
    scripts/deps/45-cluster.sh), alone: the per-connection cost of one node."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "nats")
        os.makedirs(self.dir)
        self.port = free_port()  # the MQTT listener
        client, http = free_port(), free_port()
        conf = os.path.join(self.dir, "nats.conf")
        with open(conf, "w") as f:
            f.write(f"server_name: n1\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n"
                    f'jetstream {{ store_dir: "{self.dir}/js", max_memory_store: 256MB, max_file_store: 4GB }}\n'
                    f"mqtt {{ listen: 127.0.0.1:{self.port} }}\n")
        exe = shutil.which("nats-server")
        if exe is None:
            raise SystemExit("nats-server missing: run scripts/deps/45-cluster.sh")
        self.proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))

        def healthy():
            try:
                s = socket.create_connection(("127.0.0.1", http), timeout=1)
                s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                s.settimeout(2)
                reply = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    reply += b
                s.close()
                return b" 200 " in reply and b'"ok"' in reply
            except OSError:
                return False
        wait_for("NATS healthy", 60, healthy, lambda: self.proc.poll() is None)

        def mqtt_up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(f"NATS MQTT on {self.port}", 30, mqtt_up, lambda: self.proc.poll() is None)
