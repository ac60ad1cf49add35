"""The agent on a real Windows CPython 3.11 (python.org's embeddable build) under Wine: each
test runs the agent's own Windows code paths (psutil's Windows backend, WMI over COM,
winreg, the Service Control Manager) and checks what a user would see."""

from __future__ import annotations

import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.inventory.registry import UNINSTALL, UNINSTALL_32
from tests.services import (
    SnmpAgent,
    get_json,
    make_ca,
    reference,
    run_collector,
    spool_depth,
    stored_batches,
    wait_for,
)
from tests.wine import Windows
from windows.package import build as build_package

pytestmark = pytest.mark.services

SERVICE_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\VigieAgent"
EMILIE = "S-1-5-21-1004336348-1177238915-682003330-1001"
PROGRAMS = {
    rf"HKLM\{UNINSTALL}\{{D5F6B1A2-0C3E-4C1B-9F5E-7E2A1C7B1001}}": {
        "DisplayName": "LibreOffice 7.6.4.1",
        "DisplayVersion": "7.6.4.1",
        "Publisher": "The Document Foundation",
        "InstallDate": "20240115",
        "EstimatedSize": 345000,
    },
    rf"HKLM\{UNINSTALL}\KB5034441": {
        "DisplayName": "Mise à jour de sécurité KB5034441",
        "ParentKeyName": "OperatingSystem",
    },
    rf"HKLM\{UNINSTALL}\Hidden": {"DisplayName": "Pilote interne", "SystemComponent": 1},
    rf"HKLM\{UNINSTALL_32}\7-Zip": {
        "DisplayName": "7-Zip 23.01",
        "DisplayVersion": "23.01",
        "Publisher": "Igor Pavlov",
    },
    rf"HKLM\{UNINSTALL_32}\Berger-Levrault": {
        "DisplayName": "e.magnus Gestion financière",
        "DisplayVersion": "2024.2 (révision 3)",
        "Publisher": "Berger-Levrault",
    },
    rf"HKU\{EMILIE}\{UNINSTALL}\ZoomUMX": {
        "DisplayName": "Zoom Workplace",
        "DisplayVersion": "6.0.2 (33403)",
    },
    rf"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\{EMILIE}": {
        "ProfileImagePath": r"C:\Users\Émilie",
    },
    r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion": {
        "DisplayVersion": "22H2",
        "EditionID": "Professional",
        "UBR": 3803,
    },
}


