"""GLPI inventory: the agent's document validates against GLPI's schema; the collector keeps
the latest one per host and a history of changes."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import psutil
import pytest

from agent.inventory.change import change_hash
from agent.inventory.glpi import build_inventory
from agent.inventory.linux import LinuxReader, parse_dmidecode_memory, parse_dpkg_status
from collector.inventory import diff_inventories
from tests import services
from tests.services import TEST_DATA, VENV_BIN, get_json, reference, run_collector

pytestmark = pytest.mark.services  # every test here starts real processes

DPKG_STATUS = """Package: firefox-esr
Status: install ok installed
Installed-Size: 250000
Maintainer: Debian Mozilla Extension Maintainers <x@example.org>
Architecture: amd64
Version: 115.5.0esr-1~deb12u1
Description: Mozilla Firefox web browser - Extended Support Release (ESR)
 Firefox ESR is a powerful, extensible web browser.

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: libreoffice-writer
Status: install ok installed
Installed-Size: 30000
Architecture: amd64
Version: 4:7.4.7-1+deb12u1
Description: office productivity suite -- word processor
"""


def schema() -> dict[str, Any]:
    return dict(json.loads(reference("glpi-inventory", "inventory.schema.json").read_text()))


def recorded_root(tmp_path: Path) -> Path:
    """A recorded Linux tree: DMI of a Dell laptop, os-release, cpuinfo, dpkg status."""
    dmi = tmp_path / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for name, value in {
        "bios_vendor": "Dell Inc.",
        "bios_version": "1.4.3",
        "bios_date": "02/06/2016",
        "sys_vendor": "Dell Inc.",
        "product_name": "Latitude 5480",
        "product_serial": "640HP72",
        "board_vendor": "Dell Inc.",
        "board_name": "07TYC2",
        "chassis_type": "10",
        "product_uuid": "4c4c4544-0034-3010-8048-b6c04f503732",
        "chassis_asset_tag": "To Be Filled By O.E.M.",
    }.items():
        (dmi / name).write_text(value + "\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
        'NAME="Debian GNU/Linux"\nVERSION="12 (bookworm)"\n'
    )
    (tmp_path / "proc").mkdir()
    cpu = (
        "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 142\n"
        "model name\t: Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz\nstepping\t: 9\n"
        "cpu MHz\t\t: 2600.000\nphysical id\t: 0\ncpu cores\t: 2\n\n"
    )
    (tmp_path / "proc/cpuinfo").write_text("".join(cpu.format(n=n) for n in range(4)))
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    disk = tmp_path / "sys/block/sda/device"
    disk.mkdir(parents=True)
    (disk / "model").write_text("SAMSUNG MZ7LN256\n")
    (tmp_path / "sys/block/sda/serial").write_text("S2R5NX0H612345\n")
    (tmp_path / "sys/block/sda/size").write_text("500118192\n")
    (tmp_path / "sys/block/loop0").mkdir()
    return tmp_path


def test_recorded_machine_gives_a_valid_glpi_document(tmp_path: Path) -> None:
    document = build_inventory(
        LinuxReader(psutil, recorded_root(tmp_path)), "pc1-abc", "2026-11-28 10:00:00"
    )
    jsonschema.validate(document, schema())
    content = document["content"]
    assert document["itemtype"] == "Computer"
    assert content["bios"] == {
        "bdate": "2016-02-06",
        "bmanufacturer": "Dell Inc.",
        "bversion": "1.4.3",
        "smanufacturer": "Dell Inc.",
        "smodel": "Latitude 5480",
        "ssn": "640HP72",
        "mmanufacturer": "Dell Inc.",
        "mmodel": "07TYC2",
    }
    assert content["hardware"]["chassis_type"] == "Notebook"
    assert content["cpus"] == [
        {
            "name": "Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz",
            "manufacturer": "Intel",
            "core": 2,
            "thread": 4,
            "speed": 2600,
            "arch": content["cpus"][0]["arch"],
            "familynumber": "6",
            "model": "142",
            "stepping": 9,
        }
    ]
    assert [s["name"] for s in content["softwares"]] == ["firefox-esr", "libreoffice-writer"]
    assert content["storages"] == [
        {
            "name": "sda",
            "model": "SAMSUNG MZ7LN256",
            "serial": "S2R5NX0H612345",
            "disksize": 256060,
            "type": "disk",
            "description": "SATA/SCSI",
        }
    ]
    assert content["operatingsystem"]["full_name"] == "Debian GNU/Linux 12 (bookworm)"


def test_this_machine_gives_a_valid_glpi_document() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "vigie-agent"), "inventory"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    document = json.loads(done.stdout)
    jsonschema.validate(document, schema())
    assert document["content"]["hardware"]["memory"] == psutil.virtual_memory().total // 2**20


def test_dmidecode_modules() -> None:
    modules = parse_dmidecode_memory((TEST_DATA / "inventory/dmidecode-t17.txt").read_text())
    assert [(m["caption"], m["capacity"], m["serialnumber"]) for m in modules] == [
        ("ChannelA-DIMM0", 8192, "371A8C2F"),
        ("ChannelB-DIMM1", 4096, "21A7F3B0"),
    ]


def test_dpkg_status_keeps_installed_packages_only() -> None:
    names = [p["name"] for p in parse_dpkg_status(DPKG_STATUS)]
    assert names == ["firefox-esr", "libreoffice-writer"]


def test_volatile_values_do_not_change_the_hash(tmp_path: Path) -> None:
    document = build_inventory(
        LinuxReader(psutil, recorded_root(tmp_path)), "pc1", "2026-11-28 10:00:00"
    )
    later = copy.deepcopy(document)
    later["content"]["accesslog"]["logdate"] = "2026-11-29 10:00:00"
    for drive in later["content"].get("drives", []):
        drive["free"] = 1
    assert change_hash(later) == change_hash(document)
    later["content"]["softwares"].append({"name": "vlc", "version": "3.0.20"})
    assert change_hash(later) != change_hash(document)


def post(url: str, body: bytes, token: str, batch: str = "") -> int:
    headers = {"Content-Encoding": "gzip", **({"X-Vigie-Batch": batch} if batch else {})}
    return services.post(url, gzip.compress(body), token, headers)[0]


def test_collector_keeps_latest_and_reports_changes(tmp_path: Path) -> None:
    document = build_inventory(
        LinuxReader(psutil, recorded_root(tmp_path)), "pc1", "2026-11-28 10:00:00"
    )
    document["content"]["memories"] = parse_dmidecode_memory(
        (TEST_DATA / "inventory/dmidecode-t17.txt").read_text()
    )
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Tournon", "mairie-pc1")
        reader = collector.token("", "", role="reader")
        url = f"{collector.url}/api/v1/inventory"
        assert post(url, json.dumps(document).encode(), token, "a:1") == 204
        changed = copy.deepcopy(document)
        changed["content"]["memories"].pop()  # RAM removed
        changed["content"]["softwares"].append({"name": "vlc", "version": "3.0.20-0+deb12u1"})
        assert post(url, json.dumps(changed).encode(), token, "a:2") == 204
        assert post(url, json.dumps(document).encode(), token, "a:1") == 204  # replay: ignored
        got = get_json(f"{collector.url}/api/v1/inventory/Tournon/mairie-pc1", reader)
        assert got["document"] == changed
        summary = {(c["section"], c["change"], c["item"]) for c in got["changes"]}
        assert summary == {("memories", "removed", "ChannelB-DIMM1"), ("softwares", "added", "vlc")}
        other = collector.token("Tournon", "mairie-pc2")
        assert post(f"{url}?host=mairie-pc1", json.dumps(document).encode(), other) == 403
        assert post(url, b"{not json", token) == 400
        assert post(url, json.dumps({"content": {}}).encode(), token) == 400


def test_diff_names_what_changed() -> None:
    old = {
        "content": {
            "softwares": [{"name": "firefox-esr", "version": "115.5"}],
            "operatingsystem": {"full_name": "Windows 10 Pro"},
        }
    }
    new = {
        "content": {
            "softwares": [{"name": "firefox-esr", "version": "115.6"}],
            "operatingsystem": {"full_name": "Windows 11 Pro"},
        }
    }
    changes = diff_inventories(old, new)
    assert [(c.section, c.change, c.item, c.before, c.after) for c in changes] == [
        ("softwares", "changed", "firefox-esr", "115.5", "115.6"),
        ("operatingsystem", "changed", "full_name", "Windows 10 Pro", "Windows 11 Pro"),
    ]


@pytest.mark.parametrize("name", ["computer_1.json"])
def test_glpi_examples_are_accepted_by_the_validator(name: str) -> None:
    from collector.inventory import validate_document

    example = json.loads(reference("glpi-inventory", "examples", name).read_text())
    assert validate_document(example) is None


@pytest.mark.services
def test_inventory_agrees_with_fusioninventory_on_this_machine() -> None:
    """GLPI's own agent family (FusionInventory 2.6) and Vigie read the same machine alike."""
    program = services.binary("fusioninventory-inventory")
    done = subprocess.run([program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # The output of a program the test runs on this machine, not outside input.
    theirs = ElementTree.fromstring(done.stdout).find("CONTENT")  # noqa: S314
    assert theirs is not None
    command = [str(VENV_BIN / "vigie-agent"), "inventory"]
    ours = json.loads(subprocess.run(command, capture_output=True, timeout=120).stdout)["content"]

    def rows(tag: str, *fields: str) -> set[tuple[str, ...]]:
        return {tuple(e.findtext(f) or "" for f in fields) for e in theirs.iter(tag)}

    def mine(section: str, *fields: str) -> set[tuple[str, ...]]:
        return {tuple(str(item.get(f, "")) for f in fields) for item in ours.get(section, [])}

    assert mine("softwares", "name", "version") == rows("SOFTWARES", "NAME", "VERSION")
    assert str(ours["hardware"]["memory"]) == theirs.findtext("HARDWARE/MEMORY")
    assert mine("cpus", "name", "core", "thread") == rows("CPUS", "NAME", "CORE", "THREAD")
    assert mine("storages", "name", "disksize") == rows("STORAGES", "NAME", "DISKSIZE")
    # Drives in MiB, one per device (bind mounts of / are not a second drive).
    assert mine("drives", "type", "total", "filesystem") == rows(
        "DRIVES", "TYPE", "TOTAL", "FILESYSTEM"
    )
    assert ours["operatingsystem"]["version"] == theirs.findtext("OPERATINGSYSTEM/VERSION")
