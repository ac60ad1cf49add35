"""Linux inventory reader: DMI from /sys, /proc, dpkg's status file or rpm, psutil.

Every path hangs off an injected root so tests can feed a recorded tree.
"""

from __future__ import annotations

import platform
import re
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.inventory.common import PsutilParts

_SKIP_BLOCK = re.compile(r"^(loop|ram|zram|sr|fd|dm-|md)\d*")
_CHASSIS = {
    "3": "Desktop",
    "4": "Low Profile Desktop",
    "6": "Mini Tower",
    "7": "Tower",
    "8": "Portable",
    "9": "Laptop",
    "10": "Notebook",
    "13": "All in One",
    "30": "Tablet",
    "31": "Convertible",
    "35": "Mini PC",
    "17": "Main Server Chassis",
    "23": "Rack Mount Chassis",
}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


class LinuxReader(PsutilParts):
    """Reads one Linux machine; `root` is `/` in production and a recorded tree in tests."""

    def __init__(self, psutil: Any, root: Path = Path("/")) -> None:
        super().__init__(psutil, root / "sys/class/net")
        self._root = root
        self._dmi = root / "sys/class/dmi/id"

    def _dmi_value(self, name: str) -> str:
        value = _read(self._dmi / name)
        # Placeholders that vendors leave in DMI fields are no information.
        return (
            "" if value.lower() in ("to be filled by o.e.m.", "default string", "none") else value
        )

    def hardware(self) -> dict[str, Any]:
        """Name, memory, swap, UUID, chassis."""
        vm = self._ps.virtual_memory()
        swap = self._ps.swap_memory()
        virtual = _read(self._root / "sys/hypervisor/type") or (
            "Physical" if self._dmi_value("sys_vendor") not in ("QEMU", "innotek GmbH") else "QEMU"
        )
        users = self._ps.users()
        return {
            "name": socket.gethostname().split(".")[0],
            "memory": int(vm.total // 2**20),
            "swap": int(swap.total // 2**20),
            "uuid": self._dmi_value("product_uuid"),
            "chassis_type": _CHASSIS.get(self._dmi_value("chassis_type"), ""),
            "vmsystem": virtual,
            "lastloggeduser": users[-1].name if users else "",
        }

    def bios(self) -> dict[str, Any]:
        """Firmware and board identity from DMI (serials need root)."""
        date = self._dmi_value("bios_date")
        if re.match(r"^\d\d/\d\d/\d{4}$", date):
            month, day, year = date.split("/")
            date = f"{year}-{month}-{day}"
        return {
            "bdate": date,
            "bmanufacturer": self._dmi_value("bios_vendor"),
            "bversion": self._dmi_value("bios_version"),
            "smanufacturer": self._dmi_value("sys_vendor"),
            "smodel": self._dmi_value("product_name"),
            "ssn": self._dmi_value("product_serial"),
            "mmanufacturer": self._dmi_value("board_vendor"),
            "mmodel": self._dmi_value("board_name"),
            "msn": self._dmi_value("board_serial"),
            "assettag": self._dmi_value("chassis_asset_tag"),
        }

    def operatingsystem(self) -> dict[str, Any]:
        """Distribution, kernel, boot time."""
        release: dict[str, str] = {}
        for line in _read(self._root / "etc/os-release").splitlines():
            key, _, value = line.partition("=")
            release[key] = value.strip().strip('"')
        boot = datetime.fromtimestamp(self._ps.boot_time(), UTC)
        return {
            "name": release.get("NAME", "Linux"),
            "version": self._os_version(release),
            "full_name": release.get("PRETTY_NAME", ""),
            "kernel_name": "linux",
            "kernel_version": platform.release(),
            "arch": platform.machine(),
            "fqdn": socket.getfqdn(),
            "boot_time": boot.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def _os_version(self, release: dict[str, str]) -> str:
        """The release as GLPI's agents give it: Debian's point release (12.11) from
        /etc/debian_version, else os-release's VERSION_ID (22.04, 9.3)."""
        point = _read(self._root / "etc/debian_version")
        if release.get("ID") == "debian" and re.match(r"^\d+\.\d+$", point):
            return point
        return release.get("VERSION_ID") or release.get("VERSION", "")

    def cpus(self) -> list[dict[str, Any]]:
        """One entry per physical CPU package."""
        packages: dict[str, dict[str, Any]] = {}
        current: dict[str, str] = {}
        for line in [*_read(self._root / "proc/cpuinfo").splitlines(), ""]:
            if line.strip():
                key, _, value = line.partition(":")
                current[key.strip()] = value.strip()
                continue
            if not current:
                continue
            package = packages.setdefault(
                current.get("physical id", "0"),
                {
                    "name": current.get("model name", current.get("Model", "")),
                    "manufacturer": {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(
                        current.get("vendor_id", ""), current.get("vendor_id", "")
                    ),
                    "core": int(current.get("cpu cores", 1)),
                    "thread": 0,
                    "speed": int(float(current.get("cpu MHz", 0) or 0)),
                    "arch": platform.machine(),
                    "familynumber": current.get("cpu family", ""),
                    "model": current.get("model", ""),
                    "stepping": int(current["stepping"])
                    if current.get("stepping", "").isdigit()
                    else None,
                },
            )
            package["thread"] += 1
            current = {}
        return list(packages.values())

    def memories(self) -> list[dict[str, Any]]:
        """Memory modules from `dmidecode -t 17` (root); else one entry with the total."""
        try:
            out = subprocess.run(
                ["dmidecode", "-t", "17"], capture_output=True, text=True, timeout=20, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return [
                {
                    "capacity": int(self._ps.virtual_memory().total // 2**20),
                    "description": "total (no dmidecode)",
                }
            ]
        return parse_dmidecode_memory(out)

    def storages(self) -> list[dict[str, Any]]:
        """Physical disks from /sys/block (model, serial, size)."""
        disks = []
        block = self._root / "sys/block"
        for entry in sorted(block.iterdir()) if block.is_dir() else []:
            if _SKIP_BLOCK.match(entry.name):
                continue
            sectors = _read(entry / "size")
            device = entry / "device"
            serial = _read(device / "serial") or _read(entry / "serial")
            disks.append(
                {
                    "name": entry.name,
                    "model": _read(device / "model"),
                    "manufacturer": _read(device / "vendor"),
                    "serial": serial,
                    "firmware": _read(device / "firmware_rev") or _read(device / "rev"),
                    "disksize": int(sectors) * 512 // 10**6 if sectors.isdigit() else None,
                    "type": "disk",
                    "description": "NVMe" if entry.name.startswith("nvme") else "SATA/SCSI",
                }
            )
        return disks

    def softwares(self) -> list[dict[str, Any]]:
        """Installed packages: dpkg's status file, else `rpm -qa`."""
        status = self._root / "var/lib/dpkg/status"
        if status.exists():
            return parse_dpkg_status(status.read_text(errors="replace"))
        try:
            out = subprocess.run(
                [
                    "rpm",
                    "-qa",
                    "--queryformat",
                    "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{VENDOR}\t%{INSTALLTIME}\t%{SIZE}\n",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return parse_rpm(out)

    def batteries(self) -> list[dict[str, Any]]:
        """Batteries from /sys/class/power_supply (capacities in mWh)."""
        out = []
        supply = self._root / "sys/class/power_supply"
        for bat in sorted(supply.glob("BAT*")) if supply.is_dir() else []:
            design = _read(bat / "energy_full_design") or _read(bat / "charge_full_design")
            full = _read(bat / "energy_full") or _read(bat / "charge_full")
            out.append(
                {
                    "name": _read(bat / "model_name") or bat.name,
                    "manufacturer": _read(bat / "manufacturer"),
                    "serial": _read(bat / "serial_number"),
                    "chemistry": _read(bat / "technology"),
                    "capacity": int(design) // 1000 if design.isdigit() else None,
                    "real_capacity": int(full) // 1000 if full.isdigit() else None,
                    "voltage": int(v) // 1000
                    if (v := _read(bat / "voltage_min_design")).isdigit()
                    else None,
                }
            )
        return out


def parse_dpkg_status(text: str) -> list[dict[str, Any]]:
    """Installed packages from /var/lib/dpkg/status."""
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace():
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "install ok installed" not in fields.get("Status", "") or "Package" not in fields:
            continue
        size = fields.get("Installed-Size", "")
        out.append(
            {
                "name": fields["Package"],
                "version": fields.get("Version", ""),
                "arch": fields.get("Architecture", ""),
                "publisher": fields.get("Maintainer", ""),
                "comments": fields.get("Description", ""),
                "filesize": int(size) * 1024 if size.isdigit() else None,
                "from": "deb",
            }
        )
    return sorted(out, key=lambda s: s["name"])


def parse_rpm(text: str) -> list[dict[str, Any]]:
    """Installed packages from `rpm -qa --queryformat` (tab-separated)."""
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 6:
            continue
        name, version, arch, vendor, installed, size = parts
        date = (
            datetime.fromtimestamp(int(installed), UTC).strftime("%Y-%m-%d")
            if installed.isdigit()
            else None
        )
        out.append(
            {
                "name": name,
                "version": version,
                "arch": arch,
                "publisher": vendor,
                "install_date": date,
                "filesize": int(size) if size.isdigit() else None,
                "from": "rpm",
            }
        )
    return sorted(out, key=lambda s: s["name"])


def parse_dmidecode_memory(text: str) -> list[dict[str, Any]]:
    """Populated memory slots from `dmidecode -t 17`."""
    modules: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        if "Memory Device" not in block:
            continue
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.strip().partition(": ")
            if sep:
                fields[key] = value.strip()
        size = fields.get("Size", "")
        match = re.match(r"^(\d+)\s*(MB|GB|kB)$", size)
        if not match:
            continue  # "No Module Installed"
        capacity = int(match.group(1)) * {"MB": 1, "GB": 1024, "kB": 0}[match.group(2)]
        modules.append(
            {
                "capacity": capacity,
                "caption": fields.get("Locator", ""),
                "description": fields.get("Form Factor", ""),
                "type": fields.get("Type", ""),
                "speed": fields.get("Speed", "").split(" ")[0],
                "manufacturer": fields.get("Manufacturer", ""),
                "serialnumber": fields.get("Serial Number", ""),
                "model": fields.get("Part Number", ""),
                "numslots": len(modules) + 1,
            }
        )
    return modules


def machine_id(root: Path = Path("/")) -> str:
    """A stable identifier of this installation (systemd's machine-id, else the hostname)."""
    return (
        _read(root / "etc/machine-id")
        or _read(root / "var/lib/dbus/machine-id")
        or socket.gethostname()
    )
