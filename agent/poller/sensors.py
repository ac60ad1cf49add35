"""ENTITY-SENSOR-MIB (RFC 3433): temperatures, fans, voltages of switches and routers."""

from __future__ import annotations

from agent.poller.snmp import Row, SnmpSession, text
from protocol.lineproto import Point

SENSOR_TABLE = "1.3.6.1.2.1.99.1.1.1"
SENSOR_COLUMNS = {
    "type": f"{SENSOR_TABLE}.1",
    "scale": f"{SENSOR_TABLE}.2",
    "precision": f"{SENSOR_TABLE}.3",
    "value": f"{SENSOR_TABLE}.4",
    "status": f"{SENSOR_TABLE}.5",
}
ENT_PHYSICAL_NAME = "1.3.6.1.2.1.47.1.1.1.1.7"

# EntitySensorDataScale -> power of ten (the MIB lists exa before peta).
SCALE_EXPONENT = {
    1: -24, 2: -21, 3: -18, 4: -15, 5: -12, 6: -9, 7: -6, 8: -3, 9: 0,
    10: 3, 11: 6, 12: 9, 13: 12, 14: 18, 15: 15, 16: 21, 17: 24,
}  # fmt: skip
SENSOR_TYPES = {
    1: "other", 2: "unknown", 3: "volts_ac", 4: "volts_dc", 5: "amperes", 6: "watts",
    7: "hertz", 8: "celsius", 9: "percent_rh", 10: "rpm", 11: "cmm", 12: "truthvalue",
}  # fmt: skip
_OK = 1  # entPhySensorOperStatus ok(1); unavailable(2) and nonoperational(3) carry no value


def sensor_value(row: Row) -> float | None:
    """The reading in units: value × 10^scale / 10^precision; None when not operational."""
    value, scale, precision = row.get("value"), row.get("scale"), row.get("precision")
    if not isinstance(value, int) or row.get("status", _OK) != _OK:
        return None
    exponent = SCALE_EXPONENT.get(scale if isinstance(scale, int) else 9, 0)
    places = precision if isinstance(precision, int) and 0 <= precision <= 9 else 0
    return value * 10.0**exponent / 10.0**places


def sensor_points(rows: dict[str, Row], names: dict[str, Row], now: int) -> list[Point]:
    """`temp` (tag `sensor`, field `temp`, Telegraf's names) for Celsius sensors; `sensor`
    (tags `sensor` and `unit`, field `value`) for the others."""
    points = []
    for index, row in rows.items():
        reading = sensor_value(row)
        if reading is None:
            continue
        name = text(names.get(index, {}).get("name")) or f"sensor{index}"
        kind = SENSOR_TYPES.get(row.get("type") if isinstance(row.get("type"), int) else 1, "other")  # type: ignore[arg-type]
        if kind == "celsius":
            points.append(Point("temp", {"sensor": name}, {"temp": reading}, now))
        else:
            points.append(Point("sensor", {"sensor": name, "unit": kind}, {"value": reading}, now))
    return points


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """Every operational entity sensor, named by entPhysicalName."""
    rows = await session.walk(SENSOR_COLUMNS)
    if not rows:
        return []
    names = await session.walk({"name": ENT_PHYSICAL_NAME})
    return sensor_points(rows, names, now)
