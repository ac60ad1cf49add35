"""Reachability of a device: ICMP echo without root where the kernel allows it (ping sockets),
raw ICMP when running as root, IcmpSendEcho on Windows, else a TCP connect where a refusal still
proves the host is up."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass

from protocol.lineproto import Point

ECHO_REQUEST, ECHO_REPLY = 8, 0
ECHO6_REQUEST, ECHO6_REPLY = 128, 129
TCP_PORTS = (22, 80, 443, 23, 8080, 9100)  # ssh, web admin, telnet, JetDirect
# Telegraf's ping result codes.
RESULT_OK, RESULT_NO_HOST, RESULT_ERROR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Reach:
    """The outcome of one reachability probe."""

    method: str  # icmp | tcp
    sent: int
    received: int
    rtts_ms: tuple[float, ...]
    result_code: int

    def point(self, now: int, **tags: str) -> Point:
        """The `ping` point (Telegraf's field names) plus `up`, with these extra tags."""
        loss = 100.0 * (self.sent - self.received) / self.sent if self.sent else 100.0
        fields: dict[str, float | int | bool] = {
            "result_code": self.result_code,
            "percent_packet_loss": loss,
            "up": self.received > 0,
        }
        if self.rtts_ms:
            fields["average_response_ms"] = sum(self.rtts_ms) / len(self.rtts_ms)
            fields["maximum_response_ms"] = max(self.rtts_ms)
        return Point("ping", {"method": self.method, **tags}, fields, now)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """A ping socket (unprivileged, kernel-managed id) or a raw one; (socket, raw)."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        if os.geteuid() != 0:
            raise
        return socket.socket(family, socket.SOCK_RAW, proto), True


async def icmp_probe(address: str, count: int = 3, timeout: float = 1.0) -> Reach:
    """`count` echo requests; PermissionError when neither socket kind is allowed."""
    info = await asyncio.get_running_loop().getaddrinfo(address, None, type=socket.SOCK_DGRAM)
    family, _, _, _, sockaddr = info[0]
    if sys.platform == "win32":
        from agent.poller.winicmp import echo

        rtts = await asyncio.to_thread(echo, str(sockaddr[0]), count, timeout)
        return Reach("icmp", count, len(rtts), tuple(rtts), RESULT_OK)
    sock, raw = _icmp_socket(family)
    request = ECHO_REQUEST if family == socket.AF_INET else ECHO6_REQUEST
    reply = ECHO_REPLY if family == socket.AF_INET else ECHO6_REPLY
    ident = os.getpid() & 0xFFFF
    loop = asyncio.get_running_loop()
    rtts: list[float] = []
    sock.setblocking(False)
    try:
        for seq in range(count):
            header = struct.pack("!BBHHH", request, 0, 0, ident, seq)
            payload = struct.pack("!d", time.monotonic())
            checksum = _checksum(header + payload) if family == socket.AF_INET else 0
            packet = struct.pack("!BBHHH", request, 0, checksum, ident, seq) + payload
            sent_at = time.monotonic()
            await loop.sock_sendto(sock, packet, sockaddr)
            deadline = sent_at + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 1024), left)
                except TimeoutError:
                    break
                if raw and family == socket.AF_INET:
                    data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets include the IP header
                if len(data) < 8:
                    continue
                kind, _, _, got_id, got_seq = struct.unpack("!BBHHH", data[:8])
                # Ping sockets rewrite the id themselves; raw sockets see every echo on the host.
                if kind == reply and got_seq == seq and (not raw or got_id == ident):
                    rtts.append((time.monotonic() - sent_at) * 1000)
                    break
    finally:
        sock.close()
    return Reach("icmp", count, len(rtts), tuple(rtts), RESULT_OK)


async def _connect(address: str, port: int, timeout: float) -> float | int:
    """Milliseconds to an answer (accept or refusal), or the errno / 0 when none came."""
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except ConnectionRefusedError:
        return (time.monotonic() - started) * 1000.0
    except TimeoutError:
        return 0
    except OSError as err:
        return err.errno or 0
    writer.close()
    return (time.monotonic() - started) * 1000.0


async def tcp_probe(
    address: str, ports: tuple[int, ...] = TCP_PORTS, timeout: float = 2.0
) -> Reach:
    """Connect to every port at once; an accept or a refusal (RST) proves the host is up."""
    try:
        await asyncio.get_running_loop().getaddrinfo(address, None)
    except socket.gaierror:
        return Reach("tcp", 0, 0, (), RESULT_NO_HOST)
    outcomes = await asyncio.gather(*(_connect(address, port, timeout) for port in ports))
    answers = [o for o in outcomes if isinstance(o, float)]
    if answers:
        return Reach("tcp", 1, 1, (min(answers),), RESULT_OK)
    unreachable = any(o in (errno.EHOSTUNREACH, errno.ENETUNREACH) for o in outcomes)
    return Reach("tcp", 1, 0, (), RESULT_ERROR if unreachable else RESULT_OK)


async def probe(
    address: str, method: str = "auto", tcp_ports: tuple[int, ...] = TCP_PORTS
) -> Reach:
    """ICMP when allowed (method auto or icmp), else TCP."""
    if method in ("auto", "icmp"):
        try:
            return await icmp_probe(address)
        except PermissionError:
            if method == "icmp":
                raise
        except socket.gaierror:
            return Reach("icmp", 0, 0, (), RESULT_NO_HOST)
    return await tcp_probe(address, tcp_ports)
