"""What is polled on each kind of device: the one place that registers SNMP pollers and SSH
commands per kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agent.poller import hostres, interfaces, printer, sensors, system, ups
from agent.poller.snmp import SnmpSession
from protocol.lineproto import Point

SnmpPoll = Callable[[SnmpSession, int], Awaitable[list[Point]]]
SshParse = Callable[[str, int], list[Point]]

# The system group comes first: if it fails, the device is not answering and the rest is skipped.
SNMP_POLLS: dict[str, tuple[SnmpPoll, ...]] = {
    "router": (system.collect, interfaces.collect, hostres.collect, sensors.collect),
    "switch": (system.collect, interfaces.collect, sensors.collect),
    "printer": (system.collect, interfaces.collect, printer.collect),
    "ups": (system.collect, interfaces.collect, ups.collect),
    "nas": (system.collect, interfaces.collect, hostres.collect, sensors.collect),
    "linux": (system.collect, interfaces.collect, hostres.collect, sensors.collect),
    "openwrt": (system.collect, interfaces.collect, hostres.collect),
    # Windows' own SNMP service: HOST-RESOURCES gives drives (C:), processors, memory.
    "windows": (system.collect, interfaces.collect, hostres.collect),
}


def ssh_poll(kind: str) -> tuple[str, SshParse]:
    """The command run over SSH for a kind and the parser of its output."""
    from agent.poller import ssh  # paramiko loads only for SSH devices

    if kind == "openwrt":
        return ssh.OPENWRT_COMMAND, ssh.openwrt_points
    return ssh.LINUX_COMMAND, ssh.linux_points
