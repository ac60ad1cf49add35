"""UPS-MIB (RFC 1628), with Eaton's XUPS-MIB, APC's PowerNet-MIB, CyberPower's CPS-MIB and
Socomec's NET VISION MIB as the fallbacks for UPSes that lack it, all read into RFC 1628's
field names and codes (tag `mib` says which)."""

from __future__ import annotations

from typing import NamedTuple

from agent.poller.snmp import SnmpError, SnmpSession, integers, text
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


class VendorUps(NamedTuple):
    """A vendor MIB laid out like APC's PowerNet-MIB (CyberPower's CPS-MIB copies it): the
    OIDs of what Vigie reads, which plain readings are in tenths, and the vendor's output
    status codes as RFC 1628's upsOutputSource."""

    oids: dict[str, str]
    test_date: str
    sources: dict[int, int]
    in_tenths: frozenset[str] = frozenset()


def _laid_out_like_apc(base: str) -> dict[str, str]:
    """The OIDs both MIBs put at the same place under their base."""
    return {
        "battery_status": f"{base}.2.1.1.0",  # unknown, normal, low(, inFaultCondition)
        "charge": f"{base}.2.2.1.0",  # %
        "charge_tenths": f"{base}.2.3.1.0",  # APC high precision
        "input": f"{base}.3.2.1.0",
        "input_tenths": f"{base}.3.3.1.0",
        "output_status": f"{base}.4.1.1.0",
        "output": f"{base}.4.2.1.0",
        "output_tenths": f"{base}.4.3.1.0",
        "load": f"{base}.4.2.3.0",  # %
        "load_tenths": f"{base}.4.3.3.0",
        "test": f"{base}.7.2.3.0",  # ok, failed, invalidTest, testInProgress
    }


POWERNET = "1.3.6.1.4.1.318.1.1.1"
CPS = "1.3.6.1.4.1.3808.1.1.1"
VENDORS = {
    # APC: upsBasicOutputStatus onLine, ecoMode, hotStandby -> normal; onBattery and
    # onBatteryTest -> battery; onSmartBoost booster; onSmartTrim reducer; the bypasses
    # bypass; off, sleeping, rebooting -> none.
    "powernet": VendorUps(
        {**_laid_out_like_apc(POWERNET), "temperature": f"{POWERNET}.2.2.2.0",
         "temperature_tenths": f"{POWERNET}.2.3.2.0", "runtime_ticks": f"{POWERNET}.2.2.3.0",
         "replace": f"{POWERNET}.2.2.4.0"},
        f"{POWERNET}.7.2.4.0",
        {2: 3, 13: 3, 14: 3, 3: SOURCE_BATTERY, 15: SOURCE_BATTERY, 4: 6, 12: 7, 6: 4, 9: 4,
         10: 4, 5: 2, 7: 2, 8: 2, 11: 2},
    ),
    # CyberPower: upsBaseOutputStatus onLine, onECO, onOverload -> normal; onBattery;
    # onBoost; onBuck -> reducer; onBypass; onSleep, off, rebooting -> none. Its line
    # voltages are in tenths of a volt.
    "cps": VendorUps(
        {**_laid_out_like_apc(CPS), "temperature": f"{CPS}.2.2.3.0",
         "runtime_ticks": f"{CPS}.2.2.4.0", "replace": f"{CPS}.2.2.5.0"},
        f"{CPS}.7.2.4.0",
        {2: 3, 8: 3, 11: 3, 3: SOURCE_BATTERY, 4: 6, 10: 7, 9: 4, 5: 2, 6: 2, 7: 2},
        frozenset({"input", "output"}),
    ),
}  # fmt: skip
# upsAdvTestDiagnosticsResults -> upsTestResultsSummary: ok, failed, invalidTest (could not
# run: not a failure, an aborted test), testInProgress.
_VENDOR_TEST = {1: TEST_PASS, 2: TEST_ERROR, 3: 4, 4: 5}


def _precise(values: dict[str, int], name: str, in_tenths: frozenset[str]) -> float | None:
    """The high-precision reading (tenths) where the card gives it, else the plain one."""
    if values.get(f"{name}_tenths", -1) >= 0:
        return values[f"{name}_tenths"] / 10
    if values.get(name, -1) < 0:
        return None
    return values[name] / 10 if name in in_tenths else float(values[name])


async def _vendor(session: SnmpSession, ups: VendorUps) -> dict[str, FieldValue]:
    values = integers(await session.get(*ups.oids.values()), ups.oids)
    if "battery_status" not in values and "output_status" not in values:
        return {}
    fields: dict[str, FieldValue] = {}
    if "battery_status" in values:  # unknown, normal, low, inFaultCondition: RFC 1628's 1-4
        fields["battery_status"] = values["battery_status"]
    if "output_status" in values:
        fields["output_source"] = ups.sources.get(values["output_status"], 1)
    if values.get("runtime_ticks", -1) >= 0:
        fields["runtime_minutes"] = values["runtime_ticks"] // 6000  # hundredths of a second
    if "replace" in values:
        fields["battery_replace"] = int(values["replace"] == 2)  # batteryNeedsReplacing(2)
    if "test" in values:
        fields["test_result"] = _VENDOR_TEST.get(values["test"], 6)
    # Same types as RFC 1628's fields: whole percent and degrees, voltages and load as floats.
    for name, field, whole in (
        ("charge", "charge_percent", True), ("temperature", "battery_temperature", True),
        ("input", "input_voltage", False), ("output", "output_voltage", False),
        ("load", "load_percent", False),
    ):  # fmt: skip
        reading = _precise(values, name, ups.in_tenths)
        if reading is not None:
            fields[field] = round(reading) if whole else reading
    date = text((await session.get(ups.test_date)).get(ups.test_date))
    if date:
        fields["test_date"] = date
    return fields


