"""Every measurement Vigie writes, its tags and fields with units: the single source of
docs/metrics.md (`python -m agent.catalog > docs/metrics.md`; a test keeps them equal and
checks that what the collectors and pollers emit is listed here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement: where it comes from, what it means, its tags and fields."""

    name: str
    source: str
    about: str
    tags: dict[str, str]
    fields: dict[str, str]  # name -> "unit/type: meaning"


_PCT = "percent (float)"
_BYTES = "bytes (integer)"
_COUNT = "counter (integer, raw: rates are computed by the collector)"

CATALOG: tuple[Measurement, ...] = (
    Measurement("cpu", "agent; poller (HOST-RESOURCES)", "CPU time shares since the previous cycle (Telegraf's names).",
        {"cpu": "`cpu-total`"},
        {**{f"usage_{k}": f"{_PCT}: time {k}" for k in ("user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")},
         "usage_active": f"{_PCT}: polled devices, mean of hrProcessorLoad"}),
    Measurement("mem", "agent; poller (UCD, HOST-RESOURCES, SSH, ubus)", "Memory, one point per device. SNMP: UCD-SNMP-MIB where the device has it (buffers and page cache count as available, as `free` does); else HOST-RESOURCES' \"Physical memory\" row (else the largest RAM row) minus its \"Memory buffers\" and \"Cached memory\" rows.",
        {},
        {"total": _BYTES, "available": f"{_BYTES}: what programs can still get (page cache counts)", "used": _BYTES,
         "free": _BYTES, "used_percent": f"{_PCT}: (total - available) / total", "available_percent": _PCT,
         "active": _BYTES, "inactive": _BYTES, "buffered": _BYTES, "cached": _BYTES, "shared": _BYTES,
         "slab": _BYTES, "wired": f"{_BYTES} (Windows, BSD)"}),
    Measurement("swap", "agent; poller (UCD, SSH)", "Swap space.", {},
        {"total": _BYTES, "used": _BYTES, "free": _BYTES, "used_percent": _PCT,
         "in": f"{_BYTES}, counter: swapped in", "out": f"{_BYTES}, counter: swapped out"}),
    Measurement("system", "agent; poller", "Load and uptime; a drop of `uptime` is a reboot.", {},
        {"load1": "float", "load5": "float", "load15": "float", "n_cpus": "integer",
         "n_users": "integer: distinct logged-in users", "uptime": "seconds (integer; devices: sysUpTime)"}),
    Measurement("kernel", "agent", "Kernel counters; `boot_time` in every batch tells restarts apart.", {},
        {"boot_time": "Unix seconds", "context_switches": _COUNT, "interrupts": _COUNT}),
    Measurement("processes", "agent", "Process counts (no per-process series).", {},
        {"total": "integer", "running": "integer", "blocked": "integer", "total_threads": "integer"}),
    Measurement("disk", "agent; poller (HOST-RESOURCES, df over SSH, ubus)", "Space of each real filesystem (pseudo filesystems skipped). SNMP: hrStorageFixedDisk rows, and rows typed with a real hrFSTypes entry (BSD agents such as pfSense's bsnmpd), never /dev, /proc, /sys, /run or tmpfs-like mounts.",
        {"path": "mount point (`C:` for a Windows drive)", "device": "device name", "fstype": "filesystem", "mode": "`rw` or `ro`"},
        {"total": _BYTES, "used": _BYTES, "free": _BYTES, "used_percent": f"{_PCT}: used / (used + free), like df",
         "inodes_total": "integer", "inodes_used": "integer", "inodes_free": "integer"}),
    Measurement("diskio", "agent", "Per physical disk I/O.", {"name": "disk (sda, nvme0n1, PhysicalDrive0)"},
        {"reads": _COUNT, "writes": _COUNT, "read_bytes": _COUNT, "write_bytes": _COUNT,
         "read_time": f"{_COUNT}, ms", "write_time": f"{_COUNT}, ms", "io_time": f"{_COUNT}, ms busy",
         "merged_reads": _COUNT, "merged_writes": _COUNT}),
    Measurement("net", "agent; poller (SSH /proc/net/dev)", "Per network interface (loopback and container links skipped).",
        {"interface": "interface name"},
        {"bytes_sent": _COUNT, "bytes_recv": _COUNT, "packets_sent": _COUNT, "packets_recv": _COUNT,
         "err_in": _COUNT, "err_out": _COUNT, "drop_in": _COUNT, "drop_out": _COUNT}),
    Measurement("temp", "agent (sensors); poller (ENTITY-SENSOR)", "Temperatures.", {"sensor": "chip and label, or entPhysicalName"},
        {"temp": "°C (float)"}),
    Measurement("fan", "agent", "Fans.", {"sensor": "chip and label"}, {"rpm": "integer"}),
    Measurement("battery", "agent", "Laptop battery, with wear.", {"battery": "`BAT0`"},
        {"charge_percent": _PCT, "plugged": "1 on mains, 0 on battery", "seconds_left": "seconds",
         "capacity_full": "µWh or µAh", "capacity_design": "µWh or µAh",
         "health_percent": f"{_PCT}: full / design capacity"}),
    Measurement("smart_device", "agent (smartctl)", "Each disk's SMART summary.",
        {"device": "sda, nvme0", "model": "model name", "serial_no": "serial number"},
        {"health_ok": "boolean: SMART overall health passed", "temp_c": "°C", "power_on_hours": "hours",
         "power_cycle_count": "integer", "exit_status": "smartctl exit status bits"}),
    Measurement("smart_attribute", "agent (smartctl)", "ATA attributes and NVMe health log entries.",
        {"device": "disk", "model": "model", "serial_no": "serial", "id": "ATA attribute id",
         "name": "attribute name (NVMe: Critical_Warning, Media_and_Data_Integrity_Errors, Percentage_Used, Available_Spare…)",
         "fail": "`-`, or `now`/`past` once the normalised value crossed its threshold"},
        {"raw_value": "integer", "value": "normalised (ATA)", "worst": "normalised (ATA)",
         "threshold": "normalised (ATA)", "exit_status": "smartctl exit status bits"}),
    Measurement("vigie_agent", "agent", "The agent's own health.", {"version": "agent version"},
        {"spool_batches": "integer: waiting batches", "spool_bytes": _BYTES, "oldest_unsent_seconds": "seconds",
         "spool_held_batches": "integer: held in memory while the disk refuses writes",
         "spool_writable": "boolean: false while the disk refuses writes (full, read-only)",
         "dropped_batches": "integer: dropped by the spool bounds", "dropped_lines": "integer",
         "rejected_batches": "integer: refused by the collector (4xx)", "send_errors": "integer",
         "cycle_seconds": "seconds (float)", "rss_bytes": _BYTES}),
    Measurement("interface", "poller (IF-MIB; ubus)", "Per interface of a network device.",
        {"ifname": "ifName, else ifDescr (`#index` added when two share a name)", "device": "OpenWrt: the L3 device"},
        {"in_octets": f"{_COUNT}: ifHCInOctets when present, else ifInOctets", "out_octets": _COUNT,
         "in_errors": _COUNT, "out_errors": _COUNT, "in_discards": _COUNT, "out_discards": _COUNT,
         "oper_status": "IF-MIB code: 1 up, 2 down, 3 testing, 5 dormant, 7 lowerLayerDown",
         "admin_status": "IF-MIB code: 1 up, 2 down", "type": "ifType (6 ethernet, 24 loopback…)",
         "speed": "bit/s (ifHighSpeed × 10⁶ when ifSpeed is saturated)", "last_change": "seconds of sysUpTime at the last status change",
         "up": "boolean (OpenWrt)", "uptime": "seconds (OpenWrt)"}),
    Measurement("sensor", "poller (ENTITY-SENSOR)", "Non-temperature sensors, value already scaled.",
        {"sensor": "entPhysicalName", "unit": "volts_ac, volts_dc, amperes, watts, hertz, percent_rh, rpm, cmm, truthvalue, other"},
        {"value": "float, in the unit"}),
    Measurement("printer_supply", "poller (Printer-MIB)", "Each supply of a printer.",
        {"supply": "prtMarkerSuppliesDescription, cleaned", "type": "toner, opc, ink_cartridge, waste_toner, fuser…"},
        {"level": "supply units (absent when not measured)", "max_capacity": "supply units (absent when unknown)",
         "percent": f"{_PCT}: level / max_capacity (absent when either is unknown)",
         "state": "0 measured, -1 unrestricted, -2 unknown, -3 some remaining (the Printer-MIB sentinels)"}),
    Measurement("printer", "poller (Printer-MIB, HOST-RESOURCES)", "Printer counters and state.", {},
        {"page_count": f"{_COUNT}: prtMarkerLifeCount", "status": "hrPrinterStatus: 1 other, 2 unknown, 3 idle, 4 printing, 5 warmup",
         "errors": "string: names of the hrPrinterDetectedErrorState bits set (low_toner, jammed, door_open…)",
         "error_count": "integer"}),
    Measurement("ups", "poller (UPS-MIB RFC 1628, else Eaton XUPS-MIB, APC PowerNet-MIB, CyberPower CPS-MIB, Socomec NET VISION)", "UPS state with RFC 1628 codes, whichever MIB the UPS speaks. PowerNet: upsBasicOutputStatus onLine, ecoMode, hotStandby -> 3 normal; onBattery, onBatteryTest -> 5; onSmartBoost -> 6; onSmartTrim -> 7; bypasses -> 4; off, sleeping, rebooting -> 2; high-precision objects (tenths) preferred; runtime from TimeTicks; a self-test invalidTest is 4 aborted, not a failure. CPS-MIB (CyberPower, laid out like PowerNet): onLine, onECO, onOverload -> 3; onBattery -> 5; onBoost -> 6; onBuck -> 7; onBypass -> 4; onSleep, off, rebooting -> 2; line voltages in tenths. NET VISION (Socomec's SOCOMECUPS-MIB, firmware 5 under 1.3.6.1.4.1.4555.1.1.1.1 and 6 under 4555.1.1.7.1): on battery when the upsAlarmOnBattery flag stands or upsBatteryStatus says discharging(5); upsOutputSource inverter, mains, ecoMode, normal -> 3; bypass, maintenanceBypass -> 4; standby, off -> 2; battery discharging(5) and failure(6) -> 2 normal (failure sets battery_replace); upsEstimatedMinutesRemaining 65535 (not computed on mains) and a battery temperature of 0 (no probe) are left out; voltages in tenths, averaged over phases; test_result 3 while upsAlarmDiagnosticTestFailed stands, 5 while upsAlarmTestInProgress does, else 1 (no failure flagged: the MIB keeps no result). Riello's NetMan cards answer RFC 1628 itself.",
        {"mib": "`rfc1628`, `xups`, `powernet`, `cps` or `netvision`"},
        {"battery_status": "1 unknown, 2 normal, 3 low, 4 depleted", "charge_percent": "percent (integer)",
         "runtime_minutes": "minutes", "on_battery_seconds": "seconds", "output_source": "1 other, 2 none, 3 normal, 4 bypass, 5 battery, 6 booster, 7 reducer",
         "load_percent": _PCT, "input_voltage": "V (float)", "output_voltage": "V (float)", "battery_voltage": "V (float)",
         "battery_temperature": "°C (the battery's: RFC 1628 upsBatteryTemperature)", "ambient_temperature": "°C (XUPS: the room around the UPS)", "input_line_bads": _COUNT, "alarms": "integer: alarms present",
         "test_result": "1 passed, 2 warning, 3 error, 4 aborted, 5 in progress, 6 none", "abm_status": "XUPS: 1 charging, 2 discharging, 3 floating, 4 resting, 5 unknown",
         "battery_replace": "PowerNet, CPS, NET VISION: 1 when the UPS says its battery needs replacing (NET VISION: upsAlarmBatteryBad or battery failure), else 0", "test_date": "PowerNet, CPS: date of the last self-test, as the UPS gives it (mm/dd/yyyy)"}),
    Measurement("ping", "poller", "Reachability of each device (Telegraf's names).",
        {"method": "`icmp` or `tcp`", "kind": "device kind (router, printer…)"},
        {"result_code": "0 ran, 1 no such host, 2 error", "percent_packet_loss": _PCT, "up": "boolean",
         "average_response_ms": "ms (float)", "maximum_response_ms": "ms (float)"}),
    Measurement("http_response", "poller (`web` kind)", "An HTTP(S) check of a URL (Telegraf's names).",
        {"server": "the URL", "method": "`GET`", "result": "`success`, `connection_failed` (a certificate that does not verify too), `timeout`, `dns_error`, `response_status_code_mismatch` (4xx, 5xx)"},
        {"result_code": "0 success, 3 connection failed, 4 timeout, 5 DNS error, 6 status code mismatch", "http_response_code": "the HTTP status",
         "response_time": "s (float)", "error": "string: why not", "certificate_error": "string: why the certificate could not be read"}),
    Measurement("x509_cert", "poller (`web` kind, https)", "The site's certificate, read even when it does not verify (Telegraf's names).",
        {"source": "the URL"},
        {"expiry": "s until notAfter (negative once expired)", "enddate": "notAfter, Unix s", "verification_code": "0 verifies, 1 does not",
         "verification_error": "string: why it does not verify"}),
    Measurement("device_poll", "poller", "Whether each device poll worked, and why not.",
        {"method": "`snmp`, `ssh` or `http`", "kind": "device kind", "poller": "host of the agent that polls it"},
        {"ok": "boolean", "error": "string: the reason (timeout / wrong community, v3 authentication, garbage, host key mismatch, deadline)",
         "duration_ms": "ms (float)", "points": "integer", "requests": "integer (SNMP)", "varbinds": "integer (SNMP)",
         "host_key_mismatch": "boolean (SSH): the device offered another key than the pinned one"}),
    Measurement("vigie_collector", "collector (site `_vigie`, host `collector`)", "The collector's own health, for its rules (not mirrored to InfluxDB). With several collectors on a shared state, each files it as host `<machine>:<port>` and forwards it to the VictoriaMetrics nodes and the state's `latest` like the agents' data: whichever collector evaluates site `_vigie` sees every collector's backlog (a node down shows on the other node); the pages leave site `_vigie` out.", {},
        {"outbox_requests": "integer: accepted requests that the target furthest behind lacks (the InfluxDB mirror, a VictoriaMetrics node, the state's `latest`)", "mail_queued": "integer", "mail_failed": "integer"}),
)  # fmt: skip

COMMON_TAGS = ("site", "host")


def by_name() -> dict[str, Measurement]:
    """The catalog indexed by measurement name."""
    return {m.name: m for m in CATALOG}


def render() -> str:
    """docs/metrics.md."""
    out = [
        "# Measurements",
        "",
        "Generated by `python -m agent.catalog` from `agent/catalog.py`; do not edit by hand.",
        "Every point carries the tags `site` (commune) and `host` (machine or device). Counters",
        "are sent raw; `GET /api/v1/query?rate=true` turns them into per-second rates (a Counter32",
        "wrap is told from a reset, which gives no point rather than a negative rate).",
        "",
    ]
    for m in CATALOG:
        out += [f"## `{m.name}`", "", f"{m.about} Source: {m.source}.", ""]
        if m.tags:
            out += ["| tag | meaning |", "| --- | --- |"]
            out += [f"| `{k}` | {v} |" for k, v in m.tags.items()]
            out.append("")
        out += ["| field | unit / meaning |", "| --- | --- |"]
        out += [f"| `{k}` | {v} |" for k, v in m.fields.items()]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