def agent(windows: Windows, *args: str) -> Any:
    done = windows.run("-m", "agent.cli", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def inventory(windows: Windows) -> dict[str, Any]:
    written = windows.run("-m", "tests.win_registry", "write", input=json.dumps(PROGRAMS))
    assert written.returncode == 0, written.stderr
    return dict(json.loads(agent(windows, "inventory").stdout))


def test_collect_once_survives_disabled_performance_counters(windows: Windows) -> None:
    done = agent(windows, "collect", "--once")
    lines = done.stdout.splitlines()
    measurements = {line.split(",", 1)[0] for line in lines}
    assert {"cpu", "mem", "system", "disk", "net", "processes"} <= measurements
    # Wine has no performance counters: load and swap fail alone, logged once each.
    assert "PdhAddEnglishCounterW failed" in done.stderr
    system = next(line for line in lines if line.startswith("system,"))
    assert "n_cpus=" in system and "load1=" not in system
    disk = [line for line in lines if line.startswith("disk,")]
    assert disk and all(",path=C:," in line or ",path=" in line for line in disk)
    assert any(",path=C:," in line for line in disk), disk


def test_inventory_is_glpi_valid_and_reads_wmi(inventory: dict[str, Any]) -> None:
    schema = json.loads(reference("glpi-inventory", "inventory.schema.json").read_text())
    jsonschema.validate(inventory, schema)
    content = inventory["content"]
    assert content["operatingsystem"]["full_name"] == "Microsoft Windows 10 Pro"
    assert content["operatingsystem"]["version"] == "22H2"
    assert content["operatingsystem"]["kernel_version"].endswith(".3803")
    assert content["operatingsystem"]["install_date"] == "2014-01-01 00:00:00"
    assert content["cpus"] and content["cpus"][0]["core"] >= 1
    assert content["bios"]["smanufacturer"] == "The Wine Project"
    assert content["hardware"]["uuid"]
    assert any(d["letter"] == "C:" and d["total"] > 0 for d in content["drives"])
    assert content["storages"][0]["disksize"] > 0
    # Wine gives no swap (no performance counters): that field alone is missing.
    assert "memory" in content["hardware"] and "swap" not in content["hardware"]
    assert inventory["deviceid"].count("-") >= 1


def test_inventory_software_from_every_uninstall_key(inventory: dict[str, Any]) -> None:
    programs = {s["name"]: s for s in inventory["content"]["softwares"]}
    assert programs["LibreOffice 7.6.4.1"]["version"] == "7.6.4.1"
    assert programs["LibreOffice 7.6.4.1"]["install_date"] == "2024-01-15"
    assert programs["LibreOffice 7.6.4.1"]["guid"] == "{D5F6B1A2-0C3E-4C1B-9F5E-7E2A1C7B1001}"
    assert programs["LibreOffice 7.6.4.1"]["filesize"] == 345000 * 1024
    assert programs["7-Zip 23.01"]["arch"] == "i586"
    # Accents survive winreg, the JSON and the pipe (UTF-8, not the ANSI code page).
    assert programs["e.magnus Gestion financière"]["version"] == "2024.2 (révision 3)"
    assert programs["Zoom Workplace"]["username"] == "Émilie"
    assert programs["Zoom Workplace"]["userid"] == EMILIE
    assert "Pilote interne" not in programs
    assert "Mise à jour de sécurité KB5034441" not in programs


def windows_agent_config(windows: Windows, folder: str, url: str, token: str, host: str) -> Path:
    """An agent.toml on T:\\folder reporting to `url` every second, with Windows paths."""
    root = windows.scratch / folder
    root.mkdir()
    (root / "agent.token").write_text(token + "\n")
    config = root / "agent.toml"
    config.write_text(
        f'[agent]\nsite = "mairie"\nhost = "{host}"\ninterval = 1\n'
        f'[collector]\nurl = "{url}"\ntoken_file = "agent.token"\ntimeout = 5\n'
        '[spool]\npath = "spool.db"\n'
    )
    return config


def registry_values(windows: Windows, key: str) -> dict[str, Any]:
    done = windows.run("-m", "tests.win_registry", "read", key)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def wait_for_state(windows: Windows, state: str) -> None:
    def reached() -> bool:
        return str(agent(windows, "service", "status").stdout).strip() == state

    wait_for(reached, 60, f"the service to be {state}", own=True)


def sc(windows: Windows, *args: str) -> str:
    done = windows.run(*args, program="sc")
    return done.stdout


def test_service_installed_started_stopped_with_nothing_lost(
    windows: Windows, tmp_path: Path
) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("mairie", "pc-accueil")
        config = windows_agent_config(windows, "svc", collector.url, token, "pc-accueil")
        win_config = windows.path(config)
        assert agent(windows, "service", "status").stdout.strip() == "not installed"
        installed = agent(windows, "service", "install", "--config", win_config)
        assert "VigieAgent installed" in installed.stdout
        again = agent(windows, "service", "install", "--config", win_config)
        assert "VigieAgent updated" in again.stdout  # idempotent
        registered = registry_values(windows, SERVICE_KEY)
        assert "agent.cli service run" in registered["ImagePath"]
        assert registered["Start"] == 2  # automatic, at boot
        assert registered["Description"].startswith("Vigie")
        # The recovery actions (restart after 60 s) are accepted, but Wine's SCM does not
        # keep them ("SERVICE_CONFIG_FAILURE_ACTIONS not implemented"): real Windows only.
        sc(windows, "start", "VigieAgent")
        wait_for_state(windows, "running")
        reader = collector.token("", "", role="reader")
        wait_for(
            lambda: len(cpu_points(collector.url, reader, "pc-accueil")) >= 3,
            60,
            "points from the Windows service",
            own=True,
        )
        sc(windows, "stop", "VigieAgent")
        wait_for_state(windows, "stopped")
        log = (config.parent / "logs" / "vigie-agent.log").read_text(encoding="utf-8")
        assert "agent stopped" in log, log[-2000:]
        # What the agent had not sent when it stopped waits in its spool for the next start.
        waiting = spool_depth(config.parent / "spool.db")
        seqs, _ = stored_batches(collector.config.parent / "collector.db")
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) + waiting >= 3
        removed = agent(windows, "service", "uninstall")
        assert "removed" in removed.stdout
        assert agent(windows, "service", "status").stdout.strip() == "not installed"


def test_service_run_from_a_prompt_says_what_to_use(windows: Windows) -> None:
    root = windows.scratch / "prompt"
    root.mkdir()
    (root / "agent.toml").write_text('[agent]\nsite = "mairie"\n[spool]\npath = "spool.db"\n')
    done = windows.run(
        "-m", "agent.cli", "service", "run", "--config", windows.path(root / "agent.toml")
    )
    assert done.returncode == 1
    assert "use `vigie-agent run`" in done.stderr