# Socomec's NET VISION cards (SOCOMECUPS-MIB, "upsObjects"): version 5 firmware under the
# first base, version 6 under the second, laid out like RFC 1628 with its own codes.
NETVISION_BASES = ("1.3.6.1.4.1.4555.1.1.1.1", "1.3.6.1.4.1.4555.1.1.7.1")
# upsOutputSource as the cards send it: unknown, inverter (an online UPS's normal), mains,
# ecoMode, bypass, standby, maintenanceBypass, off, normal. On battery is an alarm flag.
_NETVISION_SOURCES = {1: 1, 2: 3, 3: 3, 4: 3, 5: 4, 6: 2, 7: 4, 8: 2, 9: 3}
_NETVISION_DISCHARGING, _NETVISION_FAILURE = 5, 6
_NO_ESTIMATE = 65535  # upsEstimatedMinutesRemaining while on mains: not computed


def _netvision_oids(base: str) -> dict[str, str]:
    return {
        "battery_status": f"{base}.2.1.0",  # unknown normal low depleted discharging failure
        "on_battery_seconds": f"{base}.2.2.0",
        "runtime_minutes": f"{base}.2.3.0",
        "charge_percent": f"{base}.2.4.0",
        "battery_voltage": f"{base}.2.5.0",  # 0.1 V
        "battery_temperature": f"{base}.2.6.0",  # 0: no probe
        "output_status": f"{base}.4.1.0",
        # upsAlarmsTable flags, 1 while the alarm stands.
        "battery_bad": f"{base}.6.3.1.0",
        "on_battery": f"{base}.6.3.2.0",
        "test_failed": f"{base}.6.3.19.0",
        "test_running": f"{base}.6.3.24.0",
    }


def _netvision_fields(values: dict[str, int]) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {
        k: values[k] for k in ("on_battery_seconds", "charge_percent") if k in values
    }
    status = values.get("battery_status")
    if status is not None:  # discharging and failure are not RFC 1628 states: normal, flagged
        fields["battery_status"] = 2 if status >= _NETVISION_DISCHARGING else status
    if values.get("runtime_minutes", _NO_ESTIMATE) != _NO_ESTIMATE:
        fields["runtime_minutes"] = values["runtime_minutes"]
    if "battery_voltage" in values:
        fields["battery_voltage"] = values["battery_voltage"] / 10
    if values.get("battery_temperature", 0) > 0:
        fields["battery_temperature"] = values["battery_temperature"]
    if "output_status" in values:
        fields["output_source"] = _NETVISION_SOURCES.get(values["output_status"], 1)
    if values.get("on_battery") == 1 or status == _NETVISION_DISCHARGING:
        fields["output_source"] = SOURCE_BATTERY
    if "battery_bad" in values or status is not None:
        fields["battery_replace"] = int(
            values.get("battery_bad") == 1 or status == _NETVISION_FAILURE
        )
    if "test_failed" in values:  # the flags say failed or running; 1 stands for "no failure"
        running = values.get("test_running") == 1
        fields["test_result"] = TEST_ERROR if values["test_failed"] == 1 else 5 if running else 1
    return fields


async def _netvision(session: SnmpSession) -> dict[str, FieldValue]:
    for base in NETVISION_BASES:
        oids = _netvision_oids(base)
        values = integers(await session.get(*oids.values()), oids)
        if "battery_status" not in values and "output_status" not in values:
            continue
        fields = _netvision_fields(values)
        for name, column in (
            ("input_voltage", f"{base}.3.3.1.2"),  # 0.1 V
            ("output_voltage", f"{base}.4.4.1.2"),  # 0.1 V
            ("load_percent", f"{base}.4.4.1.4"),
        ):
            mean = await _column_mean(session, column)
            if mean is not None:
                fields[name] = mean if name == "load_percent" else mean / 10
        return fields
    return {}


async def collect(session: SnmpSession, now: int) -> list[Point]:
    """One `ups` point with the RFC 1628 field names, from whichever MIB the UPS speaks."""
    for mib, read in (("rfc1628", _rfc1628), ("xups", _xups)):
        fields = await read(session)
        if fields:
            return [Point("ups", {"mib": mib}, fields, now)]
    for mib, vendor in VENDORS.items():
        fields = await _vendor(session, vendor)
        if fields:
            return [Point("ups", {"mib": mib}, fields, now)]
    fields = await _netvision(session)
    if fields:
        return [Point("ups", {"mib": "netvision"}, fields, now)]
    raise SnmpError(
        "no UPS MIB answered: UPS-MIB (RFC 1628; also Riello NetMan), Eaton XUPS-MIB, "
        "APC PowerNet-MIB, CyberPower CPS-MIB, Socomec NET VISION"
    )
