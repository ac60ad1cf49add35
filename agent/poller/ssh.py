"""Linux and OpenWrt boxes without SNMP, over SSH (paramiko): pinned host key, key auth, every
step under a timeout and every command under a deadline, the client always closed."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import paramiko

from agent.collectors.base import percent
from agent.collectors.disks import PSEUDO_FS
from agent.collectors.network import SKIP_INTERFACE_PREFIXES
from agent.poller.credentials import SshCredentials
from protocol.lineproto import FieldValue, Point

SECTION = "@@vigie@@"


def in_sections(*commands: tuple[str, str]) -> str:
    """One shell command running each (name, command) after a section marker: one round trip
    for everything a poll needs."""
    return "; ".join(f"echo {SECTION}{name}; {command}" for name, command in commands)


LINUX_COMMAND = in_sections(
    ("loadavg", "cat /proc/loadavg"),
    ("uptime", "cat /proc/uptime"),
    ("meminfo", "cat /proc/meminfo"),
    ("netdev", "cat /proc/net/dev"),
    ("df", "df -kP"),
    ("mounts", "cat /proc/mounts"),
)
OPENWRT_COMMAND = in_sections(
    ("info", "ubus call system info"),
    ("board", "ubus call system board"),
    ("interfaces", "ubus call network.interface dump"),
    ("netdev", "cat /proc/net/dev"),
)


class SshError(Exception):
    """The device could not be polled over SSH; the message is its poll status."""

    def __init__(self, message: str, host_key_mismatch: bool = False) -> None:
        super().__init__(message)
        self.host_key_mismatch = host_key_mismatch


def _pinned_key(line: str) -> paramiko.PKey:
    kind, data = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(data))


def run_command(address: str, creds: SshCredentials, command: str) -> str:
    """Run one command and return its stdout. Blocking: call it from a worker thread.

    The host key must equal the pinned one (RejectPolicy: nothing is learnt on the fly); the
    command is cut at `command_timeout` whatever the remote side does.
    """
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    name = address if creds.port == 22 else f"[{address}]:{creds.port}"
    try:
        pinned = _pinned_key(creds.host_key)
    except (ValueError, paramiko.SSHException) as err:
        raise SshError(f"pinned host_key is not a valid key: {err}") from None
    client.get_host_keys().add(name, pinned.get_name(), pinned)
    try:
        try:
            client.connect(
                address,
                port=creds.port,
                username=creds.user,
                key_filename=str(creds.key_file),
                timeout=creds.timeout,
                banner_timeout=creds.timeout,
                auth_timeout=creds.timeout,
                channel_timeout=creds.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as err:
            offered = err.key.get_base64()[:16]
            raise SshError(
                f"host key mismatch: the device offered {err.key.get_name()} {offered}…, "
                "not the pinned key (device replaced, or someone in the middle)",
                host_key_mismatch=True,
            ) from None
        except paramiko.AuthenticationException as err:
            raise SshError(f"SSH authentication failed for user {creds.user!r}: {err}") from None
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as err:
            raise SshError(f"cannot connect over SSH: {err or type(err).__name__}") from None
        return _exec(client, command, creds.command_timeout)
    finally:
        client.close()


def _exec(client: paramiko.SSHClient, command: str, deadline_seconds: float) -> str:
    transport = client.get_transport()
    if transport is None:
        raise SshError("SSH transport closed")
    try:
        channel = transport.open_session(timeout=deadline_seconds)
    except (paramiko.SSHException, EOFError) as err:
        raise SshError(f"cannot open an SSH channel: {err}") from None
    deadline = time.monotonic() + deadline_seconds
    output = bytearray()
    try:
        channel.settimeout(0.2)
        channel.exec_command(command)
        # Read until EOF ourselves: recv_exit_status() would wait forever on a hung command.
        while True:
            if time.monotonic() > deadline:
                raise SshError(f"command did not finish within {deadline_seconds:g} s")
            try:
                chunk = channel.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            output.extend(chunk)
            if len(output) > 4 * 1024 * 1024:
                raise SshError("command output exceeds 4 MiB")
    finally:
        channel.close()
    return output.decode(errors="replace")


def sections(output: str) -> dict[str, str]:
    """Split the combined command's output into its named sections."""
    found: dict[str, str] = {}
    current = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(SECTION):
            if current is not None:
                found[current] = "\n".join(lines)
            current, lines = line[len(SECTION) :], []
        else:
            lines.append(line)
    if current is not None:
        found[current] = "\n".join(lines)
    return found


