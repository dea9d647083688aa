"""A minimal MQTT 3.1.1 client over asyncio, for thousands of simulated agents in one process.

Only what the uplink protocol uses: CONNECT (persistent session, retained last will),
SUBSCRIBE, PUBLISH at QoS 0/1 (retained or not), PUBACK, PINGREQ. One asyncio connection per
client; no thread per client, so 10,000 fit in one Python process.
"""
import asyncio
import struct


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(first, body):
    return bytes([first]) + _varint(len(body)) + body


class ProtocolError(Exception):
    pass


class Client:
    """One MQTT connection. `on_publish(topic, payload)` is called for every PUBLISH received
    (already acknowledged when it is QoS 1)."""

    def __init__(self, client_id, on_publish=None):
        self.client_id = client_id
        self.on_publish = on_publish
        self.reader = self.writer = None
        self._pid = 0
        self._acks = {}  # packet id -> future (PUBACK, SUBACK)
        self._connack = None
        self._task = None

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    async def connect(self, host, port, keepalive=30, clean=False, will=None):
        """will: (topic, payload, qos, retain)."""
        self.reader, self.writer = await asyncio.open_connection(host, port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x02 if clean else 0
        payload = _str(self.client_id)
        if will:
            topic, msg, qos, retain = will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _str(topic) + _str(msg)
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        self.writer.write(_packet(0x10, body))
        self._task = asyncio.create_task(self._read_loop())
        rc = await self._connack
        if rc != 0:
            raise ProtocolError(f"{self.client_id}: CONNACK {rc}")

    async def subscribe(self, topic, qos=1):
        pid = self._next_pid()
        fut = asyncio.get_running_loop().create_future()
        self._acks[pid] = fut
        self.writer.write(_packet(0x82, struct.pack("!H", pid) + _str(topic) + bytes([qos])))
        granted = await fut
        if granted == 0x80:
            raise ProtocolError(f"{self.client_id}: SUBACK refused {topic}")

    def publish_nowait(self, topic, payload, qos=1, retain=False):
        """Writes the PUBLISH; returns the future of its PUBACK (None at QoS 0)."""
        if isinstance(payload, str):
            payload = payload.encode()
        first = 0x30 | (qos << 1) | (1 if retain else 0)
        body = _str(topic)
        fut = None
        if qos:
            pid = self._next_pid()
            fut = asyncio.get_running_loop().create_future()
            self._acks[pid] = fut
            body += struct.pack("!H", pid)
        self.writer.write(_packet(first, body + payload))
        return fut

    async def publish(self, topic, payload, qos=1, retain=False):
        fut = self.publish_nowait(topic, payload, qos, retain)
        if fut is not None:
            await fut

    def ping(self):
        self.writer.write(b"\xc0\x00")

    async def _read_loop(self):
        r = self.reader
        try:
            while True:
                first = (await r.readexactly(1))[0]
                n, mult = 0, 1
                while True:
                    b = (await r.readexactly(1))[0]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                body = await r.readexactly(n) if n else b""
                kind = first >> 4
                if kind == 2:  # CONNACK
                    if not self._connack.done():
                        self._connack.set_result(body[1])
                elif kind == 3:  # PUBLISH
                    qos = (first >> 1) & 3
                    tl = struct.unpack("!H", body[:2])[0]
                    topic = body[2:2 + tl].decode()
                    off = 2 + tl
                    if qos:
                        pid = body[off:off + 2]
                        off += 2
                        self.writer.write(b"\x40\x02" + pid)
                    if self.on_publish is not None:
                        self.on_publish(topic, body[off:])
                elif kind in (4, 9):  # PUBACK, SUBACK
                    pid = struct.unpack("!H", body[:2])[0]
                    fut = self._acks.pop(pid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(body[2] if kind == 9 else 0)
                # PINGRESP (13) and anything else: nothing to do.
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self._connack is not None and not self._connack.done():
                self._connack.set_exception(ProtocolError(f"{self.client_id}: closed before CONNACK"))
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(ProtocolError(f"{self.client_id}: connection closed"))
            self._acks.clear()

    async def close(self):
        if self.writer is not None:
            try:
                self.writer.write(b"\xe0\x00")  # DISCONNECT: no last will
                await self.writer.drain()
            except ConnectionError:
                pass
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
