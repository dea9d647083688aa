#!/usr/bin/env python3
"""Writes the seeds of the non-SNMP fuzz targets (issue 10); capture.py writes the SNMP ones.

- job_decoder: the README's job bodies and every kind's params (API path, mode 0) and the
  same jobs as uplink envelopes (mode 1); a few byte strings for the structured modes.
- envelope: every message type of docs/protocol.md, bare (mode 0) and in Phoenix frames
  (mode 1), plus the framework's own frames (phx_join, phx_reply ok/error, heartbeat).
- socktop_request: the frames socktop 1.60's TUI and connector send.
- proc_parsers: this machine's /proc files, each with its parser's mode byte.

Usage: bench/fuzz/make_seeds.py   (rewrites those seed directories)
"""
import json
import os
import shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UUID = "0b6e2b1c-6a51-4f3e-9d4a-2f1e8c7d9a10"

TARGET = {"target": "127.0.0.1:1161", "version": "2c", "community": "public",
          "timeout_ms": 1000, "retries": 1}
V3 = {"target": "udp6:[::1]:161", "version": "3", "user": "probe", "auth_protocol": "SHA",
      "auth_password": "AUTHPASS", "priv_protocol": "AES", "priv_password": "PRIVPASS",
      "context": ""}
JOBS = [
    ("echo", {"hello": "world"}, None),
    ("sleep", {"ms": 2000}, 5000),
    ("agent.info", {}, None),
    ("metrics", {"groups": ["memory"]}, None),
    ("metrics", {"groups": ["cpu", "memory", "load", "disks", "network", "processes",
                            "temperatures", "gpus"]}, None),
    ("snmp.get", dict(TARGET, oids=[".1.3.6.1.2.1.1.1.0", "sysName.0"]), None),
    ("snmp.get", dict(V3, oids=["SNMPv2-MIB::sysUpTime.0"]), 10000),
    ("snmp.walk", dict(V3, oid="IF-MIB::ifTable", max_repetitions=20), None),
    ("snmp.walk", dict(TARGET, version="1", oid=".1.3.6.1.2.1.2", max_varbinds=1000), None),
    ("snmp.set", dict(TARGET, community="private", varbinds=[
        {"oid": "sysContact.0", "type": "s", "value": "ops@example.net"},
        {"oid": ".1.3.6.1.2.1.1.7.0", "type": "i", "value": 72},
        {"oid": ".1.3.6.1.4.1.8072.1", "type": "x", "value": "DEADBEEF"},
        {"oid": ".1.3.6.1.4.1.8072.2", "type": "a", "value": "192.0.2.1"},
        {"oid": ".1.3.6.1.4.1.8072.3", "type": "o", "value": ".1.3.6.1"},
        {"oid": ".1.3.6.1.4.1.8072.4", "type": "t", "value": 12345},
        {"oid": ".1.3.6.1.4.1.8072.5", "type": "U", "value": 18446744073709551615}]), None),
    ("snmp.get", dict(TARGET, target="tcp:127.0.0.1:0", oids=["3.1"]), None),  # refused
]

ENVELOPES = [
    {"type": "hello", "agent_id": "edge-1", "version": "0.1.0",
     "capabilities": ["echo", "sleep", "agent.info"]},
    {"type": "welcome", "settings": {"heartbeat_ms": 30000}},
    {"type": "job", "id": UUID, "kind": "echo", "params": {"x": 1}, "timeout_ms": 5000},
    {"type": "cancel", "id": UUID},
    {"type": "result", "seq": 42, "result": {"id": UUID, "kind": "echo", "state": "succeeded",
                                              "output": {"x": 1}, "created_at": 1, "finished_at": 2}},
    {"type": "event", "seq": 43, "event": {"id": UUID, "kind": "snmp.trap", "at": 1700000000000,
                                            "payload": {"version": "2c"}}},
    {"type": "ack", "seq": 43},
    {"type": "heartbeat"},
    {"type": "error", "code": "bad_params", "message": "`params.ms`: expected u64", "about": UUID},
    {"type": "error", "code": "malformed", "message": "not JSON"},
]

MOUNTS_HOST = """sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8153420k,nr_inodes=2038355,mode=755 0 0
/dev/nvme0n1p2 / ext4 rw,relatime,errors=remount-ro 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1634188k,mode=755 0 0
/dev/mapper/vg0-data /srv/data\\040files xfs rw,relatime,attr2,inode64 0 0
server:/export /mnt/nfs nfs4 rw,relatime,vers=4.2 0 0
"""
MOUNTS_CONTAINER = """overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
/dev/sda1 /etc/hosts ext4 rw,relatime 0 0
"""