def meminfo_points(text: str, now: int) -> list[Point]:
    """`mem` and `swap` (bytes) from /proc/meminfo."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            kb[name] = int(value[0])
    points = []
    total = kb.get("MemTotal")
    if total:
        available = kb.get("MemAvailable", kb.get("MemFree", 0) + kb.get("Cached", 0))
        fields: dict[str, FieldValue] = {
            "total": total * 1024,
            "available": available * 1024,
            "used": (total - available) * 1024,
            "free": kb.get("MemFree", 0) * 1024,
            "used_percent": percent(total - available, total),
            "available_percent": percent(available, total),
        }
        points.append(Point("mem", {}, fields, now))
    swap = kb.get("SwapTotal")
    if swap:
        free = kb.get("SwapFree", 0)
        fields = {"total": swap * 1024, "free": free * 1024, "used": (swap - free) * 1024}
        points.append(
            Point("swap", {}, {**fields, "used_percent": percent(swap - free, swap)}, now)
        )
    return points


def netdev_points(text: str, now: int) -> list[Point]:
    """`net` per interface from /proc/net/dev (Telegraf's field names)."""
    points = []
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        name = name.strip()
        values = counters.split()
        if len(values) < 16 or name.startswith(SKIP_INTERFACE_PREFIXES):
            continue
        v = [int(x) for x in values[:16]]
        fields: dict[str, FieldValue] = {
            "bytes_recv": v[0], "packets_recv": v[1], "err_in": v[2], "drop_in": v[3],
            "bytes_sent": v[8], "packets_sent": v[9], "err_out": v[10], "drop_out": v[11],
        }  # fmt: skip
        points.append(Point("net", {"interface": name}, fields, now))
    return points


def df_points(df: str, mounts: str, now: int) -> list[Point]:
    """`disk` per real filesystem from `df -kP` (types from /proc/mounts)."""
    types = {}
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            types[parts[1].replace("\\040", " ")] = parts[2]
    points = []
    for line in df.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        device, size, used, free = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
        path = " ".join(parts[5:])
        fstype = types.get(path, "")
        if (
            fstype in PSEUDO_FS
            or fstype in ("proc", "sysfs", "devpts", "cgroup", "cgroup2")
            or size == 0
        ):
            continue
        tags = {"path": path, "device": device.rsplit("/", 1)[-1], "fstype": fstype}
        fields = {
            "total": size * 1024,
            "used": used * 1024,
            "free": free * 1024,
            "used_percent": percent(used, used + free),  # df's own rule (reserved blocks)
        }
        points.append(Point("disk", tags, fields, now))
    return points


def linux_points(output: str, now: int) -> list[Point]:
    """Points from the output of LINUX_COMMAND; each section fails alone."""
    parts = sections(output)
    points: list[Point] = []
    load = parts.get("loadavg", "").split()
    system: dict[str, FieldValue] = {}
    if len(load) >= 3:
        system.update(load1=float(load[0]), load5=float(load[1]), load15=float(load[2]))
    uptime = parts.get("uptime", "").split()
    if uptime:
        system["uptime"] = int(float(uptime[0]))
    if system:
        points.append(Point("system", {}, system, now))
    points += meminfo_points(parts.get("meminfo", ""), now)
    points += netdev_points(parts.get("netdev", ""), now)
    points += df_points(parts.get("df", ""), parts.get("mounts", ""), now)
    return points


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {}


def openwrt_points(output: str, now: int) -> list[Point]:
    """Points from the output of OPENWRT_COMMAND (ubus JSON)."""
    parts = sections(output)
    info = _json(parts.get("info", ""))
    points: list[Point] = []
    system: dict[str, FieldValue] = {}
    if isinstance(info.get("uptime"), int):
        system["uptime"] = info["uptime"]
    load = info.get("load")
    if isinstance(load, list) and len(load) == 3:
        # ubus reports load averages in 1/65536 (fixed point, like the kernel)
        system.update(load1=load[0] / 65536, load5=load[1] / 65536, load15=load[2] / 65536)
    if system:
        points.append(Point("system", {}, system, now))
    memory = info.get("memory", {})
    total = memory.get("total")
    if isinstance(total, int) and total > 0:
        available = memory.get("available", memory.get("free", 0) + memory.get("buffered", 0))
        fields: dict[str, FieldValue] = {
            "total": total,
            "available": available,
            "used": total - available,
            "free": memory.get("free", 0),
            "used_percent": percent(total - available, total),
        }
        points.append(Point("mem", {}, fields, now))
    for name in ("root", "tmp"):
        fs = info.get(name)
        if isinstance(fs, dict) and fs.get("total"):
            size, used = fs["total"] * 1024, fs.get("used", 0) * 1024
            fields = {"total": size, "used": used, "free": fs.get("free", 0) * 1024}
            path = "/" if name == "root" else "/tmp"  # noqa: S108 (the device's mount point)
            points.append(
                Point("disk", {"path": path}, {**fields, "used_percent": percent(used, size)}, now)
            )
    for iface in _json(parts.get("interfaces", "")).get("interface", []):
        if not isinstance(iface, dict) or "interface" not in iface:
            continue
        fields = {"up": bool(iface.get("up")), "oper_status": 1 if iface.get("up") else 2}
        if isinstance(iface.get("uptime"), int):
            fields["uptime"] = iface["uptime"]
        tags = {"ifname": str(iface["interface"])}
        if iface.get("l3_device"):
            tags["device"] = str(iface["l3_device"])
        points.append(Point("interface", tags, fields, now))
    points += netdev_points(parts.get("netdev", ""), now)
    return points
