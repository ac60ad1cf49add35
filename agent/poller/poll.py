"""Polling the site's devices: all concurrently on one event loop and one SNMP engine, SSH in a
bounded pool of threads, every device under its own deadline, each failing alone."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.config import DeviceConfig
from agent.poller import reach
from agent.poller.kinds import SNMP_POLLS, ssh_poll
from protocol.lineproto import FieldValue, Point

log = logging.getLogger(__name__)

DEFAULT_INFLIGHT = 64
SSH_WORKERS = 8


def deadline(device: DeviceConfig) -> float:
    """How long one poll of `device` may take: well inside its interval."""
    return min(device.interval * 0.8, 60.0)


@dataclass(slots=True)
class DevicePoll:
    """The outcome of polling one device (points not yet tagged with site and host)."""

    device: DeviceConfig
    points: list[Point] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    host_key_mismatch: bool = False
    varbinds: int = 0
    requests: int = 0

    def status_point(self, method: str, started: float, now: int, reader: str = "") -> Point:
        """`device_poll`: did the poll work, and if not, why (the per-device status); tagged
        with the host of the agent that polls it (`reader`), for the device's page."""
        fields: dict[str, FieldValue] = {
            "ok": not self.errors,
            "duration_ms": (time.monotonic() - started) * 1000,
            "points": len(self.points),
        }
        if self.errors:
            fields["error"] = "; ".join(self.errors)[:500]
        if method == "snmp":
            fields.update(requests=self.requests, varbinds=self.varbinds)
        if method == "ssh":
            fields["host_key_mismatch"] = self.host_key_mismatch
        tags = {"method": method, "kind": self.device.kind}
        if reader:
            tags["poller"] = reader
        return Point("device_poll", tags, fields, now)


def device_method(device: DeviceConfig) -> str:
    """How a device is read: http (a web check), snmp, ssh, or "" (reachability only)."""
    if device.kind == "web":
        return "http"
    return "snmp" if device.snmp else "ssh" if device.ssh else ""


class Poller:
    """Polls devices; create and use it inside one running event loop."""

    def __init__(
        self, inflight: int = DEFAULT_INFLIGHT, ssh_workers: int = SSH_WORKERS, reader: str = ""
    ) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        self.reader = reader  # this agent's host, in each device_poll's `poller` tag
        self._engine = SnmpEngine()
        self._inflight = asyncio.Semaphore(inflight)
        self._ssh = asyncio.Semaphore(ssh_workers)
        self.sessions: dict[str, Any] = {}

    async def _snmp_session(self, device: DeviceConfig) -> Any:
        from agent.poller.snmp import SnmpSession

        assert device.snmp is not None
        session = self.sessions.get(device.name)
        if session is None:
            session = await SnmpSession.open(self._engine, device.host, device.snmp, self._inflight)
            self.sessions[device.name] = session
        return session

    async def _poll_snmp(self, device: DeviceConfig, result: DevicePoll, now: int) -> None:
        from agent.poller.snmp import SnmpError

        session = await self._snmp_session(device)
        before = (session.requests, session.varbinds)
        try:
            for number, poll in enumerate(SNMP_POLLS[device.kind]):
                try:
                    result.points += await poll(session, now)
                except SnmpError as err:
                    result.errors.append(f"{poll.__module__.rsplit('.', 1)[-1]}: {err}")
                    if number == 0:
                        break  # the system group failed: the device is not answering
        finally:
            result.requests = session.requests - before[0]
            result.varbinds = session.varbinds - before[1]

    async def _poll_ssh(self, device: DeviceConfig, result: DevicePoll, now: int) -> None:
        from agent.poller.ssh import SshError, run_command

        assert device.ssh is not None
        command, parse = ssh_poll(device.kind)
        async with self._ssh:
            try:
                output = await asyncio.to_thread(run_command, device.host, device.ssh, command)
            except SshError as err:
                result.errors.append(str(err))
                result.host_key_mismatch = err.host_key_mismatch
                return
        result.points += parse(output, now)

    async def poll(self, device: DeviceConfig, now: int) -> list[Point]:
        """One poll of one device: its data, its reachability and its `device_poll` status.
        Never raises for a device that misbehaves."""
        started = time.monotonic()
        method = (
            "http"
            if device.kind == "web"
            else "snmp"
            if device.snmp
            else "ssh"
            if device.ssh
            else ""
        )
        result = DevicePoll(device)
        points: list[Point] = []
        work = []
        if device.reach != "off":
            ports = (device.ssh.port, *reach.TCP_PORTS) if device.ssh else reach.TCP_PORTS
            work.append(self._reach(device, ports, now, points))
        if method == "snmp":
            work.append(self._poll_snmp(device, result, now))
        elif method == "ssh":
            work.append(self._poll_ssh(device, result, now))
        elif method == "http":
            work.append(self._poll_web(device, result, now))
        limit = deadline(device)
        gathered = asyncio.gather(*work)
        try:
            await asyncio.wait_for(gathered, limit)
        except TimeoutError:
            # pysnmp retries a walk forever on a device that stops answering mid-way
            result.errors.append(f"poll did not finish within {limit:g} s")
        except OSError as err:  # address that does not resolve, no route
            result.errors.append(f"cannot reach {device.address}: {err}")
        finally:
            if gathered.done() and not gathered.cancelled():
                # Retrieved, so that a poll cut short (deadline, agent stopping) is not logged
                # by asyncio as an error with a traceback per device.
                gathered.exception()
        if result.errors:
            log.warning("device %s: %s", device.name, "; ".join(result.errors))
        points += result.points
        if method:
            points.append(result.status_point(method, started, now, self.reader))
        return points

    async def _poll_web(self, device: DeviceConfig, result: DevicePoll, now: int) -> None:
        from agent.poller import web

        timeout = max(1.0, deadline(device) - 2)
        points = await asyncio.to_thread(web.check, device.address, now, timeout)
        result.points += points
        if points[0].fields["result_code"] != web.SUCCESS:
            result.errors.append(str(points[0].fields.get("error", points[0].tags["result"])))

    async def _reach(
        self, device: DeviceConfig, ports: tuple[int, ...], now: int, out: list[Point]
    ) -> None:
        outcome = await reach.probe(device.host, device.reach, ports)
        # The kind lets the collector tell a router down (the whole site cut off) from the rest.
        out.append(outcome.point(now, kind=device.kind))

    async def poll_all(self, devices: Sequence[DeviceConfig], now: int) -> dict[str, list[Point]]:
        """Poll every device at once; {device name: points}."""
        results = await asyncio.gather(*(self.poll(d, now) for d in devices))
        return {d.name: points for d, points in zip(devices, results, strict=True)}

    async def inventory(self, device: DeviceConfig) -> dict[str, Any] | None:
        """The device's GLPI document (SNMP devices), None when it cannot be read now."""
        from agent.poller.inventory import device_inventory
        from agent.poller.snmp import SnmpError

        if device.snmp is None:
            return None
        try:
            session = await self._snmp_session(device)
            return await asyncio.wait_for(
                device_inventory(session, device.name, device.kind, device.host), deadline(device)
            )
        except (SnmpError, TimeoutError, OSError) as err:
            log.warning("device %s: no inventory: %s", device.name, err)
            return None
