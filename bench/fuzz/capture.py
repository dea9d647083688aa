#!/usr/bin/env python3
"""Captures real SNMP datagrams from net-snmp as fuzz seeds (issue 10).

Starts snmpd and snmptrapd on loopback ports of their own, puts a UDP relay in front of
each, drives them with net-snmp's own tools (snmpget/getnext/bulkget for v1, v2c and v3 at
every security level; snmptrap and snmpinform, v3 included) and writes every datagram the
relays saw, both directions, into the seed directories of the SNMP fuzz targets:

  crates/outpost-snmp/fuzz/seeds/{decode_message,render_values,open_v3}/
  crates/outpost/fuzz/seeds/trap_filter/

decode_message and render_values take a datagram as is. open_v3 and trap_filter take one
mode byte first (see crates/outpost-snmp/fuzz/common/v3fix.rs): each v3 datagram is written
with mode 0 (as captured) and with the fix-up bits that keep a mutated message verifying.

Usage: bench/fuzz/capture.py   (needs snmpd, snmptrapd and the snmp tools: scripts/deps/20-snmp.sh)
Passwords and engine IDs here must match the fuzz targets' tables (v3fix.rs, trap_filter.rs).
"""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SNMP_SEEDS = os.path.join(ROOT, "crates/outpost-snmp/fuzz/seeds")
TRAP_SEEDS = os.path.join(ROOT, "crates/outpost/fuzz/seeds/trap_filter")
ENV = dict(os.environ, MIBS="")
# The trap senders' engine ID (traps: the sender is authoritative).
TRAP_ENGINE = "0x8000000001020304"
# snmptrapd's own engine ID (informs: the receiver is authoritative), text format.
RECV_ENGINE = "fuzzrecv"

# Mode bits of the v3 fix-up (v3fix.rs): 1 re-sign, 2 encrypt a plain scoped PDU, 4 set clock.
RESIGN, ENCRYPT, CLOCK = 1, 2, 4


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Relay(threading.Thread):
    """Forwards datagrams between clients and one server port, recording each (direction, bytes)."""

    def __init__(self, server_port=None):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.server = ("127.0.0.1", server_port) if server_port else None
        self.upstream = {}  # client addr -> socket towards the server
        self.seen = []
        self.label = "start"
        self.lock = threading.Lock()
        self.stop = False

    def record(self, direction, data):
        with self.lock:
            self.seen.append((self.label, direction, data))

    def run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.record("req", data)
            if self.server is None:
                continue
            up = self.upstream.get(addr)
            if up is None:
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.connect(self.server)
                self.upstream[addr] = up
                threading.Thread(target=self.back, args=(up, addr), daemon=True).start()
            up.send(data)

    def back(self, up, addr):
        up.settimeout(0.2)
        while not self.stop:
            try:
                data = up.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.record("resp", data)
            self.sock.sendto(data, addr)

    def take(self, label):
        """Names the datagrams recorded from now on."""
        with self.lock:
            self.label = label


def wait_udp_answer(port, deadline_s=10.0):
    """Waits until snmpd answers a v2c get (it is ready), with a deadline."""
    end = time.time() + deadline_s
    while time.time() < end:
        r = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", "-On",
                            f"127.0.0.1:{port}", ".1.3.6.1.2.1.1.3.0"],
                           env=ENV, capture_output=True)
        if r.returncode == 0:
            return
    sys.exit(f"snmpd on {port} did not answer within {deadline_s}s")


