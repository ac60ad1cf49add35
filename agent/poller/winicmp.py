"""ICMP echo on Windows through iphlpapi's IcmpSendEcho: no raw socket, so no administrator
right (Windows has no unprivileged ping sockets). IPv4 only; an IPv6 device falls back to TCP."""

from __future__ import annotations

import ctypes
import socket
import struct
import time
from ctypes import wintypes
from typing import Any

_IP_SUCCESS = 0
_PAYLOAD = b"vigie-reach-probe-"


class _Options(ctypes.Structure):
    _fields_ = (
        ("Ttl", ctypes.c_ubyte),
        ("Tos", ctypes.c_ubyte),
        ("Flags", ctypes.c_ubyte),
        ("OptionsSize", ctypes.c_ubyte),
        ("OptionsData", ctypes.c_void_p),
    )


class _EchoReply(ctypes.Structure):
    _fields_ = (
        ("Address", wintypes.ULONG),
        ("Status", wintypes.ULONG),
        ("RoundTripTime", wintypes.ULONG),
        ("DataSize", ctypes.c_ushort),
        ("Reserved", ctypes.c_ushort),
        ("Data", ctypes.c_void_p),
        ("Options", _Options),
    )


def echo(address: str, count: int, timeout: float) -> list[float]:
    """Round-trip times in ms of the replies to `count` echo requests to an IPv4 address;
    PermissionError when the address is not IPv4 (the caller then uses TCP)."""
    try:
        packed = socket.inet_aton(address)
    except OSError:
        raise PermissionError(f"IcmpSendEcho takes IPv4 addresses, not {address!r}") from None
    win: Any = ctypes  # looked up by name: mypy checks this module on Linux
    iphlpapi = win.WinDLL("iphlpapi", use_last_error=True)
    iphlpapi.IcmpCreateFile.restype = wintypes.HANDLE
    handle = iphlpapi.IcmpCreateFile()
    if handle in (None, wintypes.HANDLE(-1).value):
        raise PermissionError(f"IcmpCreateFile failed (error {win.get_last_error()})")
    # IPAddr is the address in network order, read as a native ULONG.
    target = wintypes.ULONG(struct.unpack("=L", packed)[0])
    buffer = ctypes.create_string_buffer(ctypes.sizeof(_EchoReply) + len(_PAYLOAD) + 8)
    rtts: list[float] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            replies = iphlpapi.IcmpSendEcho(
                wintypes.HANDLE(handle), target, _PAYLOAD, len(_PAYLOAD), None,
                buffer, len(buffer), int(timeout * 1000),
            )  # fmt: skip
            reply = _EchoReply.from_buffer(buffer)
            if replies and reply.Status == _IP_SUCCESS:
                rtts.append((time.perf_counter() - started) * 1000.0)
    finally:
        iphlpapi.IcmpCloseHandle(wintypes.HANDLE(handle))
    return rtts
