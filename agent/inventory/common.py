"""Inventory parts read the same way on every platform, through psutil."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

from agent.collectors.disks import clean_mountpoint, local_partitions


def _port_type(name: str) -> str:
    """GLPI's port type from an interface name (Linux: lo, wlan0; Windows: Wi-Fi, WLAN)."""
    lowered = name.lower()
    if lowered == "lo" or lowered.startswith("loopback"):
        return "loopback"
    if lowered.startswith("wl") or "wi-fi" in lowered or "wireless" in lowered:
        return "wifi"
    return "ethernet"


class PsutilParts:
    """Drives and network interfaces, shared by the Linux and Windows readers."""

    def __init__(self, psutil: Any, sysnet: Path | None = None) -> None:
        self._ps = psutil
        self._sysnet = sysnet  # Linux: /sys/class/net, to tell physical from virtual links

    def drives(self) -> list[dict[str, Any]]:
        """Mounted local filesystems, sizes in MiB as GLPI's agents write them; a device
        mounted several times (bind mounts) is listed at its first mount point only."""
        drives = []
        for part in local_partitions(self._ps.disk_partitions(all=False)):
            try:
                usage = self._ps.disk_usage(part.mountpoint)
            except OSError:
                continue
            drives.append(
                {
                    "type": clean_mountpoint(part.mountpoint),
                    "volumn": part.device,
                    "filesystem": part.fstype,
                    "total": int(usage.total // 2**20),
                    "free": int(usage.free // 2**20),
                }
            )
        return drives

    def networks(self) -> list[dict[str, Any]]:
        """Interfaces with MAC, IPv4 and IPv6 addresses."""
        stats = self._ps.net_if_stats()
        out = []
        for name, addrs in sorted(self._ps.net_if_addrs().items()):
            mac = next((a.address for a in addrs if a.family == self._ps.AF_LINK), "")
            base: dict[str, Any] = {
                "description": name,
                "mac": mac.lower().replace("-", ":"),  # Windows writes 02-FC-…
                "status": "up" if name in stats and stats[name].isup else "down",
                "type": _port_type(name),
                "virtualdev": not (self._sysnet / name / "device").exists()
                if self._sysnet
                else False,
            }
            if name in stats and stats[name].speed:
                base["speed"] = str(stats[name].speed)
            v4 = [a for a in addrs if a.family == socket.AF_INET]
            v6 = [a for a in addrs if a.family == socket.AF_INET6]
            for addr in v4 or [None]:
                entry = dict(base)
                if addr is not None:
                    entry["ipaddress"] = addr.address
                    if addr.netmask:
                        entry["ipmask"] = addr.netmask
                        net = ipaddress.IPv4Network(f"{addr.address}/{addr.netmask}", strict=False)
                        entry["ipsubnet"] = str(net.network_address)
                if v6:
                    entry["ipaddress6"] = v6[0].address.split("%")[0]
                out.append(entry)
        return out
