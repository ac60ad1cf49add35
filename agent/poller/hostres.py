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
FIXED_DISK = f"{HR_STORAGE_TYPES}.4"
RAM = f"{HR_STORAGE_TYPES}.2"
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


def storage_points(rows: dict[str, Row], now: int, ram: bool = True) -> list[Point]:
    """`disk` for fixed disks, and `mem` from the RAM row when `ram`."""
    points = []
    for row in rows.values():
        kind = row.get("type")
        sizes = storage_bytes(row)
        if sizes is None:
            continue
        total, used = sizes
        if kind == FIXED_DISK and total > 0:
            fields = {
                "total": total,
                "used": used,
                "free": total - used,
                "used_percent": percent(used, total),
            }
            points.append(
                Point("disk", {"path": storage_path(text(row.get("descr")))}, fields, now)
            )
        elif ram and kind == RAM and total > 0:
            fields = {"total": total, "used": used, "used_percent": percent(used, total)}
            points.append(Point("mem", {}, fields, now))
    return points


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """Disks, processor load, memory (UCD's when the device has it, it knows the page cache;
    else hrStorage's RAM row) and load averages."""
    ucd = await collect_ucd(session, now)
    has_mem = any(p.measurement == "mem" for p in ucd)
    storage = storage_points(await session.walk(STORAGE_COLUMNS), now, ram=not has_mem)
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
