"""The Windows inventory reader on recorded WMI answers and registry keys (what Wine cannot
give); test_windows.py runs the same reader live under Wine."""

from __future__ import annotations

import json
from collections import namedtuple
from typing import Any

import jsonschema
import pytest

from agent.inventory.glpi import build_inventory
from agent.inventory.registry import UNINSTALL, UNINSTALL_32, installed_software
from agent.inventory.windows import WindowsReader, vm_system, wmi_date
from agent.inventory.wmi import RecordedWmi
from tests.services import TEST_DATA, reference
from tests.test_collectors import Partition, Usage

pytestmark = pytest.mark.services  # every test here starts real processes

Memory = namedtuple("Memory", "total available percent used free")
Address = namedtuple("Address", "family address netmask broadcast ptp")
Stats = namedtuple("Stats", "isup duplex speed mtu flags")


class WindowsPsutil:
    """psutil's Windows answers on a PC whose performance counters are disabled."""

    AF_LINK = -1
    Error = OSError

    def virtual_memory(self) -> Memory:
        return Memory(17041379328, 9e9, 47.0, 8e9, 9e9)

    def swap_memory(self) -> Any:
        raise RuntimeError("PdhAddEnglishCounterW failed. Performance counters may be disabled.")

    def boot_time(self) -> float:
        return 1_764_600_000.0

    def disk_partitions(self, all: bool = False) -> list[Partition]:
        return [Partition("C:\\", "C:\\", "NTFS", "rw,fixed")]

    def disk_usage(self, path: str) -> Usage:
        return Usage(255342211072, 194138656768, 61203554304, 76.0)

    def net_if_addrs(self) -> dict[str, list[Address]]:
        return {
            "Ethernet": [
                Address(-1, "18-DB-F2-4A-7C-01", None, None, None),
                Address(2, "192.168.1.23", "255.255.255.0", None, None),
            ],
            "Wi-Fi": [Address(-1, "3C-F8-62-11-22-33", None, None, None)],
            "Loopback Pseudo-Interface 1": [Address(2, "127.0.0.1", "255.0.0.0", None, None)],
        }

    def net_if_stats(self) -> dict[str, Stats]:
        return {"Ethernet": Stats(True, 2, 1000, 1500, ""), "Wi-Fi": Stats(False, 0, 0, 1500, "")}


class RecordedRegistry:
    """Registry keys as a dict of "HIVE\\path" -> values; subkeys follow from the paths."""

    def __init__(self, keys: dict[str, dict[str, Any]]) -> None:
        self._keys = {k.lower(): v for k, v in keys.items()}
        self._names = {k.lower(): k for k in keys}

    def subkeys(self, hive: str, path: str) -> list[str]:
        prefix = f"{hive}\\{path}\\".lower() if path else f"{hive}\\".lower()
        found = {
            self._names[k][len(prefix) :].split("\\")[0] for k in self._keys if k.startswith(prefix)
        }
        if not found:
            raise OSError(2, f"no key {hive}\\{path}")
        return sorted(found)

    def values(self, hive: str, path: str) -> dict[str, Any]:
        try:
            return self._keys[f"{hive}\\{path}".lower()]
        except KeyError:
            raise OSError(2, f"no key {hive}\\{path}") from None


SID = "S-1-5-21-3623811015-3361044348-30300820-1013"
KEYS: dict[str, dict[str, Any]] = {
    rf"HKLM\{UNINSTALL}\{{90160000-0011-0000-1000-0000000FF1CE}}": {
        "DisplayName": "Microsoft Office Professionnel Plus 2016",
        "DisplayVersion": "16.0.4266.1001",
        "Publisher": "Microsoft Corporation",
        "InstallDate": "20240312",
    },
    rf"HKLM\{UNINSTALL}\Mozilla Firefox 128.5.1 ESR (x64 fr)": {
        "DisplayName": "Mozilla Firefox ESR (x64 fr)",
        "DisplayVersion": "128.5.1",
        "Publisher": "Mozilla",
        "NoRemove": 0,
    },
    rf"HKLM\{UNINSTALL}\AddressBook": {},
    rf"HKLM\{UNINSTALL_32}\Horizon Villages": {
        "DisplayName": "Horizon Villages Élections",
        "DisplayVersion": "5.2",
        "Publisher": "JVS-Mairistem",
        "EstimatedSize": 51200,
    },
    rf"HKU\{SID}\{UNINSTALL}\Teams": {"DisplayName": "Microsoft Teams", "DisplayVersion": "1.7"},
    rf"HKU\{SID}_Classes\Whatever": {},
    rf"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\{SID}": {
        "ProfileImagePath": "C:\\Users\\émilie.durand"
    },
    r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion": {
        "DisplayVersion": "23H2",
        "EditionID": "Professional",
        "UBR": 4460,
        "ProductId": "00330-80000-00000-AA123",
        "RegisteredOwner": "Mairie de Saint-Agrève",
    },
}


def recorded_wmi() -> RecordedWmi:
    answers = json.loads((TEST_DATA / "inventory/windows/wmi-latitude-5480-win11.json").read_text())
    return RecordedWmi({k: v for k, v in answers.items() if not k.startswith("_")})


