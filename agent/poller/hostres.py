"""HOST-RESOURCES-MIB storage (disks and RAM) and processor load, and UCD-SNMP-MIB memory and
load averages on net-snmp devices (NAS, Linux boxes)."""

from __future__ import annotations

import re

from agent.collectors.base import percent
from agent.poller.snmp import Row, SnmpSession, number, text
from protocol.lineproto import Point

HR_STORAGE = "1.3.6.1.2.1.25.2.3.1"
STORAGE_COLUMNS = {
    "type": f"{HR_STORAGE}.2",
    "descr": f"{HR_STORAGE}.3",
    "units": f"{HR_STORAGE}.4",
    "size": f"{HR_STORAGE}.5",
    "used": f"{HR_STORAGE}.6",
}
HR_STORAGE_TYPES = "1.3.6.1.2.1.25.2.1"
OTHER, RAM, VIRTUAL_MEMORY, FIXED_DISK = (f"{HR_STORAGE_TYPES}.{n}" for n in (1, 2, 3, 4))
# BSD agents (pfSense's bsnmpd) type a file system's storage row with its hrFSTypes entry.
HR_FS_TYPES = "1.3.6.1.2.1.25.3.9"
FS_OTHER = f"{HR_FS_TYPES}.1"  # devfs, fdescfs, procfs...
HR_FS = "1.3.6.1.2.1.25.3.8.1"
FS_COLUMNS = {"mount": f"{HR_FS}.2", "type": f"{HR_FS}.4", "storage": f"{HR_FS}.7"}
# Mounts that hold no user data, whatever their type says (tmpfs, devfs, cgroups, run files).
_PSEUDO_MOUNT = re.compile(r"^/(dev|proc|sys|run|var/run)(/|$)|/dev$")
PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2"

UCD_MEMORY = "1.3.6.1.4.1.2021.4"
UCD_MEM = {
    "swap_total": f"{UCD_MEMORY}.3.0",
    "swap_avail": f"{UCD_MEMORY}.4.0",
    "total": f"{UCD_MEMORY}.5.0",
    "avail": f"{UCD_MEMORY}.6.0",
    "buffered": f"{UCD_MEMORY}.14.0",
    "cached": f"{UCD_MEMORY}.15.0",
}
UCD_LOAD = "1.3.6.1.4.1.2021.10.1.3"  # laLoad.1/2/3: "0.15" as strings

# Windows: "C:\ Label:  Serial Number 1848504c" -> "C:"
_WINDOWS_DRIVE = re.compile(r"^([A-Za-z]:)\\")


def storage_path(descr: str) -> str:
    """The `path` tag of a storage row: a Windows drive letter alone, else the description."""
    found = _WINDOWS_DRIVE.match(descr)
    return found.group(1) if found else descr


def storage_bytes(row: Row) -> tuple[int, int] | None:
    """(total, used) in bytes from allocation units; None when the row is unusable."""
    units, size, used = number(row.get("units")), number(row.get("size")), number(row.get("used"))
    if units is None or size is None or used is None or units <= 0 or size < 0:
        return None
    # hrStorageSize is an Integer32 that some agents overflow for big disks.
    size, used = size % 2**32, used % 2**32
    return units * size, units * used


def is_pseudo_mount(path: str) -> bool:
    """A mount that holds no user data (devfs, tmpfs on /dev/shm or /run, cgroups)."""
    return bool(_PSEUDO_MOUNT.search(path))


def is_disk(row: Row, fs_types: dict[str, str]) -> bool:
    """A storage row that is a file system holding data: hrStorageFixedDisk, or (BSD) a row
    typed with a real hrFSTypes entry; the hrFSTable's type where it names the row; never
    pseudo mounts (devfs, tmpfs on /dev/shm or /run, cgroups)."""
    kind = fs_types.get(str(row.get("index", "")), text(row.get("type")))
    if is_pseudo_mount(text(row.get("descr"))):
        return False
    return kind == FIXED_DISK or (kind.startswith(HR_FS_TYPES + ".") and kind != FS_OTHER)


