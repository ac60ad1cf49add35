"""UPS-MIB (RFC 1628), with Eaton's XUPS-MIB as the fallback for UPSes that lack it."""

from __future__ import annotations

from agent.poller.snmp import SnmpError, SnmpSession, integers
from protocol.lineproto import FieldValue, Point

UPS = "1.3.6.1.2.1.33.1"
RFC1628 = {
    "battery_status": f"{UPS}.2.1.0",
    "on_battery_seconds": f"{UPS}.2.2.0",
    "runtime_minutes": f"{UPS}.2.3.0",
    "charge_percent": f"{UPS}.2.4.0",
    "battery_voltage": f"{UPS}.2.5.0",  # 0.1 V
    "battery_temperature": f"{UPS}.2.7.0",
    "input_line_bads": f"{UPS}.3.1.0",
    "output_source": f"{UPS}.4.1.0",
    "alarms": f"{UPS}.6.1.0",
    "test_result": f"{UPS}.7.3.0",
}
RFC1628_INPUT_VOLTAGE = f"{UPS}.3.3.1.3"
RFC1628_OUTPUT_VOLTAGE = f"{UPS}.4.4.1.2"
RFC1628_OUTPUT_LOAD = f"{UPS}.4.4.1.5"

XUPS = "1.3.6.1.4.1.534.1"
XUPS_SCALARS = {
    "runtime_seconds": f"{XUPS}.2.1.0",
    "battery_voltage": f"{XUPS}.2.2.0",  # V
    "charge_percent": f"{XUPS}.2.4.0",
    "abm_status": f"{XUPS}.2.5.0",
    "input_line_bads": f"{XUPS}.3.2.0",
    "load_percent": f"{XUPS}.4.1.0",
    "output_source": f"{XUPS}.4.5.0",
    # xupsEnvAmbientTemp: the room's temperature, not the battery's (XUPS-MIB has none of the
    # battery; the card's RFC 1628 upsBatteryTemperature is read for that where answered).
    "ambient_temperature": f"{XUPS}.6.1.0",
    "alarms": f"{XUPS}.7.1.0",
    "test_status": f"{XUPS}.8.2.0",
}
XUPS_INPUT_VOLTAGE = f"{XUPS}.3.4.1.2"
XUPS_OUTPUT_VOLTAGE = f"{XUPS}.4.4.1.2"

# RFC 1628 codes the rest of Vigie reads (rules, pages).
BATTERY_NORMAL, BATTERY_LOW = 2, 3
SOURCE_BATTERY = 5
TEST_PASS, TEST_ERROR = 1, 3
# xupsTestBatteryStatus -> upsTestResultsSummary
_XUPS_TEST = {1: 6, 2: TEST_PASS, 3: TEST_ERROR, 4: 5, 5: 6, 6: 4, 7: 6}
# xupsBatteryAbmStatus discharging(2) is the only state that means the UPS runs on battery.
_XUPS_DISCHARGING = 2


async def _column_mean(session: SnmpSession, oid: str) -> float | None:
    readings = [
        v for r in (await session.walk({"v": oid})).values() if isinstance(v := r.get("v"), int)
    ]
    return sum(readings) / len(readings) if readings else None


async def _rfc1628(session: SnmpSession) -> dict[str, FieldValue]:
    values = integers(await session.get(*RFC1628.values()), RFC1628)
    if "battery_status" not in values and "output_source" not in values:
        return {}
    fields: dict[str, FieldValue] = dict(values)
    if "battery_voltage" in values:
        fields["battery_voltage"] = values["battery_voltage"] / 10
    for name, oid in (
        ("input_voltage", RFC1628_INPUT_VOLTAGE),
        ("output_voltage", RFC1628_OUTPUT_VOLTAGE),
        ("load_percent", RFC1628_OUTPUT_LOAD),
    ):
        mean = await _column_mean(session, oid)
        if mean is not None:
            fields[name] = mean
    return fields


async def _xups(session: SnmpSession) -> dict[str, FieldValue]:
    values = integers(await session.get(*XUPS_SCALARS.values()), XUPS_SCALARS)
    if not values:
        return {}
    fields: dict[str, FieldValue] = {
        k: v for k, v in values.items() if k not in ("runtime_seconds", "test_status")
    }
    # Same field types as RFC 1628's (InfluxDB refuses a field that changes type).
    for name in ("battery_voltage", "load_percent"):
        if name in values:
            fields[name] = float(values[name])
    if "runtime_seconds" in values:
        fields["runtime_minutes"] = values["runtime_seconds"] // 60
    if "test_status" in values:
        fields["test_result"] = _XUPS_TEST.get(values["test_status"], 6)
    if (
        values.get("output_source") == SOURCE_BATTERY
        or values.get("abm_status") == _XUPS_DISCHARGING
    ):
        fields["output_source"] = SOURCE_BATTERY
    battery = integers(await session.get(RFC1628["battery_temperature"]), RFC1628)
    fields.update(battery)
    for name, oid in (
        ("input_voltage", XUPS_INPUT_VOLTAGE),
        ("output_voltage", XUPS_OUTPUT_VOLTAGE),
    ):
        mean = await _column_mean(session, oid)
        if mean is not None:
            fields[name] = mean
    return fields


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """One `ups` point with the RFC 1628 field names, from whichever MIB the UPS speaks."""
    fields = await _rfc1628(session)
    mib = "rfc1628"
    if not fields:
        fields, mib = await _xups(session), "xups"
    if not fields:
        raise SnmpError("neither UPS-MIB (RFC 1628) nor Eaton XUPS-MIB answered")
    return [Point("ups", {"mib": mib}, fields, now)]