def run(args, label, relay, check=False):
    relay.take(label)
    r = subprocess.run(args, env=ENV, capture_output=True, timeout=30)
    if check and r.returncode != 0:
        sys.exit(f"{label}: {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    time.sleep(0.05)  # let the relay record the last reply (bounded, not a sync point)
    return r.returncode


def main():
    for tool in ("snmpd", "snmptrapd", "snmpget", "snmptrap", "snmpinform"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} missing: run scripts/deps/20-snmp.sh")
    tmp = tempfile.mkdtemp(prefix="outpost-capture-")
    procs = []
    try:
        # --- snmpd, the polling peer ---
        sport = free_port()
        with open(f"{tmp}/snmpd.conf", "w") as f:
            f.write(f"""agentAddress udp:127.0.0.1:{sport}
rocommunity public 127.0.0.1 .1
sysServices 72
sysContact fuzz@example.net
createUser noauthuser
createUser authuser SHA authpass123
createUser probeuser SHA authpass123 AES privpass123
createUser probe256 SHA-256 authpass123 AES privpass123
createUser md5des MD5 authpass123 DES privpass123
createUser sha512 SHA-512 authpass123 AES256 privpass123
rouser noauthuser noauth .1
rouser authuser auth .1
rouser probeuser priv .1
rouser probe256 priv .1
rouser md5des priv .1
rouser sha512 priv .1
""")
        os.makedirs(f"{tmp}/persist-snmpd")
        procs.append(subprocess.Popen(
            ["snmpd", "-f", "-C", "-c", f"{tmp}/snmpd.conf", "-Lf", f"{tmp}/snmpd.log"],
            env=dict(ENV, SNMP_PERSISTENT_DIR=f"{tmp}/persist-snmpd")))
        wait_udp_answer(sport)
        poll = Relay(sport)
        poll.start()
        at = f"127.0.0.1:{poll.port}"
        base = ["-On", "-t", "1", "-r", "0"]
        sys_oids = [".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.3.0",
                    ".1.3.6.1.2.1.1.7.0"]
        run(["snmpget", "-v1", "-c", "public", *base, at, *sys_oids], "v1_get", poll, True)
        run(["snmpget", "-v1", "-c", "public", *base, at, ".1.3.6.1.2.1.1.99.0"], "v1_nosuchname", poll)
        run(["snmpgetnext", "-v1", "-c", "public", *base, at, ".1.3.6.1.2.1.2.2.1.5"], "v1_getnext", poll, True)
        run(["snmpget", "-v2c", "-c", "public", *base, at, *sys_oids, ".1.3.6.1.2.1.1.99.0"], "v2c_get", poll, True)
        run(["snmpgetnext", "-v2c", "-c", "public", *base, at, ".1.3.6.1.2.1.4.20.1.1"], "v2c_getnext_ipaddr", poll, True)
        run(["snmpbulkget", "-v2c", "-c", "public", "-Cn0", "-Cr6", *base, at, ".1.3.6.1.2.1.2.2.1"], "v2c_bulk_iftable", poll, True)
        run(["snmpbulkget", "-v2c", "-c", "public", "-Cn0", "-Cr4", *base, at, ".1.3.6.1.2.1.31.1.1.1.6"], "v2c_bulk_counter64", poll, True)
        run(["snmpbulkget", "-v2c", "-c", "public", "-Cn0", "-Cr3", *base, at, ".1.3.6.1.9.9.9"], "v2c_bulk_endofmib", poll, True)
        run(["snmpget", "-v2c", "-c", "wrong", *base, at, ".1.3.6.1.2.1.1.1.0"], "v2c_wrong_community", poll)
        v3 = {
            "noauth": ["-l", "noAuthNoPriv", "-u", "noauthuser"],
            "authnopriv": ["-l", "authNoPriv", "-u", "authuser", "-a", "SHA", "-A", "authpass123"],
            "sha_aes": ["-l", "authPriv", "-u", "probeuser", "-a", "SHA", "-A", "authpass123",
                        "-x", "AES", "-X", "privpass123"],
            "sha256_aes": ["-l", "authPriv", "-u", "probe256", "-a", "SHA-256", "-A", "authpass123",
                           "-x", "AES", "-X", "privpass123"],
            "md5_des": ["-l", "authPriv", "-u", "md5des", "-a", "MD5", "-A", "authpass123",
                        "-x", "DES", "-X", "privpass123"],
            "sha512_aes256": ["-l", "authPriv", "-u", "sha512", "-a", "SHA-512", "-A", "authpass123",
                              "-x", "AES256", "-X", "privpass123"],
        }
        for name, sec in v3.items():
            run(["snmpget", "-v3", *sec, *base, at, *sys_oids], f"v3_{name}_get", poll)
        run(["snmpbulkget", "-v3", *v3["sha_aes"], "-Cn0", "-Cr5", *base, at, ".1.3.6.1.2.1.2.2.1"], "v3_sha_aes_bulk", poll)
        run(["snmpgetnext", "-v3", *v3["authnopriv"], *base, at, ".1.3.6.1.2.1.1.9"], "v3_authnopriv_getnext", poll)
        run(["snmpget", "-v3", "-l", "authNoPriv", "-u", "authuser", "-a", "SHA", "-A", "wrongpass123",
             *base, at, ".1.3.6.1.2.1.1.1.0"], "v3_wrong_digest", poll)
        run(["snmpget", "-v3", "-l", "noAuthNoPriv", "-u", "nosuchuser", *base, at, ".1.3.6.1.2.1.1.1.0"],
            "v3_unknown_user", poll)
        poll.stop = True

        # --- traps: a plain receiving socket (traps get no reply) ---
        traps = Relay(None)
        traps.start()
        tat = f"127.0.0.1:{traps.port}"
        vbs = [".1.3.6.1.2.1.2.2.1.1.2", "i", "2", ".1.3.6.1.2.1.2.2.1.2.2", "s", "eth0",
               ".1.3.6.1.4.1.8072.2.3.2.1", "x", "DEADBEEF", ".1.3.6.1.4.1.8072.2.3.2.2", "a", "192.0.2.7",
               ".1.3.6.1.4.1.8072.2.3.2.3", "c", "4294967295", ".1.3.6.1.4.1.8072.2.3.2.4", "t", "12345",
               ".1.3.6.1.4.1.8072.2.3.2.5", "o", ".1.3.6.1.4.1.8072", ".1.3.6.1.4.1.8072.2.3.2.6", "u", "17"]
        run(["snmptrap", "-v1", "-c", "public", tat, ".1.3.6.1.4.1.8072.2.3", "127.0.0.1", "6", "17", "",
             ".1.3.6.1.4.1.8072.2.3.2.1", "i", "123456"], "v1_trap", traps, True)
        run(["snmptrap", "-v1", "-c", "public", tat, ".1.3.6.1.6.3.1.1.5", "192.0.2.1", "2", "0", "55",
             *vbs], "v1_trap_linkdown", traps, True)
        run(["snmptrap", "-v2c", "-c", "public", tat, "", ".1.3.6.1.6.3.1.1.5.3", *vbs], "v2c_trap", traps, True)
        trap_users = {
            "noauth": ["-l", "noAuthNoPriv", "-u", "trapnoauth"],
            "authnopriv": ["-l", "authNoPriv", "-u", "trapauth", "-a", "SHA", "-A", "authpass123"],
            "sha_aes": ["-l", "authPriv", "-u", "trapuser", "-a", "SHA", "-A", "authpass123",
                        "-x", "AES", "-X", "privpass123"],
            "md5_des": ["-l", "authPriv", "-u", "trapmd5", "-a", "MD5", "-A", "authpass123",
                        "-x", "DES", "-X", "privpass123"],
        }
        for name, sec in trap_users.items():
            run(["snmptrap", "-v3", "-e", TRAP_ENGINE, *sec, tat, "", ".1.3.6.1.6.3.1.1.5.4", *vbs],
                f"v3_trap_{name}", traps, True)
        traps.stop = True

        # --- informs: through a relay to snmptrapd, which answers discovery and informs ---
        rport = free_port()
        with open(f"{tmp}/snmptrapd.conf", "w") as f:
            f.write(f"""disableAuthorization yes
engineID {RECV_ENGINE}
createUser trapuser SHA authpass123 AES privpass123
createUser trapauth SHA authpass123
authUser log trapuser
authUser log trapauth
""")
        os.makedirs(f"{tmp}/persist-trapd")
        procs.append(subprocess.Popen(
            ["snmptrapd", "-f", "-C", "-c", f"{tmp}/snmptrapd.conf", "-Lf", f"{tmp}/trapd.log",
             "-On", f"udp:127.0.0.1:{rport}"],
            env=dict(ENV, SNMP_PERSISTENT_DIR=f"{tmp}/persist-trapd")))
        informs = Relay(rport)
        informs.start()
        iat = f"127.0.0.1:{informs.port}"
        end = time.time() + 10
        while run(["snmpinform", "-v2c", "-c", "public", "-t", "0.5", "-r", "0", iat, "",
                   ".1.3.6.1.6.3.1.1.5.3", *vbs], "v2c_inform", informs) != 0:
            if time.time() > end:
                sys.exit("snmptrapd did not acknowledge a v2c inform within 10s")
        for name in ("sha_aes", "authnopriv"):
            run(["snmpinform", "-v3", *trap_users[name], "-t", "1", "-r", "0", iat, "",
                 ".1.3.6.1.6.3.1.1.5.4", *vbs], f"v3_inform_{name}", informs, True)
        informs.stop = True
        write_seeds(poll.seen, traps.seen, informs.seen)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def is_v3(d):
    # SEQUENCE, then INTEGER 3 (the length may be long-form; seeds are small: short form).
    i = 2 if d[1] < 0x80 else 2 + (d[1] & 0x7F)
    return d[i:i + 3] == b"\x02\x01\x03"


def v3_flags(d):
    """msgFlags of a v3 message (short-form lengths in the header, as net-snmp writes them)."""
    i = 2 if d[1] < 0x80 else 2 + (d[1] & 0x7F)
    i += 3  # version
    i += 2  # msgGlobalData SEQUENCE header
    for _ in range(2):  # msgID, msgMaxSize
        i += 2 + d[i + 1]
    return d[i + 2]  # OCTET STRING, length 1, the flags


def write(dirpath, name, data):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, name), "wb") as f:
        f.write(data)


