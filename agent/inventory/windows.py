"""Windows inventory reader: WMI over COM for the hardware, the registry for programs and
release names, psutil for the rest. Each part that Windows (or Wine) cannot answer leaves
its field out, never the document."""

from __future__ import annotations

import logging
import platform
import socket
from datetime import UTC, datetime
from typing import Any

from agent.collectors.base import reading_errors
from agent.inventory.common import PsutilParts
from agent.inventory.registry import Registry, installed_software, windows_release
from agent.inventory.wmi import WmiSource

log = logging.getLogger(__name__)

_MIB = 2**20
_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}
_DRIVE_TYPES = {2: "Removable Disk", 3: "Local Disk", 4: "Network Drive", 5: "Compact Disc"}
_CHEMISTRY = {3: "Lead Acid", 4: "Nickel Cadmium", 5: "Nickel Metal Hydride", 6: "Lithium-ion"}
_OS_ARCH = {"64 bits": "64-bit", "64-bit": "64-bit", "32 bits": "32-bit", "32-bit": "32-bit"}


def wmi_date(value: Any) -> str | None:
    """A CIM datetime (20140101000000.000000+000) as YYYY-MM-DD HH:MM:SS, or None."""
    text = str(value or "")
    if len(text) < 14 or not text[:14].isdigit():
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:8]} {text[8:10]}:{text[10:12]}:{text[12:14]}"


_HYPERVISORS = (
    ("virtual machine", "Hyper-V"),  # Microsoft's "Virtual Machine" model
    ("vmware", "VMware"),
    ("virtualbox", "VirtualBox"),
    ("kvm", "QEMU"),
    ("qemu", "QEMU"),
    ("xen", "Xen"),
)


def vm_system(manufacturer: str, model: str) -> str:
    """GLPI's vmsystem from WMI's maker and model ("Physical" when no hypervisor shows)."""
    text = f"{manufacturer} {model}".lower()
    return next((name for marker, name in _HYPERVISORS if marker in text), "Physical")


def _device_id(text: str) -> str:
    r"""\\.\PHYSICALDRIVE0 (Wine escapes its backslashes twice: \\\\.\\PHYSICALDRIVE0)."""
    return text.replace("\\\\", "\\") if text.startswith("\\\\\\\\") else text


