"""IF-MIB: per-interface traffic, errors, status and speed; 64-bit counters when present."""

from __future__ import annotations

from agent.poller.snmp import Row, SnmpSession, text
from protocol.lineproto import FieldValue, Point

IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1"

IF_COLUMNS = {
    "descr": f"{IF_TABLE}.2",
    "type": f"{IF_TABLE}.3",
    "mtu": f"{IF_TABLE}.4",
    "speed": f"{IF_TABLE}.5",
    "phys": f"{IF_TABLE}.6",
    "admin": f"{IF_TABLE}.7",
    "oper": f"{IF_TABLE}.8",
    "last_change": f"{IF_TABLE}.9",
    "in_octets": f"{IF_TABLE}.10",
    "in_discards": f"{IF_TABLE}.13",
    "in_errors": f"{IF_TABLE}.14",
    "out_octets": f"{IF_TABLE}.16",
    "out_discards": f"{IF_TABLE}.19",
    "out_errors": f"{IF_TABLE}.20",
}
IF_X_COLUMNS = {
    "name": f"{IF_X_TABLE}.1",
    "hc_in_octets": f"{IF_X_TABLE}.6",
    "hc_out_octets": f"{IF_X_TABLE}.10",
    "high_speed": f"{IF_X_TABLE}.15",
    "alias": f"{IF_X_TABLE}.18",
}
_COUNTERS = ("in_errors", "out_errors", "in_discards", "out_discards")
_SPEED_SATURATED = 4294967295  # ifSpeed's ceiling: the real speed is in ifHighSpeed


async def interface_rows(session: SnmpSession) -> dict[str, Row]:
    """ifTable joined with ifXTable by ifIndex (ifXTable may be absent)."""
    rows = await session.walk(IF_COLUMNS)
    for index, extra in (await session.walk(IF_X_COLUMNS)).items():
        if index in rows:
            rows[index].update(extra)
    return rows


def interface_names(rows: dict[str, Row]) -> dict[str, str]:
    """The `ifname` tag of each row: ifName, else ifDescr; made unique with the ifIndex."""
    names = {i: text(r.get("name")) or text(r.get("descr")) or f"if{i}" for i, r in rows.items()}
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    return {i: (n if seen[n] == 1 else f"{n}#{i}") for i, n in names.items()}


def speed_bits(row: Row) -> int | None:
    """Speed in bit/s: ifHighSpeed (Mbit/s) when ifSpeed is saturated or absent."""
    speed, high = row.get("speed"), row.get("high_speed")
    if (
        isinstance(high, int)
        and high > 0
        and (not isinstance(speed, int) or speed >= _SPEED_SATURATED)
    ):
        return high * 1_000_000
    return speed if isinstance(speed, int) else None


def interface_points(rows: dict[str, Row], now: int) -> list[Point]:
    """One `interface` point per row."""
    points = []
    for index, name in interface_names(rows).items():
        row = rows[index]
        fields: dict[str, FieldValue] = {}
        for direction in ("in", "out"):
            wide, narrow = row.get(f"hc_{direction}_octets"), row.get(f"{direction}_octets")
            octets = wide if isinstance(wide, int) else narrow
            if isinstance(octets, int):
                fields[f"{direction}_octets"] = octets
        for key in _COUNTERS:
            value = row.get(key)
            if isinstance(value, int):
                fields[key] = value
        for key, field in (("oper", "oper_status"), ("admin", "admin_status"), ("type", "type")):
            value = row.get(key)
            if isinstance(value, int):
                fields[field] = value
        speed = speed_bits(row)
        if speed is not None:
            fields["speed"] = speed
        last = row.get("last_change")
        if isinstance(last, int):
            fields["last_change"] = last // 100
        points.append(Point("interface", {"ifname": name}, fields, now))
    return points


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """`interface` points for every row of ifTable."""
    return interface_points(await interface_rows(session), now)
