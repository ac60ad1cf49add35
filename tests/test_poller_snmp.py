"""The SNMP poller against real agents: net-snmp snmpd (compared with net-snmp's own tools) and
snmpsim serving recorded real devices and the .snmprec files in tests/data/snmp/."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from agent.config import DeviceConfig
from agent.poller.hostres import is_pseudo_mount
from agent.poller.poll import Poller
from agent.poller.snmp import text
from tests.poller_support import by, inventory, num, poll, snmp_device, status
from tests.services import SnmpAgent, reference, run_snmpsim

pytestmark = pytest.mark.services  # every test here starts real processes


def bulkwalk(agent: SnmpAgent, args: list[str], oid: str) -> dict[str, str]:
    """snmpbulkwalk from net-snmp: {index below oid: value as printed with -Oqv-like output}."""
    done = subprocess.run(
        ["snmpbulkwalk", *args, "-Oq", "-Ot", "-Oe", agent.address, oid],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    rows = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(" ")
        rows[name[len(oid) + 2 :]] = value.strip().strip('"')
    return rows


def test_snmpd_interfaces_equal_net_snmp(snmpd: SnmpAgent) -> None:
    args = snmpd.v2c_args()
    names_before = bulkwalk(snmpd, args, "1.3.6.1.2.1.31.1.1.1.1")
    octets_before = bulkwalk(snmpd, args, "1.3.6.1.2.1.31.1.1.1.6")
    points = poll(snmp_device(snmpd, "nas", "nas"))["nas"]
    octets_after = bulkwalk(snmpd, args, "1.3.6.1.2.1.31.1.1.1.6")
    speeds = bulkwalk(snmpd, args, "1.3.6.1.2.1.2.2.1.5")
    opers = bulkwalk(snmpd, args, "1.3.6.1.2.1.2.2.1.8")
    assert status(points).fields["ok"] is True, status(points).fields
    interfaces = by(points, "interface")
    assert {p.tags["ifname"] for p in interfaces} == set(names_before.values())
    for index, name in names_before.items():
        (point,) = by(interfaces, "interface", ifname=name)
        # Counter64 read between two snmpbulkwalks of the same counter
        in_octets = num(point, "in_octets")
        assert int(octets_before[index]) <= in_octets <= int(octets_after[index])
        assert point.fields["speed"] == int(speeds[index]) or speeds[index].startswith("4294967295")
        assert point.fields["oper_status"] == int(opers[index])


def test_snmpd_storage_equals_net_snmp_over_v3(snmpd: SnmpAgent) -> None:
    args = snmpd.v3_args()
    descrs = bulkwalk(snmpd, args, "1.3.6.1.2.1.25.2.3.1.3")
    types = bulkwalk(snmpd, args, "1.3.6.1.2.1.25.2.3.1.2")
    units = bulkwalk(snmpd, args, "1.3.6.1.2.1.25.2.3.1.4")
    sizes = bulkwalk(snmpd, args, "1.3.6.1.2.1.25.2.3.1.5")
    points = poll(snmp_device(snmpd, "nas", "nas", v3_context=""))["nas"]
    assert status(points).fields["ok"] is True, status(points).fields
    fixed = [i for i, t in types.items() if t.endswith("25.2.1.4")]
    pseudo = [i for i in fixed if is_pseudo_mount(descrs[i])]  # tmpfs on /dev/shm, /run
    fixed = [i for i in fixed if i not in pseudo]
    assert fixed, "snmpd reports no fixed disk on this machine"
    disks = {p.tags["path"]: p for p in by(points, "disk")}
    assert not {descrs[i] for i in pseudo} & set(disks)
    for index in fixed:
        point = disks[descrs[index]]
        assert point.fields["total"] == int(units[index].split()[0]) * int(sizes[index])
        assert 0 <= num(point, "used_percent") <= 100
    # UCD memory (kB) agrees with the kernel's MemTotal
    (mem,) = by(points, "mem")
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert mem.fields["total"] == int(meminfo["MemTotal"].split()[0]) * 1024
    (system,) = [p for p in by(points, "system") if "load1" in p.fields]
    assert num(system, "load1") >= 0


def test_recorded_windows_host_cleaned(snmpsim: SnmpAgent) -> None:
    points = poll(snmp_device(snmpsim, "winxp", "nas", "recorded/winxp-full-walk"))["winxp"]
    names = {p.tags["ifname"] for p in by(points, "interface")}
    # ifDescr ends in a NUL byte on Windows: gone from the tag
    assert "MS TCP Loopback interface" in names
    assert not any("\x00" in n for n in names)
    disks = {p.tags["path"]: p.fields for p in by(points, "disk")}
    # "C:\ Label:  Serial Number 1848504c" becomes C:
    assert set(disks) == {"C:", "Z:"}
    assert disks["C:"]["total"] == 16384 * 1952447
    assert disks["C:"]["used"] == 16384 * 1884128
    assert num(by(points, "mem")[0], "total") > 0


def test_recorded_eaton_ups_through_the_vendor_mib(snmpsim: SnmpAgent) -> None:
    device = snmp_device(snmpsim, "eaton", "ups", v3_context="recorded/eaton-9PX-partial-walk")
    points = poll(device)["eaton"]
    (ups,) = by(points, "ups")
    assert ups.tags["mib"] == "xups"
    assert ups.fields["runtime_minutes"] == 17218 // 60
    assert ups.fields["charge_percent"] == 100
    assert ups.fields["output_source"] == 3  # normal
    assert ups.fields["input_voltage"] == 243.0
    # xupsEnvAmbientTemp is the room's: its own field, not the battery's temperature
    assert ups.fields["ambient_temperature"] == 24 and "battery_temperature" not in ups.fields


VENDOR_UPSES = {
    # An APC card answering PowerNet-MIB only: the high-precision objects (tenths) preferred.
    "ups-apc-powernet": ("powernet", ("Smart-UPS 1500", "APC"), {
        "battery_status": 2, "output_source": 3, "runtime_minutes": 39, "battery_replace": 1,
        "test_result": 3, "charge_percent": 99, "battery_temperature": 27,
        "input_voltage": 231.2, "output_voltage": 230.0, "load_percent": 18.4,
        "test_date": "11/28/2026",
    }),
    # CPS-MIB: tenths of a volt, on battery; an invalidTest is not a failure (4, aborted).
    "ups-cyberpower-cps": ("cps", ("OR1500ERM1U", "CyberPower"), {
        "battery_status": 3, "output_source": 5, "runtime_minutes": 7, "battery_replace": 0,
        "test_result": 4, "charge_percent": 35, "battery_temperature": 31,
        "input_voltage": 0.0, "output_voltage": 229.8, "load_percent": 41.0,
        "test_date": "11/02/2026",
    }),
    # NET VISION 5 on a 3-phase MASTERYS: on battery by the alarm flag (its output source says
    # inverter), battery discharging read as normal, no temperature probe (0), tenths of volts
    # averaged over phases, the diagnostic-test-failed flag.
    "ups-socomec-netvision": ("netvision", ("MASTERYS 3/3 SYSTEM 20 kVA", "Socomec"), {
        "battery_status": 2, "output_source": 5, "runtime_minutes": 18, "battery_replace": 0,
        "test_result": 3, "charge_percent": 87, "on_battery_seconds": 312,
        "battery_voltage": 438.0, "input_voltage": 0.0, "output_voltage": 230.1,
        "load_percent": 31.0,
    }),
    # NET VISION 6 (another base): on mains the runtime is 65535 (not computed: left out), the
    # battery failed (to replace), no test failure flagged.
    "ups-socomec-netvision6": ("netvision", ("ITYS 3kVA", "Socomec"), {
        "battery_status": 2, "output_source": 3, "battery_replace": 1, "test_result": 1,
        "charge_percent": 100, "on_battery_seconds": 0, "battery_voltage": 272.0,
        "battery_temperature": 24, "input_voltage": 231.6, "output_voltage": 230.0,
        "load_percent": 22.0,
    }),
}  # fmt: skip


@pytest.mark.parametrize("recording", sorted(VENDOR_UPSES))
def test_vendor_ups_mibs_read_as_rfc1628(snmpsim: SnmpAgent, recording: str) -> None:
    """RFC 1628's names, codes and field types from a vendor MIB; runtime from TimeTicks;
    the maker and model in the inventory."""
    mib, identity, fields = VENDOR_UPSES[recording]
    device = snmp_device(snmpsim, "ups", "ups", f"vigie/{recording}")
    (ups,) = by(poll(device)["ups"], "ups")
    assert ups.tags["mib"] == mib and ups.fields == fields
    document = inventory(device)
    assert document is not None
    found = document["content"]["network_device"]
    assert (found["model"], found["manufacturer"]) == identity


def test_a_ups_whose_vendor_mib_is_unknown_still_gives_system_and_interfaces(
    snmpsim: SnmpAgent,
) -> None:
    """No UPS MIB answers (a maker Vigie does not read yet): the poll says which MIBs were
    tried, and the uptime and the interfaces are still there (reachability is probed apart)."""
    points = poll(snmp_device(snmpsim, "inconnu", "ups", "vigie/switch-hpe-1820"))["inconnu"]
    poll_status = status(points).fields
    assert poll_status["ok"] is False and "no UPS MIB answered" in str(poll_status["error"])
    assert "Socomec NET VISION" in str(poll_status["error"])
    assert num(by(points, "system")[0], "uptime") > 0
    assert len(by(points, "interface")) >= 2


def test_windows_server_polled_over_snmp(snmpsim: SnmpAgent) -> None:
    """Windows' SNMP service: drives as letters (not the CD drive), processors, memory from
    HOST-RESOURCES, and a GLPI Computer with its installed software (code page 1252 names,
    versions split off, the operating system's own row left out)."""
    device = snmp_device(snmpsim, "srv", "windows", "vigie/windows-server-2019")
    points = poll(device)["srv"]
    disks = {p.tags["path"]: p.fields for p in by(points, "disk")}
    assert set(disks) == {"C:", "D:"}
    assert disks["D:"]["total"] == 4096 * 131070975 and disks["D:"]["used"] == 4096 * 98000000
    (mem,) = by(points, "mem")
    assert mem.fields["total"] == 65536 * 131065 and mem.fields["used"] == 65536 * 98300
    (cpu,) = by(points, "cpu")
    assert cpu.fields["usage_active"] == 15.0
    assert by(points, "system")[0].fields["uptime"] == 12 * 86400 + 3600
    assert "Intel(R) Ethernet Connection I219-LM" in {
        p.tags["ifname"] for p in by(points, "interface")
    }
    document = inventory(device)
    assert document is not None
    jsonschema.validate(
        document, json.loads(reference("glpi-inventory", "inventory.schema.json").read_text())
    )
    assert document["itemtype"] == "Computer"
    content = document["content"]
    assert content["operatingsystem"]["kernel_version"] == "6.3.17763"
    assert content["hardware"]["memory"] == 8388152 // 1024
    assert [c["name"] for c in content["cpus"]] == [
        "Intel(R) Xeon(R) Silver 4210 CPU @ 2.20GHz"
    ] * 2
    drives = {d["letter"]: d for d in content["drives"]}
    assert set(drives) == {"C:", "D:"}
    assert (drives["D:"]["label"], drives["D:"]["serial"]) == ("Données", "9e8d7c6b")
    assert drives["C:"]["total"] == 4096 * 31186687 >> 20
    softwares = content["softwares"]
    assert {"name": "LibreOffice", "version": "7.5.4.2", "install_date": "2023-06-01"} in softwares
    assert {
        "name": "7-Zip",
        "version": "23.01",
        "arch": "x86_64",
        "install_date": "2023-07-12",
    } in softwares
    assert {
        "name": "Logiciel de comptabilité “Magnus”",
        "version": "2.3",
        "install_date": "2021-01-04",
    } in softwares
    assert "Microsoft Windows Server 2019 Standard" not in {s["name"] for s in softwares}
    assert len(softwares) == 6
    assert content["networks"] == [
        {
            "description": "Intel(R) Ethernet Connection I219-LM",
            "mac": "a4:bb:6d:1c:2e:3f",
            "ipaddress": "10.59.1.10",
        }
    ]


def test_recorded_windows_host_software_inventory(snmpsim: SnmpAgent) -> None:
    """A real Windows walk (snmpsim's): every installed program, cp1252 quotes decoded."""
    document = inventory(snmp_device(snmpsim, "winxp", "windows", "recorded/winxp-full-walk"))
    assert document is not None
    jsonschema.validate(
        document, json.loads(reference("glpi-inventory", "inventory.schema.json").read_text())
    )
    names = [s["name"] for s in document["content"]["softwares"]]
    assert len(names) == 160 and "7-Zip" in names
    assert any("“LegacyDriver”" in n for n in names)


def test_rfc1628_ups_v2c_and_v3_agree(snmpsim: SnmpAgent) -> None:
    v2c = snmp_device(snmpsim, "ups2", "ups", "vigie/ups-rfc1628")
    v3 = snmp_device(snmpsim, "ups3", "ups", v3_context="vigie/ups-rfc1628")
    results = poll(v2c, v3)
    (a,), (b,) = by(results["ups2"], "ups"), by(results["ups3"], "ups")
    assert a.fields == b.fields
    assert a.tags["mib"] == "rfc1628"
    expected = {
        "battery_status": 2, "runtime_minutes": 23, "charge_percent": 100,
        "on_battery_seconds": 0, "output_source": 3, "load_percent": 18.0,
        "input_voltage": 231.0, "output_voltage": 230.0, "battery_voltage": 27.2,
        "test_result": 1, "alarms": 0,
    }  # fmt: skip
    assert {k: a.fields[k] for k in expected} == expected


def test_copier_supplies_are_named_without_part_and_serial(snmpsim: SnmpAgent) -> None:
    """A new cartridge (new serial number) continues the supply's series; the numbers stay
    in the GLPI inventory."""
    device = snmp_device(snmpsim, "copieur", "printer", "vigie/copier-xerox-altalink")
    points = poll(device)["copieur"]
    supplies = {p.tags["supply"]: p.fields for p in by(points, "printer_supply")}
    assert set(supplies) == {
        "Black Toner [K] Cartridge", "Cyan Toner [C] Cartridge", "Waste Toner Container"
    }  # fmt: skip
    assert supplies["Black Toner [K] Cartridge"]["percent"] == 37.0
    document = inventory(device)
    assert document is not None
    black = {"tonerblack": "37", "name": "Black Toner [K] Cartridge, PN 006R01746;SN4817B1C2D3"}
    assert black in document["content"]["cartridges"]


def test_nas_memory_leaves_out_buffers_and_cache_once(snmpsim: SnmpAgent) -> None:
    """A Synology without UCD memory: HR's Physical memory counts buffers and page cache as
    used (94 %); real use is 54 %; tmpfs rows typed RAM neither overwrite it nor are disks."""
    points = poll(snmp_device(snmpsim, "nas", "nas", "vigie/nas-synology-hr"))["nas"]
    (mem,) = by(points, "mem")
    kib = 1024
    used = (3942645 - 419430 - 1258291) * kib
    assert mem.fields["total"] == 4194304 * kib and mem.fields["used"] == used
    assert round(float(mem.fields["used_percent"])) == 54
    assert mem.fields["available"] == 4194304 * kib - used
    assert {p.tags["path"] for p in by(points, "disk")} == {"/", "/volume1"}


def test_bsd_file_systems_are_disks_pseudo_mounts_are_not(snmpsim: SnmpAgent) -> None:
    """pfSense's bsnmpd types its storage rows with hrFSTypes (no hrStorageFixedDisk)."""
    device = snmp_device(snmpsim, "pfsense", "nas", "vigie/firewall-pfsense-bsnmpd")
    points = poll(device)["pfsense"]
    disks = {p.tags["path"]: p.fields for p in by(points, "disk")}
    assert set(disks) == {"/", "/tmp"}  # not /dev, /var/run, /var/dhcpd/dev
    assert disks["/"]["total"] == 4096 * 7000000 and disks["/"]["used"] == 4096 * 1400000
    (mem,) = by(points, "mem")
    assert mem.fields["total"] == 4096 * 1048576


def test_printer_supplies_sentinels_and_errors(snmpsim: SnmpAgent) -> None:
    v2c = snmp_device(snmpsim, "copieur", "printer", "vigie/printer-hp-m507")
    v3 = snmp_device(snmpsim, "copieur-v3", "printer", v3_context="vigie/printer-hp-m507")
    results = poll(v2c, v3)
    points = results["copieur"]
    assert [p.fields for p in points if p.measurement != "device_poll"] == [
        p.fields for p in results["copieur-v3"] if p.measurement != "device_poll"
    ]
    supplies = {p.tags["supply"]: p for p in by(points, "printer_supply")}
    # the description came as hex with a trailing NUL
    toner = supplies["Black Cartridge HP 87A CF287A"]
    assert toner.tags["type"] == "toner"
    assert toner.fields == {"max_capacity": 100, "level": 8, "percent": 8.0, "state": 0}
    drum = supplies["Imaging Drum"]
    assert drum.fields == {"state": -3}  # "some remaining": no level, no percent
    (printer,) = by(points, "printer")
    assert printer.fields["page_count"] == 18021
    assert printer.fields["errors"] == "low_toner"
    assert printer.fields["status"] == 3


def test_switch_64bit_counters_and_entity_sensors(snmpsim: SnmpAgent) -> None:
    points = poll(snmp_device(snmpsim, "sw", "switch", "vigie/switch-hpe-1820"))["sw"]
    ports = {p.tags["ifname"]: p.fields for p in by(points, "interface")}
    assert ports["3"]["in_octets"] == 12884901888123  # ifHCInOctets, not the 32-bit column
    assert ports["3"]["in_errors"] == 17
    assert ports["2"]["oper_status"] == 2 and ports["2"]["admin_status"] == 1
    assert ports["1"]["speed"] == 1_000_000_000
    (temp,) = by(points, "temp")
    assert temp.tags["sensor"] == "Chassis temperature" and temp.fields["temp"] == 41.2
    sensors = {p.tags["sensor"]: (p.tags["unit"], p.fields["value"]) for p in by(points, "sensor")}
    assert sensors == {"Fan 1": ("rpm", 5400.0), "PSU 12V rail": ("volts_dc", 12.05)}


def test_inventories_follow_the_glpi_schema(snmpsim: SnmpAgent) -> None:
    schema_file = reference("glpi-inventory", "inventory.schema.json")
    schema = json.loads(schema_file.read_text())
    printer = inventory(snmp_device(snmpsim, "copieur", "printer", "vigie/printer-hp-m507"))
    switch = inventory(snmp_device(snmpsim, "sw", "switch", "vigie/switch-hpe-1820"))
    assert printer is not None and switch is not None
    for document in (printer, switch):
        jsonschema.validate(document, schema)
    assert printer["itemtype"] == "Printer"
    device = printer["content"]["network_device"]
    assert (device["serial"], device["model"]) == ("PHCVN191TG", "HP LaserJet M507")
    assert device["ips"] == ["10.59.29.175"] and device["mac"] == "00:68:eb:f2:be:10"
    assert printer["content"]["cartridges"] == [
        {"tonerblack": "8", "name": "Black Cartridge HP 87A CF287A"}
    ]
    assert printer["content"]["pagecounters"] == {"total": 18021}
    assert switch["itemtype"] == "NetworkEquipment"
    assert switch["content"]["network_device"]["firmware"] == "PT.02.13"
    assert [p["ifalias"] for p in switch["content"]["network_ports"] if "ifalias" in p] == [
        "uplink mairie",
        "wifi ecole",
    ]


def test_polled_points_are_in_the_metrics_reference(snmpsim: SnmpAgent) -> None:
    from tests.test_catalog import unlisted

    devices = [
        snmp_device(snmpsim, "p", "printer", "vigie/printer-hp-m507"),
        snmp_device(snmpsim, "u", "ups", "vigie/ups-rfc1628"),
        snmp_device(snmpsim, "e", "ups", "recorded/eaton-9PX-partial-walk"),
        snmp_device(snmpsim, "s", "switch", "vigie/switch-hpe-1820"),
        snmp_device(snmpsim, "l", "linux", "recorded/linux-full-walk"),
    ]
    devices = [d._replace(reach="tcp") for d in devices]
    points = [p for found in poll(*devices).values() for p in found]
    assert unlisted(points) == set()


def test_bad_devices_fail_alone_with_a_clear_status(snmpsim: SnmpAgent, snmpd: SnmpAgent) -> None:
    good = snmp_device(snmpsim, "ups", "ups", "vigie/ups-rfc1628")
    wrong_community = snmp_device(snmpd, "wrong", "router", "not-the-community")
    bad_auth = snmp_device(snmpd, "badauth", "router", v3_context="", auth_key="wrongwrong1")
    garbage = snmp_device(snmpsim, "garbage", "ups", "vigie/garbage")
    empty = snmp_device(snmpsim, "empty", "switch", "recorded/solaris-system")
    started = time.monotonic()
    results = poll(good, wrong_community, bad_auth, garbage, empty)
    elapsed = time.monotonic() - started
    assert status(results["ups"]).fields["ok"] is True
    assert by(results["ups"], "ups")
    wrong = status(results["wrong"]).fields
    assert wrong["ok"] is False and "wrong community" in str(wrong["error"])
    auth = status(results["badauth"]).fields
    assert auth["ok"] is False and "authentication failed" in str(auth["error"])
    junk = status(results["garbage"]).fields
    assert junk["ok"] is False and "non-integer" in str(junk["error"])
    # an empty ifTable and no sensors is not an error: just no interface points
    assert status(results["empty"]).fields["ok"] is True
    assert by(results["empty"], "system") and not by(results["empty"], "interface")
    # the silent ones cost their timeout once, concurrently, not one after the other
    assert elapsed < 8, elapsed


def test_deadline_cuts_a_poll_that_never_ends(snmpd: SnmpAgent) -> None:
    # A device that never answers, with retries that would take 5 × 10 s: cut at the deadline.
    device = snmp_device(snmpd, "slow", "router", "nobody", interval=10)
    assert device.snmp is not None
    device = device._replace(snmp=device.snmp._replace(timeout=10.0, retries=5))
    started = time.monotonic()
    points = poll(device)["slow"]
    assert time.monotonic() - started < 10
    assert "did not finish within 8 s" in str(status(points).fields["error"])


def test_a_slow_device_is_cut_while_the_others_finish_on_time(
    snmpd: SnmpAgent, tmp_path: Path
) -> None:
    # Its own snmpsim: the delay variation module stalls the whole responder while it waits.
    with run_snmpsim(tmp_path) as slow_agent:
        slow = snmp_device(slow_agent, "slow", "ups", "vigie/slow", interval=10)
        healthy = snmp_device(snmpd, "healthy", "nas")
        started = time.monotonic()
        results = poll(slow, healthy)
        elapsed = time.monotonic() - started
    fine = status(results["healthy"]).fields
    assert fine["ok"] is True and float(str(fine["duration_ms"])) < 3000, fine
    cut = status(results["slow"]).fields
    assert cut["ok"] is False, cut
    assert "within 8 s" in str(cut["error"]) or "no response" in str(cut["error"]), cut
    assert elapsed < 10, elapsed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"eth0\x00", "eth0"),
        (b"54 6F 6E 65 72 20 6E 6F 69 72", "Toner noir"),
        (b"Imprimante \xe9tage", "Imprimante étage"),  # Latin-1 from an old printer
        (b"12 34", "12 34"),  # digits in pairs that decode to control bytes stay as they are
        (None, ""),
    ],
)
def test_text_cleaning(raw: bytes | None, expected: str) -> None:
    assert text(raw) == expected


def test_a_poll_cut_short_by_the_agent_stopping_logs_no_asyncio_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the soak: each device cancelled mid-poll left a traceback in the log ("exception
    # was never retrieved"), 500 of them when a site poller stopped during a round.
    async def stop_mid_poll(device: DeviceConfig) -> None:
        task = asyncio.create_task(Poller().poll(device, 1_800_000_000))
        await asyncio.sleep(1.5)  # the slow device is still answering
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gc.collect()

    with run_snmpsim(tmp_path) as slow_agent:
        slow = snmp_device(slow_agent, "slow", "ups", "vigie/slow", interval=10)
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            asyncio.run(stop_mid_poll(slow))
            gc.collect()
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text
