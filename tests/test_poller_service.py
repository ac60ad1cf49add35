"""The site poller in the running agent and in `vigie-agent poll`, with real peers."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.services import (
    VENV_BIN,
    SnmpAgent,
    SshServer,
    agent_config,
    get_json,
    query_series,
    run_collector,
    start_agent,
)

pytestmark = pytest.mark.services  # every test here starts real processes


def devices_toml(snmpsim: SnmpAgent, sshd: SshServer) -> str:
    return f"""
[[devices]]
name = "copieur"
address = "{snmpsim.address}"
kind = "printer"
interval = 10
reach = "tcp"
snmp = {{ version = "2c", community = "vigie/printer-hp-m507" }}

[[devices]]
name = "nas"
address = "{sshd.host}"
kind = "linux"
interval = 10
reach = "off"
ssh.user = "{sshd.user}"
ssh.key_file = "{sshd.client_key}"
ssh.host_key = "{sshd.host_key_line}"
ssh.port = {sshd.port}
"""


def test_poll_command_prints_lines_and_fails_on_a_bad_device(
    snmpsim: SnmpAgent, sshd: SshServer, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nsite = "Privas"\nhost = "poste-accueil"\n[spool]\npath = "{tmp_path}/spool.db"\n'
        + devices_toml(snmpsim, sshd)
    )
    vigie_agent = str(VENV_BIN / "vigie-agent")
    done = subprocess.run(
        [vigie_agent, "poll", "--config", str(config), "--device", "copieur"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("printer_supply,host=copieur,site=Privas") for line in lines)
    assert not any("host=nas" in line for line in lines)
    # a device that does not answer: exit status 1, the reason on stderr and in device_poll
    config.write_text(config.read_text().replace("vigie/printer-hp-m507", "no-such-community"))
    done = subprocess.run(
        [vigie_agent, "poll", "--config", str(config), "--device", "copieur"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "wrong community" in done.stderr
    # tagged with the agent that polls it, for the device's page
    status = "device_poll,host=copieur,kind=printer,method=snmp,poller=poste-accueil,site=Privas"
    assert f"{status} ok=false" in done.stdout
    unknown = subprocess.run(
        [vigie_agent, "poll", "--config", str(config), "--device", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 2 and "copieur, nas" in unknown.stderr


def test_running_agent_polls_devices_into_the_collector(
    snmpsim: SnmpAgent, sshd: SshServer, tmp_path: Path
) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "poste-accueil", role="poller")
        reader = collector.token("", "", role="reader")
        config = agent_config(
            tmp_path, collector.url, token, "Privas", "poste-accueil", devices_toml(snmpsim, sshd)
        )
        agent = start_agent(config)
        try:
            deadline = time.monotonic() + 60
            toner: list[dict] = []  # type: ignore[type-arg]
            nas_mem: list[dict] = []  # type: ignore[type-arg]
            inventory = None
            while time.monotonic() < deadline and not (toner and nas_mem and inventory):
                time.sleep(1)
                common = {"site": "Privas", "start": str(int(time.time()) - 600)}
                supply = {"measurement": "printer_supply", "field": "percent", "host": "copieur"}
                toner = query_series(
                    f"{collector.url}/api/v1/query?" + urlencode({**common, **supply}), reader
                )
                nas_mem = query_series(
                    f"{collector.url}/api/v1/query?"
                    + urlencode({**common, "measurement": "mem", "field": "total", "host": "nas"}),
                    reader,
                )
                try:
                    inventory = get_json(f"{collector.url}/api/v1/inventory/Privas/copieur", reader)
                except OSError:
                    inventory = None
        finally:
            agent.terminate()
            output = agent.communicate(timeout=30)[0]
        assert agent.returncode == 0, output
        assert toner and toner[0]["points"][-1][1] == 8.0, output
        assert nas_mem and nas_mem[0]["points"][-1][1] > 0, output
        assert inventory is not None, output
        assert inventory["document"]["itemtype"] == "Printer"