def memory_point(rows: list[Row], now: int) -> Point | None:
    """One `mem` point from HOST-RESOURCES: the "Physical memory" row (else the largest RAM
    row: tmpfs mounts are RAM-typed too), minus the "Memory buffers" and "Cached memory"
    rows where the device gives them, as `free` counts them available."""
    ram = [r for r in rows if r.get("type") == RAM and storage_bytes(r)]
    named = {text(r.get("descr")).lower(): r for r in rows}
    physical = named.get("physical memory") or max(
        ram, key=lambda r: (storage_bytes(r) or (0, 0))[0], default=None
    )
    sizes = storage_bytes(physical) if physical else None
    if not sizes or sizes[0] <= 0:
        return None
    total, used = sizes
    for name in ("memory buffers", "cached memory"):
        part = storage_bytes(named[name]) if name in named else None
        used -= part[1] if part else 0
    used = max(0, min(used, total))
    fields = {
        "total": total,
        "used": used,
        "available": total - used,
        "used_percent": percent(used, total),
        "available_percent": percent(total - used, total),
    }
    return Point("mem", {}, fields, now)


def storage_points(
    rows: dict[str, Row], now: int, ram: bool = True, fs_types: dict[str, str] | None = None
) -> list[Point]:
    """`disk` for each file system holding data, and one `mem` from the memory rows when
    `ram`. `fs_types`: hrStorage index -> hrFSType, from the hrFSTable."""
    points = []
    for index, row in rows.items():
        sizes = storage_bytes(row)
        if sizes is None or sizes[0] <= 0 or not is_disk({**row, "index": index}, fs_types or {}):
            continue
        total, used = sizes
        fields = {
            "total": total,
            "used": used,
            "free": total - used,
            "used_percent": percent(used, total),
        }
        points.append(Point("disk", {"path": storage_path(text(row.get("descr")))}, fields, now))
    memory = memory_point(list(rows.values()), now) if ram else None
    return points + ([memory] if memory else [])


async def file_system_types(session: SnmpSession, rows: dict[str, Row]) -> dict[str, str]:
    """hrStorage index -> hrFSType, read only when some rows are neither memory nor fixed
    disk (BSD agents): a walk fewer for the common device."""
    known = (OTHER, RAM, VIRTUAL_MEMORY, FIXED_DISK)
    if all(text(r.get("type")) in known for r in rows.values()):
        return {}
    return {
        str(number(r.get("storage"))): text(r.get("type"))
        for r in (await session.walk(FS_COLUMNS)).values()
        if number(r.get("storage"))
    }


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """Disks, processor load, memory (UCD's when the device has it, it knows the page cache;
    else hrStorage's RAM row) and load averages."""
    ucd = await collect_ucd(session, now)
    has_mem = any(p.measurement == "mem" for p in ucd)
    rows = await session.walk(STORAGE_COLUMNS)
    fs_types = await file_system_types(session, rows)
    storage = storage_points(rows, now, ram=not has_mem, fs_types=fs_types)
    return storage + await collect_processors(session, now) + ucd


async def collect_processors(session: SnmpSession, now: int) -> list[Point]:
    """`cpu` (cpu-total) `usage_active`: the mean of hrProcessorLoad over processors."""
    loads = [
        v
        for row in (await session.walk({"load": PROCESSOR_LOAD})).values()
        if isinstance(v := row.get("load"), int)
    ]
    if not loads:
        return []
    return [Point("cpu", {"cpu": "cpu-total"}, {"usage_active": sum(loads) / len(loads)}, now)]


async def collect_ucd(session: SnmpSession, now: int) -> list[Point]:
    """`mem` (bytes, from kB) and `system` load averages from UCD-SNMP-MIB, when present."""
    points = []
    values = await session.get(*UCD_MEM.values())
    kb = {name: number(values.get(oid)) for name, oid in UCD_MEM.items()}
    total, avail = kb["total"], kb["avail"]
    if total and avail is not None:
        # Like `free`: buffers and page cache count as available.
        available = avail + (kb["buffered"] or 0) + (kb["cached"] or 0)
        available = min(available, total)
        points.append(
            Point(
                "mem",
                {},
                {
                    "total": total * 1024,
                    "available": available * 1024,
                    "used": (total - available) * 1024,
                    "used_percent": percent(total - available, total),
                    "available_percent": percent(available, total),
                },
                now,
            )
        )
    swap_total, swap_avail = kb["swap_total"], kb["swap_avail"]
    if swap_total and swap_avail is not None:
        used = swap_total - swap_avail
        fields = {"total": swap_total * 1024, "used": used * 1024, "free": swap_avail * 1024}
        points.append(Point("swap", {}, {**fields, "used_percent": percent(used, swap_total)}, now))
    loads = await session.walk({"load": UCD_LOAD})
    averages: dict[str, float] = {}
    for index, name in (("1", "load1"), ("2", "load5"), ("3", "load15")):
        raw = text(loads.get(index, {}).get("load"))
        try:
            averages[name] = float(raw)
        except ValueError:
            continue
    if averages:
        points.append(Point("system", {}, dict(averages), now))
    return points
