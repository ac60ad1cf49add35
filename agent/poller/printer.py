"""Printer-MIB (RFC 3805) supplies and page counter, and HOST-RESOURCES printer status."""

from __future__ import annotations

import re

from agent.poller.snmp import Row, SnmpSession, text
from protocol.lineproto import FieldValue, Point

SUPPLIES = "1.3.6.1.2.1.43.11.1.1"
SUPPLY_COLUMNS = {
    "colorant": f"{SUPPLIES}.3",
    "class": f"{SUPPLIES}.4",
    "type": f"{SUPPLIES}.5",
    "descr": f"{SUPPLIES}.6",
    "unit": f"{SUPPLIES}.7",
    "max": f"{SUPPLIES}.8",
    "level": f"{SUPPLIES}.9",
}
COLORANT_VALUE = "1.3.6.1.2.1.43.12.1.1.4"
LIFE_COUNT = "1.3.6.1.2.1.43.10.2.1.4"  # prtMarkerLifeCount
PRINTER_STATUS = "1.3.6.1.2.1.25.3.5.1.1"  # hrPrinterStatus
PRINTER_ERRORS = "1.3.6.1.2.1.25.3.5.1.2"  # hrPrinterDetectedErrorState (BITS)

SUPPLY_TYPES = {
    1: "other", 2: "unknown", 3: "toner", 4: "waste_toner", 5: "ink", 6: "ink_cartridge",
    7: "ink_ribbon", 8: "waste_ink", 9: "opc", 10: "developer", 11: "fuser_oil",
    12: "solid_wax", 13: "ribbon_wax", 14: "waste_wax", 15: "fuser", 16: "corona_wire",
    17: "fuser_oil_wick", 18: "cleaner_unit", 19: "fuser_cleaning_pad", 20: "transfer_unit",
    21: "toner_cartridge", 22: "fuser_oiler", 23: "water", 24: "waste_water",
    25: "glue_water_additive", 26: "waste_paper", 27: "binding_supply", 28: "banding_supply",
    29: "stitching_wire", 30: "shrink_wrap", 31: "paper_wrap", 32: "staples", 33: "inserts",
    34: "covers",
}  # fmt: skip
# hrPrinterDetectedErrorState bit names, most significant bit of the first octet first.
ERROR_BITS = (
    "low_paper", "no_paper", "low_toner", "no_toner", "door_open", "jammed", "offline",
    "service_requested", "input_tray_missing", "output_tray_missing", "marker_supply_missing",
    "output_near_full", "output_full", "input_tray_empty", "overdue_prevent_maint",
)  # fmt: skip
# Printer-MIB sentinels of prtMarkerSuppliesLevel / MaxCapacity.
UNRESTRICTED, UNKNOWN, SOME_REMAINING = -1, -2, -3


# Part and serial numbers that copiers put in a supply's description ("Black Toner, PN
# 006R01509;SN4817B1C2D3" on Xerox): they change with every cartridge, the series must not.
_PART_OR_SERIAL = re.compile(
    r"[,;]?\s*\b(?:PN|P/N|Part\s*(?:No\.?|Number)|SN|S/N|Serial\s*(?:No\.?|Number)?)"
    r"(?:\s*[:#]\s*|\s+|(?=\d))[A-Za-z0-9][\w.-]*",
    re.IGNORECASE,
)


def supply_name(descr: str) -> str:
    """A supply's name without the part and serial numbers of the cartridge in place."""
    return _PART_OR_SERIAL.sub("", descr).strip(" ,;") or descr


def supply_fields(row: Row) -> dict[str, FieldValue]:
    """`level`, `max_capacity` and `percent` when known; `state` says why one is missing:
    0 measured, -1 unrestricted, -2 unknown, -3 some remaining (the Printer-MIB sentinels)."""
    level, capacity = row.get("level"), row.get("max")
    fields: dict[str, FieldValue] = {}
    if isinstance(capacity, int) and capacity > 0:
        fields["max_capacity"] = capacity
    if isinstance(level, int) and level >= 0:
        fields["level"] = level
        if "max_capacity" in fields:
            fields["percent"] = min(100.0, 100.0 * level / capacity)  # type: ignore[operator]
        fields["state"] = 0
    else:
        fields["state"] = level if level in (UNRESTRICTED, UNKNOWN, SOME_REMAINING) else UNKNOWN
    return fields


def supply_points(rows: dict[str, Row], now: int) -> list[Point]:
    """`printer_supply` per supply (tag `supply`: its description, `type`)."""
    points = []
    seen: set[str] = set()
    for index, row in rows.items():
        name = supply_name(text(row.get("descr"))) or f"supply {index}"
        if name in seen:  # two "Black Toner" on one device stay two series
            name = f"{name} #{index}"
        seen.add(name)
        kind = row.get("type")
        tags = {
            "supply": name,
            "type": SUPPLY_TYPES.get(kind, "other") if isinstance(kind, int) else "other",
        }
        points.append(Point("printer_supply", tags, supply_fields(row), now))
    return points


def error_names(bits: bytes) -> list[str]:
    """Names of the set bits of hrPrinterDetectedErrorState."""
    names = []
    for position, name in enumerate(ERROR_BITS):
        octet = position // 8
        if octet < len(bits) and bits[octet] & (0x80 >> (position % 8)):
            names.append(name)
    return names


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """Supplies, and `printer` with `page_count`, `status` (hrPrinterStatus), `errors`."""
    points = supply_points(await session.walk(SUPPLY_COLUMNS), now)
    fields: dict[str, FieldValue] = {}
    counts = [
        v
        for r in (await session.walk({"count": LIFE_COUNT})).values()
        if isinstance(v := r.get("count"), int)
    ]
    if counts:
        fields["page_count"] = sum(counts)
    state = await session.walk({"status": PRINTER_STATUS, "errors": PRINTER_ERRORS})
    if state:
        first = state[min(state, key=lambda i: tuple(map(int, i.split("."))))]
        status = first.get("status")
        if isinstance(status, int):
            fields["status"] = status
        errors = first.get("errors")
        if isinstance(errors, bytes):
            names = error_names(errors)
            fields["error_count"] = len(names)
            fields["errors"] = ",".join(names)
    if fields:
        points.append(Point("printer", {}, fields, now))
    return points
