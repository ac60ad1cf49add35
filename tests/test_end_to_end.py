"""The first slice, with real processes: vigie-agent run -> vigie-collector run -> query."""

from __future__ import annotations

import contextlib
import gzip
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

from tests.services import (
    CollectorProcess,
    agent_config,
    get_json,
    post,
    query_series,
    run_collector,
    start_agent,
)

pytestmark = pytest.mark.services  # every test here starts real processes


def query(collector: CollectorProcess, token: str, **params: str) -> list[dict]:  # type: ignore[type-arg]
    return query_series(f"{collector.url}/api/v1/query?{urlencode(params)}", token)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    with run_collector(tmp_path / "collector") as running:
        yield running


def test_agent_reports_cpu_and_mem_to_collector(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    token = collector.token("Annonay", "mairie-pc1")
    reader = collector.token("", "", role="reader")
    config = agent_config(tmp_path, collector.url, token, "Annonay", "mairie-pc1")
    agent = start_agent(config)
    try:
        deadline = time.monotonic() + 30
        cpu: list[dict] = []  # type: ignore[type-arg]
        while time.monotonic() < deadline and not (cpu and len(cpu[0]["points"]) >= 2):
            time.sleep(0.5)
            cpu = query(collector, reader, measurement="cpu", field="usage_idle", site="Annonay")
        assert cpu, "no cpu point reached the collector"
        assert cpu[0]["tags"] == {"cpu": "cpu-total", "site": "Annonay", "host": "mairie-pc1"}
        assert all(0.0 <= value <= 100.0 for _, value in cpu[0]["points"])
        mem = query(collector, reader, measurement="mem", field="total", host="mairie-pc1")
        assert mem[0]["points"][-1][1] == psutil.virtual_memory().total
        # The inventory, read by a short-lived child of the agent, arrives too.
        url = f"{collector.url}/api/v1/inventory/Annonay/mairie-pc1"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.HTTPError):
                inventory = get_json(url, reader)
                break
            time.sleep(0.5)
        content = inventory["document"]["content"]
        assert content["hardware"]["name"] == "mairie-pc1"
        assert content["memories"] or content["cpus"]
    finally:
        agent.terminate()
        assert agent.wait(15) == 0, agent.stdout.read() if agent.stdout else ""


def test_bad_token_is_refused_and_nothing_is_stored(collector: CollectorProcess) -> None:
    reader = collector.token("", "", role="reader")
    line = b"cpu,site=Annonay,host=intrus usage_idle=1 1700000000\n"
    url = f"{collector.url}/write?precision=s"
    assert post(url, line, "vgt_not-a-token")[0] == 401
    assert post(url, gzip.compress(line), "", {"Content-Encoding": "gzip"})[0] == 401
    found = query(
        collector,
        reader,
        measurement="cpu",
        field="usage_idle",
        start="1699990000",
        end="1700010000",
    )
    assert found == []


def test_collector_stops_cleanly_on_sigterm(collector: CollectorProcess) -> None:
    assert collector.stop() == 0


def test_demo_reports_this_machine_and_opens_the_web_ui(tmp_path: Path) -> None:
    import re
    import signal
    import subprocess

    import httpx

    from tests.services import VENV_BIN, free_port

    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "vigie-collector"), "demo", "--listen", f"127.0.0.1:{port}",
         "--dir", str(tmp_path / "demo"), "--interval", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(5))
        password = re.search(r"user demo, password (\S+)\)", banner)
        token = re.search(r"Read token: (\S+)", banner)
        assert password and token, banner
        # Its config is a real file that every command takes.
        config = tmp_path / "demo" / "collector.toml"
        assert f"Config: {config}" in banner
        added = subprocess.run(
            [str(VENV_BIN / "vigie-collector"), "user", "add", "marie", "--role", "reader",
             "--config", str(config)],
            input="un mot de passe assez long\n", capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 40
        series: list[object] = []
        while time.monotonic() < deadline and not series:
            time.sleep(0.5)
            try:
                series = get_json(
                    f"{base}/api/v1/query?measurement=cpu&field=usage_idle&site=demo",
                    token.group(1),
                )["series"]
            except OSError:
                continue
        assert series, "the demo agent sent nothing"
        with httpx.Client(base_url=base) as client:
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert csrf
            client.post(
                "/login",
                data={"csrf": csrf.group(1), "username": "demo", "password": password.group(1)},
            )
            page = client.get("/sites/demo")
            assert page.status_code == 200 and "this-machine" in page.text
            # a living fleet on first run: three communes' week, their alerts, a forecast
            deadline = time.monotonic() + 60
            while (
                time.monotonic() < deadline and not (tmp_path / "demo" / "demo-fleet.sent").exists()
            ):
                time.sleep(0.5)
            fleet = client.get("/").text
            assert all(c in fleet for c in ("Saint-Agrève", "Lamastre", "Vernoux")), fleet
            assert "pc-secretariat" in fleet.split('id="silent"')[1]
            device = client.get("/sites/Saint-Agr%C3%A8ve/hosts/pc-mairie").text
            assert "Prévision : Disque C: atteindra 100,0 %" in device
            assert "LibreOffice 7.5.9 → 7.6.4" in device
            copier = client.get("/sites/Saint-Agr%C3%A8ve/hosts/copieur").text
            assert "Prévision : Toner noir atteindra 0,0 %" in copier
            deadline = time.monotonic() + 60
            firing: list[str] = []
            while time.monotonic() < deadline and not {"ups_on_battery", "disk_full_7d"} <= set(
                firing
            ):
                time.sleep(1)
                alerts = get_json(f"{base}/api/v1/alerts?state=firing", token.group(1))
                firing = [a["rule"] for a in alerts["alerts"]]
            assert {"ups_on_battery", "disk_full_7d"} <= set(firing), firing
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
