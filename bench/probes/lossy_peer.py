#!/usr/bin/env python3
"""A lossy ICMP echo peer for bench/probes/ping.py (issue 14), run inside its namespace.

It answers echo requests for every address routed to it (the namespace has `ip route add
local PREFIX dev lo`, so any address of PREFIX is its own) from a raw socket, with the
kernel's own echo replies off (net.ipv4.icmp_echo_ignore_all=1), and drops request number i
(0-based, in arrival order, over all targets) when i % DROP_EVERY == 0: the loss is exact
and the same for both tools. Replies are built with IP_HDRINCL so they come from the
address that was pinged, as a real host's would.

Usage: lossy_peer.py DROP_EVERY   (runs until killed; prints "ready" on stdout)
"""
import socket
import struct
import sys


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def main():
    every = int(sys.argv[1])
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    print("ready", flush=True)
    i = 0
    while True:
        pkt = rx.recv(65535)
        ihl = (pkt[0] & 0x0F) * 4
        icmp = pkt[ihl:]
        if len(icmp) < 8 or icmp[0] != 8:
            continue
        src, dst = pkt[12:16], pkt[16:20]
        n = i
        i += 1
        if n % every == 0:
            continue
        body = bytes([0, 0, 0, 0]) + icmp[4:]
        body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        total = 20 + len(body)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 1, 0, dst, src)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        tx.sendto(ip + body, (socket.inet_ntoa(src), 0))


if __name__ == "__main__":
    main()