def _int(value: Any) -> int | None:
    """WMI sends uint64 as strings ("82252800000")."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _mib(value: Any) -> int | None:
    number = _int(value)
    return number // _MIB if number is not None else None


class WindowsReader(PsutilParts):
    """Reads one Windows machine through injected WMI and registry sources."""

    def __init__(self, psutil: Any, wmi: WmiSource, registry: Registry) -> None:
        super().__init__(psutil)
        self._wmi = wmi
        self._registry = registry
        self._errors = reading_errors(psutil)

    def _one(self, class_name: str, *properties: str) -> dict[str, Any]:
        """The first instance of a class, or {} when WMI cannot give it (logged)."""
        try:
            rows = self._wmi.query(class_name, properties)
        except OSError as err:
            log.warning("inventory: %s", err)
            return {}
        return rows[0] if rows else {}

    def _swap_mib(self) -> int | None:
        try:
            return int(self._ps.swap_memory().total // _MIB)
        except self._errors:  # performance counters disabled
            return None

    def hardware(self) -> dict[str, Any]:
        """Name, memory, swap, UUID, workgroup, last user, registered owner."""
        system = self._one("Win32_ComputerSystem", "Domain", "UserName", "Manufacturer", "Model")
        product = self._one("Win32_ComputerSystemProduct", "UUID")
        release = windows_release(self._registry)
        return {
            "name": socket.gethostname(),
            "memory": int(self._ps.virtual_memory().total // _MIB),
            "swap": self._swap_mib(),
            "uuid": product.get("UUID"),
            "workgroup": system.get("Domain"),
            "lastloggeduser": str(system.get("UserName", "")).rpartition("\\")[2],
            "winprodid": release.get("product_id"),
            "winowner": release.get("owner"),
            "wincompany": release.get("organization"),
            "vmsystem": vm_system(system.get("Manufacturer", ""), system.get("Model", "")),
        }

    def bios(self) -> dict[str, Any]:
        """Firmware, system and board identity."""
        bios = self._one(
            "Win32_BIOS", "Manufacturer", "SMBIOSBIOSVersion", "SerialNumber", "ReleaseDate"
        )
        system = self._one("Win32_ComputerSystem", "Manufacturer", "Model")
        board = self._one("Win32_BaseBoard", "Manufacturer", "Product", "SerialNumber")
        date = wmi_date(bios.get("ReleaseDate"))
        return {
            "bdate": date[:10] if date else None,
            "bmanufacturer": bios.get("Manufacturer"),
            "bversion": bios.get("SMBIOSBIOSVersion"),
            "ssn": str(bios.get("SerialNumber", "")).strip(),
            "smanufacturer": system.get("Manufacturer"),
            "smodel": system.get("Model"),
            "mmanufacturer": board.get("Manufacturer"),
            "mmodel": board.get("Product"),
            "msn": str(board.get("SerialNumber", "")).strip(),
        }

    def operatingsystem(self) -> dict[str, Any]:
        """Edition, release (22H2), build, install date, boot time."""
        system = self._one(
            "Win32_OperatingSystem",
            "Caption",
            "Version",
            "BuildNumber",
            "InstallDate",
            "OSArchitecture",
            "CSDVersion",
        )
        release = windows_release(self._registry)
        version = system.get("Version") or platform.version()
        if release.get("ubr"):
            version = f"{version}.{release['ubr']}"
        try:
            boot = datetime.fromtimestamp(self._ps.boot_time(), UTC).strftime("%Y-%m-%d %H:%M:%S")
        except self._errors:
            boot = None
        return {
            "name": "Windows",
            "full_name": str(system.get("Caption", "")).strip() or f"Windows {platform.release()}",
            "version": release.get("display_version") or platform.release(),
            "kernel_name": "MSWin32",
            "kernel_version": version,
            "service_pack": system.get("CSDVersion"),
            "arch": _OS_ARCH.get(str(system.get("OSArchitecture", "")).lower(), platform.machine()),
            "install_date": wmi_date(system.get("InstallDate")),
            "boot_time": boot,
            "fqdn": socket.getfqdn(),
        }

    def cpus(self) -> list[dict[str, Any]]:
        """Processors (one entry per socket)."""
        rows = self._wmi.query(
            "Win32_Processor",
            (
                "Name",
                "Manufacturer",
                "NumberOfCores",
                "NumberOfLogicalProcessors",
                "MaxClockSpeed",
                "ProcessorId",
                "Caption",
            ),
        )
        return [
            {
                "name": str(cpu.get("Name", "")).strip(),
                "manufacturer": _VENDORS.get(cpu.get("Manufacturer", ""), cpu.get("Manufacturer")),
                "core": _int(cpu.get("NumberOfCores")),
                "thread": _int(cpu.get("NumberOfLogicalProcessors")),
                "speed": _int(cpu.get("MaxClockSpeed")),
                "id": cpu.get("ProcessorId"),
                "description": cpu.get("Caption"),
                "arch": "x86_64" if platform.machine().endswith("64") else "i686",
            }
            for cpu in rows
        ]

    def memories(self) -> list[dict[str, Any]]:
        """Memory modules."""
        rows = self._wmi.query(
            "Win32_PhysicalMemory",
            ("Capacity", "DeviceLocator", "Speed", "Manufacturer", "SerialNumber", "PartNumber"),
        )
        return [
            {
                "capacity": _mib(m.get("Capacity")),
                "caption": m.get("DeviceLocator"),
                "speed": str(m.get("Speed") or ""),
                "manufacturer": m.get("Manufacturer"),
                "serialnumber": str(m.get("SerialNumber", "")).strip(),
                "model": str(m.get("PartNumber", "")).strip(),
                "numslots": i + 1,
            }
            for i, m in enumerate(rows)
        ]

    def storages(self) -> list[dict[str, Any]]:
        """Physical disks (sizes in MB, as GLPI's agents write them)."""
        rows = self._wmi.query(
            "Win32_DiskDrive",
            (
                "DeviceID",
                "Model",
                "SerialNumber",
                "FirmwareRevision",
                "Size",
                "InterfaceType",
                "Manufacturer",
            ),
        )
        return [
            {
                "name": _device_id(str(d.get("DeviceID", ""))),
                "model": d.get("Model"),
                "serial": str(d.get("SerialNumber", "")).strip(),
                "firmware": d.get("FirmwareRevision"),
                "disksize": (_int(d.get("Size")) or 0) // 10**6 or None,
                "interface": d.get("InterfaceType"),
                "manufacturer": d.get("Manufacturer"),
                "type": "disk",
            }
            for d in rows
        ]

    def drives(self) -> list[dict[str, Any]]:
        """Logical drives with letter, label and serial (sizes in MiB); psutil's view when
        WMI cannot answer."""
        try:
            rows = self._wmi.query(
                "Win32_LogicalDisk",
                (
                    "DeviceID",
                    "DriveType",
                    "FileSystem",
                    "Size",
                    "FreeSpace",
                    "VolumeName",
                    "VolumeSerialNumber",
                    "ProviderName",
                ),
            )
        except OSError as err:
            log.warning("inventory: %s; drives from psutil", err)
            return super().drives()
        return [
            {
                "letter": d.get("DeviceID"),
                "type": _DRIVE_TYPES.get(_int(d.get("DriveType")) or 0),
                "filesystem": d.get("FileSystem"),
                "total": _mib(d.get("Size")),
                "free": _mib(d.get("FreeSpace")),
                "label": d.get("VolumeName"),
                "serial": d.get("VolumeSerialNumber"),
                "volumn": d.get("ProviderName"),
            }
            for d in rows
        ]

    def networks(self) -> list[dict[str, Any]]:
        """Interfaces: psutil's (every platform), with gateway and DHCP server from WMI."""
        ports = super().networks()
        try:
            configs = self._wmi.query(
                "Win32_NetworkAdapterConfiguration",
                ("MACAddress", "DefaultIPGateway", "DHCPServer", "DHCPEnabled"),
            )
        except OSError as err:
            log.warning("inventory: %s", err)
            return ports
        by_mac = {str(c.get("MACAddress", "")).lower().replace("-", ":"): c for c in configs}
        for port in ports:
            config = by_mac.get(port.get("mac", ""), {})
            gateways = config.get("DefaultIPGateway") or []
            port["ipgateway"] = next((g for g in gateways if ":" not in g), None)
            port["ipdhcp"] = config.get("DHCPServer") if config.get("DHCPEnabled") else None
        return ports

    def softwares(self) -> list[dict[str, Any]]:
        """Programs of the Uninstall keys (machine-wide, 32-bit and per user)."""
        return installed_software(self._registry)

    def batteries(self) -> list[dict[str, Any]]:
        """Laptop batteries (capacities in mWh)."""
        rows = self._wmi.query(
            "Win32_Battery",
            (
                "Name",
                "Chemistry",
                "DesignCapacity",
                "FullChargeCapacity",
                "DeviceID",
                "DesignVoltage",
            ),
        )
        return [
            {
                "name": b.get("Name"),
                "chemistry": _CHEMISTRY.get(_int(b.get("Chemistry")) or 0),
                "capacity": _int(b.get("DesignCapacity")),
                "real_capacity": _int(b.get("FullChargeCapacity")),
                "serial": b.get("DeviceID"),
                "voltage": _int(b.get("DesignVoltage")),
            }
            for b in rows
        ]
