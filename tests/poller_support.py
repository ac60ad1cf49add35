"""Helpers shared by the poller tests: device configs against the test peers, one-shot polls."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.config import DeviceConfig
from agent.poller.credentials import SnmpCredentials, SshCredentials
from agent.poller.poll import Poller
from protocol.lineproto import Point
from tests.services import SnmpAgent, SshServer


def snmp_device(
    agent: SnmpAgent,
    name: str,
    kind: str,
    community: str | None = None,
    v3_context: str | None = None,
    interval: int = 60,
    **v3: str,
) -> DeviceConfig:
    """A device served by `agent`: v2c with `community`, or v3 authPriv (context for snmpsim)."""
    if v3_context is None:
        creds = SnmpCredentials.from_config(
            {"version": "2c", "community": community or agent.community, "port": agent.port}
        )
    else:
        table: dict[str, Any] = {
            "version": "3",
            "user": agent.user,
            "auth_key": agent.auth_key,
            "priv_key": agent.priv_key,
            "port": agent.port,
            **v3,
        }
        if v3_context:
            table["context"] = v3_context
        creds = SnmpCredentials.from_config(table)
    return DeviceConfig(name, agent.host, kind, interval, snmp=creds, reach="off")


def ssh_device(server: SshServer, name: str, kind: str = "linux", **overrides: Any) -> DeviceConfig:
    """A device reached through the test sshd."""
    table = {
        "user": server.user,
        "key_file": str(server.client_key),
        "host_key": server.host_key_line,
        "port": server.port,
        "timeout": 5.0,
        **overrides,
    }
    creds = SshCredentials.from_config(table, server.client_key.parent)
    return DeviceConfig(name, server.host, kind, 60, ssh=creds, reach="off")


def poll(*devices: DeviceConfig) -> dict[str, list[Point]]:
    """One poll of these devices on a fresh event loop."""

    async def run() -> dict[str, list[Point]]:
        return await Poller().poll_all(devices, 1_800_000_000)

    return asyncio.run(run())


def inventory(device: DeviceConfig) -> dict[str, Any] | None:
    """The device's GLPI inventory."""

    async def run() -> dict[str, Any] | None:
        return await Poller().inventory(device)

    return asyncio.run(run())


def by(points: list[Point], measurement: str, **tags: str) -> list[Point]:
    """The points of one measurement whose tags include `tags`."""
    return [
        p
        for p in points
        if p.measurement == measurement and all(p.tags.get(k) == v for k, v in tags.items())
    ]


def num(point: Point, field: str) -> float:
    """A numeric field of a point (fails the test when it is missing or not a number)."""
    value = point.fields[field]
    assert isinstance(value, int | float), f"{field}={value!r}"
    return value


def status(points: list[Point]) -> Point:
    """The device's `device_poll` point."""
    (found,) = by(points, "device_poll")
    return found