def write(target_dir, name, data):
    os.makedirs(target_dir, exist_ok=True)
    with open(os.path.join(target_dir, name), "wb") as f:
        f.write(data)


def reset(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def enc(v):
    return json.dumps(v, separators=(",", ":")).encode()


def main():
    d = reset(os.path.join(ROOT, "crates/outpost/fuzz/seeds/job_decoder"))
    for i, (kind, params, timeout) in enumerate(JOBS):
        body = {"kind": kind, "params": params}
        if timeout is not None:
            body["timeout_ms"] = timeout
        name = kind.replace(".", "_")
        write(d, f"api_{i:02}_{name}", b"\x00" + enc(body))
        env = dict(body, v=1, type="job", id=UUID)
        write(d, f"uplink_{i:02}_{name}", b"\x01" + enc(env))
    write(d, "uplink_cancel", b"\x01" + enc({"v": 1, "type": "cancel", "id": UUID}))
    write(d, "uplink_bad_id", b"\x01" + enc({"v": 1, "type": "job", "id": "x", "kind": "echo"}))
    for i, b in enumerate([b"\x00" * 64, bytes(range(64)), b"\xff" * 64]):
        write(d, f"structured_api_{i}", b"\x02" + b)
        write(d, f"structured_uplink_{i}", b"\x03" + b)

    d = reset(os.path.join(ROOT, "crates/outpost-proto/fuzz/seeds/envelope"))
    for e in ENVELOPES:
        env = dict(e, v=1)
        write(d, f"bare_{e['type']}_{len(os.listdir(d)):02}", b"\x00" + enc(env))
        frame = [None, "7", "agent:edge-1", e["type"], env]
        write(d, f"frame_{e['type']}_{len(os.listdir(d)):02}", b"\x01" + enc(frame))
    frames = [
        ["1", "1", "agent:edge-1", "phx_join", dict(ENVELOPES[0], v=1, token="secret")],
        ["1", "1", "agent:edge-1", "phx_reply",
         {"status": "ok", "response": dict(ENVELOPES[1], v=1)}],
        ["1", "1", "agent:edge-1", "phx_reply", {"status": "error", "response": {"reason": "unauthorized"}}],
        [None, "2", "phoenix", "heartbeat", {}],
        ["1", None, "agent:edge-1", "phx_error", {}],
        ["1", 3, "agent:edge-1", "phx_close", {}],
    ]
    for i, f in enumerate(frames):
        write(d, f"frame_phoenix_{i}", b"\x01" + enc(f))
    write(d, "bare_unknown_type", b"\x00" + enc({"v": 1, "type": "launch"}))
    write(d, "bare_v2", b"\x00" + enc({"v": 2, "type": "ack", "seq": 1}))
    for i, b in enumerate([b"\x00" * 48, bytes(range(48))]):
        write(d, f"structured_bare_{i}", b"\x02" + b)
        write(d, f"structured_frame_{i}", b"\x03" + b)

    d = reset(os.path.join(ROOT, "crates/outpost-host/fuzz/seeds/socktop_request"))
    for i, t in enumerate(["get_metrics", "get_disks", "get_processes", '{"type":"metrics"}',
                           '{"type":"disks"}', '{"type":"processes"}', "get_process_metrics:1",
                           "get_journal_entries:1", " get_metrics\n"]):
        write(d, f"text_{i:02}", b"\x00" + t.encode())
    write(d, "binary_get_metrics", b"\x01get_metrics")

    d = reset(os.path.join(ROOT, "crates/outpost-host/fuzz/seeds/proc_parsers"))
    for mode, path in [(0, "/proc/stat"), (1, "/proc/meminfo"), (2, "/proc/net/dev"),
                       (4, "/proc/self/stat")]:
        with open(path, "rb") as f:
            text = f.read()[:8192]
        write(d, f"m{mode}_{path.strip('/').replace('/', '_')}", bytes([mode]) + text)
    # A typical host's and a container's mount tables (an overlay root), written out rather
    # than read here: this machine's mounts say nothing about the hosts the agent runs on.
    write(d, "m3_mounts_host", b"\x03" + MOUNTS_HOST.encode())
    write(d, "m3_mounts_container", b"\x03" + MOUNTS_CONTAINER.encode())
    # A command name with spaces and parentheses: the parser must split at the last ')'.
    write(d, "m4_pid_stat_parens", b"\x04" + b"4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 "
          b"120 0 0 0 5 3 0 0 20 0 4 0 1234 10485760 2560 18446744073709551615 1 1 0 0 0 0 0 "
          b"4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
    print("seeds written")


if __name__ == "__main__":
    main()