def test_recorded_windows_11_pc_gives_a_valid_glpi_document() -> None:
    reader = WindowsReader(WindowsPsutil(), recorded_wmi(), RecordedRegistry(KEYS))
    document = build_inventory(reader, "pc1-abc", "2026-12-02 10:00:00")
    jsonschema.validate(
        document, json.loads(reference("glpi-inventory", "inventory.schema.json").read_text())
    )
    content = document["content"]
    assert content["operatingsystem"] | {"boot_time": None, "fqdn": None} == {
        "name": "Windows",
        "full_name": "Microsoft Windows 11 Professionnel",
        "version": "23H2",
        "kernel_name": "MSWin32",
        "kernel_version": "10.0.22631.4460",
        "arch": "64-bit",
        "install_date": "2024-03-12 09:45:12",
        "boot_time": None,
        "fqdn": None,
    }
    hardware = content["hardware"]
    assert hardware["memory"] == 16251 and "swap" not in hardware  # counters disabled
    assert hardware["lastloggeduser"] == "émilie.durand"
    assert hardware["winowner"] == "Mairie de Saint-Agrève"
    assert hardware["vmsystem"] == "Physical"
    assert vm_system("Microsoft Corporation", "Virtual Machine") == "Hyper-V"
    assert vm_system("QEMU", "Standard PC (Q35 + ICH9, 2009)") == "QEMU"
    assert content["bios"]["bdate"] == "2023-11-15" and content["bios"]["ssn"] == "640HP72"
    assert [m["serialnumber"] for m in content["memories"]] == ["2F8C1D04", "2F8C1E77"]
    assert content["memories"][0]["model"] == "HMA81GS6AFR8N-UH"
    assert content["cpus"][0] | {"arch": None} == {
        "name": "Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz",
        "manufacturer": "Intel",
        "core": 2,
        "thread": 4,
        "speed": 2712,
        "id": "BFEBFBFF000806E9",
        "description": "Intel64 Family 6 Model 142 Stepping 9",
        "arch": None,
    }
    [disk] = content["storages"]
    assert disk["name"] == "\\\\.\\PHYSICALDRIVE0" and disk["disksize"] == 256052
    drives = {d["letter"]: d for d in content["drives"]}
    assert drives["C:"] == {
        "letter": "C:",
        "type": "Local Disk",
        "filesystem": "NTFS",
        "total": 243513,
        "free": 58368,
        "label": "Windows",
        "serial": "A2C4E3F1",
    }
    assert drives["D:"] == {"letter": "D:", "type": "Compact Disc"}
    assert drives["Z:"]["volumn"] == "\\\\nas-mairie\\partage"
    ports = {p["description"]: p for p in content["networks"]}
    assert ports["Ethernet"]["mac"] == "18:db:f2:4a:7c:01"
    assert ports["Ethernet"]["ipgateway"] == "192.168.1.254"
    assert ports["Ethernet"]["ipdhcp"] == "192.168.1.254"
    assert ports["Wi-Fi"]["type"] == "wifi" and ports["Wi-Fi"]["status"] == "down"
    assert ports["Loopback Pseudo-Interface 1"]["type"] == "loopback"
    assert content["batteries"] == [
        {
            "name": "DELL 1VX1H7B",
            "chemistry": "Lithium-ion",
            "capacity": 42000,
            "real_capacity": 31800,
            "serial": "2513SMPDELL 1VX1H7B",
            "voltage": 7600,
        }
    ]


def test_software_of_every_uninstall_key_with_its_user() -> None:
    programs = {s["name"]: s for s in installed_software(RecordedRegistry(KEYS))}
    assert sorted(programs) == [
        "Horizon Villages Élections",
        "Microsoft Office Professionnel Plus 2016",
        "Microsoft Teams",
        "Mozilla Firefox ESR (x64 fr)",
    ]
    office = programs["Microsoft Office Professionnel Plus 2016"]
    assert office["guid"] == "{90160000-0011-0000-1000-0000000FF1CE}"
    assert office["install_date"] == "2024-03-12" and office["arch"] == "x86_64"
    assert programs["Horizon Villages Élections"]["arch"] == "i586"
    assert programs["Horizon Villages Élections"]["filesize"] == 51200 * 1024
    assert programs["Microsoft Teams"]["username"] == "émilie.durand"
    assert (
        "guid" not in programs["Mozilla Firefox ESR (x64 fr)"]
        or not programs["Mozilla Firefox ESR (x64 fr)"]["guid"]
    )


def test_without_wmi_the_document_keeps_what_other_sources_give(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NoWmi:
        def query(self, class_name: str, properties: tuple[str, ...]) -> list[dict[str, Any]]:
            raise OSError(f"WMI is unavailable (winmgmts:): access denied for {class_name}")

    reader = WindowsReader(WindowsPsutil(), NoWmi(), RecordedRegistry(KEYS))
    content = build_inventory(reader, "pc1", "2026-12-02 10:00:00")["content"]
    assert "cpus" not in content and "memories" not in content and "batteries" not in content
    assert content["drives"] == [
        {"type": "C:", "volumn": "C:\\", "filesystem": "NTFS", "total": 243513, "free": 58368}
    ]
    assert content["operatingsystem"]["version"] == "23H2"
    assert len(content["softwares"]) == 4
    assert "access denied" in caplog.text


def test_cim_dates() -> None:
    assert wmi_date("20240312094512.000000+060") == "2024-03-12 09:45:12"
    assert wmi_date(None) is None and wmi_date("garbage") is None
