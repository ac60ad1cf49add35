"""What a technician needs to find the device an alert is about, from its last inventory:
its address, and the physical disk concerned (model and serial) when the alert names one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

_LOOPBACK = ("127.", "::1", "169.254.")


class Disk(NamedTuple):
    """A physical disk of the inventory."""

    name: str
    model: str
    serial: str


class Device(NamedTuple):
    """The facts of one device that a mail or a page shows beside its alerts."""

    ip: str
    disks: tuple[Disk, ...]

    def disk_for(self, labels: Mapping[str, str]) -> Disk | None:
        """The physical disk an alert is about: the one its `device` label names (SMART), or
        the only disk of the machine for a file-system alert (a mount point says nothing of
        the disk under it when there are several)."""
        device = labels.get("device", "")
        if device:
            name = device.rsplit("/", 1)[-1]
            if labels.get("model") or labels.get("serial_no"):  # SMART series carry them
                return Disk(name, labels.get("model", ""), labels.get("serial_no", ""))
            return next((d for d in self.disks if d.name == name), None)
        if "path" in labels and len(self.disks) == 1:
            return self.disks[0]
        return None


NO_FACTS = Device("", ())


def device_facts(document: Mapping[str, Any] | None) -> Device:
    """The facts of a GLPI inventory document (a computer's or a network device's)."""
    if not document:
        return NO_FACTS
    content = document.get("content", {})
    network = content.get("network_device", {})
    addresses = [str(ip) for ip in network.get("ips", [])]
    addresses += [str(n.get("ipaddress", "")) for n in content.get("networks", [])]
    ip = next((a for a in addresses if a and not a.startswith(_LOOPBACK)), "")
    disks = tuple(
        Disk(str(s.get("name", "")), str(s.get("model", "")).strip(), str(s.get("serial", "")))
        for s in content.get("storages", [])
        if s.get("name")
    )
    return Device(ip, disks)
