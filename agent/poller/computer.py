"""A computer read over SNMP (Windows' SNMP service, when no agent can be installed): the GLPI
`Computer` sections that HOST-RESOURCES-MIB answers — system, processors, memory, drives and
installed software (hrSWInstalledTable)."""

from __future__ import annotations

import re
from typing import Any

from agent.poller import hostres
from agent.poller.snmp import SnmpSession, Value, number, text

HR_MEMORY_SIZE = "1.3.6.1.2.1.25.2.2.0"  # KB
HR_DEVICE = "1.3.6.1.2.1.25.3.2.1"
DEVICE_COLUMNS = {"type": f"{HR_DEVICE}.2", "descr": f"{HR_DEVICE}.3"}
HR_PROCESSOR = "1.3.6.1.2.1.25.3.1.3"
HR_SW_INSTALLED = "1.3.6.1.2.1.25.6.3.1"
SOFTWARE_COLUMNS = {"name": f"{HR_SW_INSTALLED}.2", "type": f"{HR_SW_INSTALLED}.4",
                    "date": f"{HR_SW_INSTALLED}.5"}  # fmt: skip
_OPERATING_SYSTEM = 2  # hrSWInstalledType: unknown, operatingSystem, deviceDriver, application
# "Hardware: Intel64 Family 6 ... - Software: Windows Version 6.3 (Build 17763 Multiprocessor
# Free)": what Windows' SNMP service says of itself.
_WINDOWS_DESCR = re.compile(r"Software:\s*(?P<name>.*?)\s+Version\s+(?P<version>[\d.]+)"
                            r"\s*\(Build\s+(?P<build>\d+)")  # fmt: skip
# Windows names a program "name version" and sometimes its build after ("7-Zip 23.01 (x64)").
_TRAILING_VERSION = re.compile(
    r"^(?P<name>.+?)\s+v?(?P<version>\d+(?:\.\d+)+[\w.-]*)(?:\s+\((?P<arch>x64|x86)\))?$"
)
_ARCH = {"x64": "x86_64", "x86": "i386"}


def operating_system(descr: str) -> dict[str, str]:
    """GLPI `operatingsystem` from a Windows sysDescr (empty for another system)."""
    found = _WINDOWS_DESCR.search(descr)
    if found is None:
        return {}
    version, build = found["version"], found["build"]
    return {
        "name": "Windows",
        "version": version,
        "kernel_name": "MSWin32",
        "kernel_version": f"{version}.{build}",
        "full_name": f"Windows {version} (build {build})",
    }


def install_date(value: Value) -> str:
    """YYYY-MM-DD from an SNMP DateAndTime ("" when absent or not a date)."""
    if not isinstance(value, bytes) or len(value) < 4:
        return ""
    year, month, day = value[0] * 256 + value[1], value[2], value[3]
    if not (1980 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return ""
    return f"{year:04d}-{month:02d}-{day:02d}"


def software(row: dict[str, Value]) -> dict[str, str] | None:
    """A GLPI `softwares` entry, the version split from the name where Windows appended it."""
    name = text(row.get("name"))
    if not name:
        return None
    entry = {"name": name}
    found = _TRAILING_VERSION.match(name)
    if found:
        entry = {"name": found["name"], "version": found["version"]}
        if found["arch"]:
            entry["arch"] = _ARCH[found["arch"]]
    date = install_date(row.get("date"))
    if date:
        entry["install_date"] = date
    return entry


def drive(row: dict[str, Value]) -> dict[str, Any] | None:
    """A GLPI `drives` entry from an hrStorage row of a drive letter (None for the rest)."""
    descr = text(row.get("descr"))
    letter = hostres.storage_path(descr)
    sizes = hostres.storage_bytes(row)
    if letter == descr or sizes is None or not hostres.is_disk(row, {}):
        return None
    total, used = sizes
    entry: dict[str, Any] = {"letter": letter, "total": total >> 20, "free": (total - used) >> 20}
    label = re.search(r"Label:(.*?)\s+Serial Number\s+(\w+)", descr)
    if label:
        entry.update(label=label[1].strip(), serial=label[2])
    return entry


async def computer_sections(session: SnmpSession, descr: str, name: str) -> dict[str, Any]:
    """The Computer sections of a GLPI document for a host answering HOST-RESOURCES."""
    memory = number((await session.get(HR_MEMORY_SIZE)).get(HR_MEMORY_SIZE))
    devices = (await session.walk(DEVICE_COLUMNS)).values()
    cpus = [{"name": text(d.get("descr"))} for d in devices if d.get("type") == HR_PROCESSOR]
    storage = (await session.walk(hostres.STORAGE_COLUMNS)).values()
    drives = [d for row in storage if (d := drive(row))]
    rows = (await session.walk(SOFTWARE_COLUMNS)).values()
    softwares = [
        s for r in rows if number(r.get("type")) != _OPERATING_SYSTEM and (s := software(r))
    ]
    hardware: dict[str, Any] = {"name": name, "description": descr}
    if memory:
        hardware["memory"] = memory // 1024
    return {
        "hardware": hardware,
        "operatingsystem": operating_system(descr),
        "cpus": [c for c in cpus if c["name"]],
        "drives": drives,
        "softwares": softwares,
    }