def write_seeds(polled, trapped, informed):
    counts = {}
    for d in (os.path.join(SNMP_SEEDS, t) for t in ("decode_message", "render_values", "open_v3")):
        shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(TRAP_SEEDS, ignore_errors=True)
    everything = [(f"poll_{l}", dr, d) for l, dr, d in polled] + \
                 [(f"trap_{l}", dr, d) for l, dr, d in trapped] + \
                 [(f"inform_{l}", dr, d) for l, dr, d in informed]
    for label, direction, data in everything:
        n = counts.get((label, direction), 0)
        counts[(label, direction)] = n + 1
        if n >= 3:  # a handful per exchange: retries and walks add nothing new
            continue
        name = f"{label}_{direction}{n}"
        sha = hashlib.sha1(data).hexdigest()[:8]
        write(os.path.join(SNMP_SEEDS, "decode_message"), f"{name}_{sha}", data)
        write(os.path.join(SNMP_SEEDS, "render_values"), f"{name}_{sha}", data)
        if is_v3(data):
            modes = [0, RESIGN]
            if v3_flags(data) & 2 == 0:  # no privacy: also encrypt it under each cipher
                modes += [RESIGN | ENCRYPT | CLOCK | (c << 4) for c in range(4)]
            for m in modes:
                write(os.path.join(SNMP_SEEDS, "open_v3"), f"{name}_m{m:02x}_{sha}", bytes([m]) + data)
        if label.startswith(("trap_", "inform_")) and direction == "req":
            modes = [0]
            if is_v3(data):
                modes += [RESIGN | CLOCK]
                if v3_flags(data) & 2 == 0:
                    modes += [RESIGN | ENCRYPT | CLOCK]
            for m in modes:
                write(TRAP_SEEDS, f"{name}_m{m:02x}_{sha}", bytes([m]) + data)
    for d in ["decode_message", "render_values", "open_v3"]:
        print(f"{d}: {len(os.listdir(os.path.join(SNMP_SEEDS, d)))} seeds")
    print(f"trap_filter: {len(os.listdir(TRAP_SEEDS))} seeds")


if __name__ == "__main__":
    main()
