"""Windows inventory reader: CIM classes through PowerShell, software from the registry's
uninstall keys, the rest through psutil. Not exercised on Windows in this repository's CI."""

from __future__ import annotations

import importlib
import json
import platform
import socket
import subprocess
from datetime import UTC, datetime
from typing import Any

from agent.inventory.common import PsutilParts

_UNINSTALL_KEYS = (
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
)


def cim(class_name: str) -> list[dict[str, Any]]:
    """Instances of a CIM class as dicts (PowerShell's Get-CimInstance, JSON output)."""
    script = f"Get-CimInstance -ClassName {class_name} | ConvertTo-Json -Depth 2 -Compress"
    out = subprocess.run(
        ["powershell", "-NoProfile", "-NonInteractive", "-Command", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else [data]


class WindowsReader(PsutilParts):
    """Reads one Windows machine."""

    def hardware(self) -> dict[str, Any]:
        """Name, memory, swap, UUID, workgroup."""
        system = (cim("Win32_ComputerSystem") or [{}])[0]
        product = (cim("Win32_ComputerSystemProduct") or [{}])[0]
        return {
            "name": socket.gethostname(),
            "memory": int(self._ps.virtual_memory().total // 2**20),
            "swap": int(self._ps.swap_memory().total // 2**20),
            "uuid": product.get("UUID", ""),
            "workgroup": system.get("Domain", ""),
            "lastloggeduser": system.get("UserName", ""),
        }

    def bios(self) -> dict[str, Any]:
        """Firmware and system identity."""
        bios = (cim("Win32_BIOS") or [{}])[0]
        system = (cim("Win32_ComputerSystem") or [{}])[0]
        board = (cim("Win32_BaseBoard") or [{}])[0]
        return {
            "bmanufacturer": bios.get("Manufacturer", ""),
            "bversion": bios.get("SMBIOSBIOSVersion", ""),
            "ssn": bios.get("SerialNumber", ""),
            "smanufacturer": system.get("Manufacturer", ""),
            "smodel": system.get("Model", ""),
            "mmanufacturer": board.get("Manufacturer", ""),
            "mmodel": board.get("Product", ""),
            "msn": board.get("SerialNumber", ""),
        }

    def operatingsystem(self) -> dict[str, Any]:
        """Windows edition, version and build."""
        system = (cim("Win32_OperatingSystem") or [{}])[0]
        boot = datetime.fromtimestamp(self._ps.boot_time(), UTC)
        return {
            "name": "Windows",
            "full_name": system.get("Caption", ""),
            "version": system.get("Version", ""),
            "kernel_name": "MSWin32",
            "kernel_version": system.get("BuildNumber", platform.version()),
            "arch": platform.machine(),
            "boot_time": boot.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def cpus(self) -> list[dict[str, Any]]:
        """Processors."""
        return [
            {
                "name": cpu.get("Name", "").strip(),
                "manufacturer": cpu.get("Manufacturer", ""),
                "core": cpu.get("NumberOfCores"),
                "thread": cpu.get("NumberOfLogicalProcessors"),
                "speed": cpu.get("MaxClockSpeed"),
                "arch": "x86_64" if platform.machine().endswith("64") else "i686",
            }
            for cpu in cim("Win32_Processor")
        ]

    def memories(self) -> list[dict[str, Any]]:
        """Memory modules."""
        return [
            {
                "capacity": int(m.get("Capacity") or 0) // 2**20,
                "caption": m.get("DeviceLocator", ""),
                "speed": str(m.get("Speed") or ""),
                "manufacturer": m.get("Manufacturer", ""),
                "serialnumber": (m.get("SerialNumber") or "").strip(),
                "model": (m.get("PartNumber") or "").strip(),
                "numslots": i + 1,
            }
            for i, m in enumerate(cim("Win32_PhysicalMemory"))
        ]

    def storages(self) -> list[dict[str, Any]]:
        """Physical disks."""
        return [
            {
                "name": d.get("DeviceID", ""),
                "model": d.get("Model", ""),
                "serial": (d.get("SerialNumber") or "").strip(),
                "firmware": d.get("FirmwareRevision", ""),
                "disksize": int(d.get("Size") or 0) // 10**6,
                "interface": d.get("InterfaceType", ""),
                "type": "disk",
            }
            for d in cim("Win32_DiskDrive")
        ]

    def softwares(self) -> list[dict[str, Any]]:
        """Programs listed under the registry's Uninstall keys (64- and 32-bit views)."""
        # Imported by name: mypy checks this module on Linux, where winreg has no attributes.
        winreg: Any = importlib.import_module("winreg")

        found: dict[tuple[str, str], dict[str, Any]] = {}
        for path in _UNINSTALL_KEYS:
            try:
                root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, path)
            except OSError:
                continue
            for index in range(winreg.QueryInfoKey(root)[0]):
                try:
                    key = winreg.OpenKey(root, winreg.EnumKey(root, index))
                    values = {
                        winreg.EnumValue(key, i)[0]: winreg.EnumValue(key, i)[1]
                        for i in range(winreg.QueryInfoKey(key)[1])
                    }
                except OSError:
                    continue
                name = values.get("DisplayName")
                if not name or values.get("SystemComponent") == 1:
                    continue
                date = str(values.get("InstallDate", ""))
                found[(name, str(values.get("DisplayVersion", "")))] = {
                    "name": name,
                    "version": str(values.get("DisplayVersion", "")),
                    "publisher": values.get("Publisher", ""),
                    "install_date": f"{date[:4]}-{date[4:6]}-{date[6:8]}"
                    if len(date) == 8
                    else None,
                    "guid": values.get("ProductCode") or None,
                    "from": "registry",
                }
        return sorted(found.values(), key=lambda s: s["name"])

    def batteries(self) -> list[dict[str, Any]]:
        """Batteries (capacity from psutil's view only; design capacity needs WMI root\\wmi)."""
        return [
            {"name": b.get("Name", ""), "chemistry": str(b.get("Chemistry", ""))}
            for b in cim("Win32_Battery")
        ]