@pytest.fixture(scope="module")
def package(windows: Windows, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Windows package built by `./dev.sh windows-package`, unzipped on T:."""
    built = build_package(tmp_path_factory.mktemp("dist"))
    with zipfile.ZipFile(built) as archive:
        archive.extractall(windows.scratch / "pkg")
    return windows.scratch / "pkg" / built.stem / "setup.cmd"


def setup_cmd(windows: Windows, setup: Path, *args: str) -> Any:
    return windows.run("/c", windows.path(setup), *args, program="cmd", timeout=300)


def test_package_installs_enrolls_sends_and_uninstalls(
    windows: Windows, package: Path, tmp_path: Path
) -> None:
    ca, cert, key = make_ca(windows.scratch / "pki", "Syndicat")
    with run_collector(tmp_path / "collector", tls=(cert, key)) as collector:
        code = collector.cli("enroll", "create", "--site", "mairie", "--uses", "2")
        options = ("--collector", collector.url, "--enroll", code, "--host", "pc-mairie-01")
        untrusted = setup_cmd(windows, package, *options)
        assert untrusted.returncode == 1
        assert "not trusted" in untrusted.stderr and "--ca-file" in untrusted.stderr
        trusted = (*options, "--ca-file", windows.path(ca))
        done = setup_cmd(windows, package, *trusted)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "enrolled as mairie/pc-mairie-01" in done.stdout
        program = windows.drive_c(r"C:\Program Files\Vigie\python\python.exe")
        data = windows.drive_c(r"C:\ProgramData\Vigie")
        assert program.exists() and (data / "agent.toml").exists()
        # The token: no entry for Everyone or Users (Wine maps DACLs to Unix modes).
        sddl = windows.run(
            "-c",
            "import pathlib, agent.winacl as a; "
            r"print(a.dacl_sddl(pathlib.Path(r'C:\ProgramData\Vigie\agent.token')))",
        ).stdout
        assert "SY" in sddl and not {"WD", "BU", "AU"} & set(re.findall(r";;;(\w+)\)", sddl))
        assert (data / "agent.token").stat().st_mode & 0o007 == 0
        reader = collector.token("", "", role="reader")
        wait_for(
            lambda: bool(cpu_points(collector.url, reader, "pc-mairie-01")),
            90,
            "points from the installed service",
            own=True,
        )
        again = setup_cmd(windows, package, *trusted)
        assert again.returncode == 0 and "already enrolled" in again.stdout
        assert "1/2 uses" in collector.cli("enroll", "list")
        removed = setup_cmd(windows, package, "--uninstall")
        assert removed.returncode == 0, removed.stderr
        assert agent(windows, "service", "status").stdout.strip() == "not installed"
        assert not program.exists() and (data / "agent.token").exists()
        purged = setup_cmd(windows, package, "--uninstall", "--purge")
        assert purged.returncode == 0 and not data.exists()


def cpu_points(url: str, reader: str, host: str) -> list[Any]:
    series = get_json(
        f"{url}/api/v1/query?measurement=cpu&field=usage_idle&host={host}"
        f"&start={int(time.time()) - 600}",
        reader,
    )["series"]
    return list(series[0]["points"]) if series else []


def test_site_poller_polls_snmp_devices_from_windows(windows: Windows, snmpsim: SnmpAgent) -> None:
    root = windows.scratch / "poller"
    root.mkdir()
    (root / "agent.toml").write_text(
        '[agent]\nsite = "mairie"\n[spool]\npath = "spool.db"\n'
        "[[devices]]\n"
        f'name = "copieur"\naddress = "{snmpsim.address}"\nkind = "printer"\nreach = "icmp"\n'
        f'snmp = {{ version = "2c", community = "vigie/printer-hp-m507" }}\n'
        "[[devices]]\n"
        f'name = "onduleur"\naddress = "{snmpsim.address}"\nkind = "ups"\n'
        f'snmp = {{ version = "3", user = "{snmpsim.user}", auth_key = "{snmpsim.auth_key}", '
        f'priv_key = "{snmpsim.priv_key}", context = "vigie/ups-rfc1628" }}\n'
    )
    done = windows.run("-m", "agent.cli", "poll", "--config", windows.path(root / "agent.toml"))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    # ICMP through IcmpSendEcho (no administrator right), answered by the loopback.
    ping = next(line for line in lines if line.startswith("ping,") and "host=copieur" in line)
    assert "method=icmp" in ping and "up=true" in ping, ping
    assert any(line.startswith("printer_supply,") for line in lines)
    ups = next(line for line in lines if line.startswith("ups,") and "host=onduleur" in line)
    assert "charge_percent=" in ups
    assert all("ok=true" in line for line in lines if line.startswith("device_poll,"))
