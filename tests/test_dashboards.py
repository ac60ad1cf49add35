"""Grafana dashboards: generated reproducibly, valid against Grafana's dashboard schema, and
every query runs against data Vigie really writes: InfluxQL on InfluxDB 1.6.7 (the mirror),
MetricsQL on VictoriaMetrics (the series forwarding)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest

from agent.collectors.smart import parse_smartctl
from agent.service import collect_all, workstation_collectors
from dashboards.build import BUILDERS, DASHBOARDS, HERE, render
from protocol.lineproto import Point, format_points, stamp
from tests.poller_support import poll, snmp_device
from tests.services import (
    Influx,
    SnmpAgent,
    Victoria,
    get_json,
    post,
    reference,
    run_collector,
    run_victoriametrics,
)

pytestmark = pytest.mark.services  # every test here starts real processes

SITE = "Annonay"


def test_committed_dashboards_are_what_the_script_builds() -> None:
    for path in DASHBOARDS:
        assert path.read_text(encoding="utf-8") == render(path), (
            f"{path} is stale: run `python -m dashboards.build`"
        )


def test_dashboards_follow_grafanas_schema() -> None:
    schema = json.loads(reference("grafana", "dashboard.jsonschema.json").read_text())
    for path in DASHBOARDS:
        text = path.read_text(encoding="utf-8")
        assert "${DS_" not in text  # file provisioning does not resolve import placeholders
        jsonschema.validate(json.loads(text), schema)


def queries(dashboard: dict[str, Any], key: str = "query") -> list[str]:
    return [t[key] for p in dashboard["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Victoria]:
    with run_victoriametrics(tmp_path_factory.mktemp("dash-vm")) as node:
        yield node


@pytest.fixture(scope="module")
def fleet_data(
    influxdb: Influx, victoria: Victoria, snmpsim: SnmpAgent,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:  # fmt: skip
    """Real points: this machine's collectors, SMART from a recording, polled devices."""
    now = int(time.time())
    points: list[Point] = stamp(collect_all(workstation_collectors(psutil), now), SITE, "pc-mairie")
    smart = json.loads(reference("smartctl", "smart-ata.json").read_text())
    points += stamp(parse_smartctl(smart, now), SITE, "pc-mairie")
    points.append(
        Point("vigie_agent", {"site": SITE, "host": "pc-mairie"}, {"spool_batches": 0}, now)
    )
    devices = [
        snmp_device(snmpsim, "copieur", "printer", "vigie/printer-hp-m507"),
        snmp_device(snmpsim, "onduleur", "ups", "vigie/ups-rfc1628"),
        snmp_device(snmpsim, "switch", "switch", "vigie/switch-hpe-1820"),
    ]
    for name, found in poll(*devices).items():
        points += stamp([p._replace(time=now) for p in found], SITE, name)
    lines = format_points(points)
    # Through the collector and its InfluxDB mirror, as in production. The same readings a day
    # and a minute earlier too: derivatives and daily differences need two.
    extra = (f'[influxdb]\nurl = "{influxdb.url}"\napi = "v1"\ndatabase = "vigie_dash"\n'
             f'[series]\nbackend = "victoriametrics"\nurls = ["{victoria.url}"]\n')  # fmt: skip
    with run_collector(tmp_path_factory.mktemp("dash-collector"), extra) as collector:
        token = collector.token(SITE, "poste-accueil", role="poller")
        for ago in (86400, 60, 0):
            stamped = [line.rsplit(" ", 1)[0] + f" {now - ago}" for line in lines]
            url = f"{collector.url}/write?db=vigie&precision=s"
            assert post(url, "\n".join(stamped).encode(), token)[0] == 204
        # the mirror has sent everything: the outbox is empty and InfluxDB has the points
        deadline = time.monotonic() + 60
        while (health := get_json(f"{collector.url}/healthz", ""))["influxdb"][
            "outbox_requests"
        ] or (health["victoriametrics"][victoria.url]["outbox_requests"]):
            assert time.monotonic() < deadline, "the mirror did not drain"
            time.sleep(0.5)
    victoria.flush()
    cpu = influxdb.query('SELECT count("usage_idle") FROM "cpu"', db="vigie_dash")
    assert cpu["results"][0]["series"][0]["values"][0][1] >= 3
    written = {(p.measurement, p.tags["host"]) for p in points}
    return {"host.json": "pc-mairie", "network.json": "switch", "written": written, "now": now}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_query_returns_data(name: str, influxdb: Influx, fleet_data: dict[str, Any]) -> None:
    dashboard = json.loads((HERE / name).read_text(encoding="utf-8"))
    host = fleet_data.get(name, "")
    for query in queries(dashboard):
        measurement = re.search(r'FROM "(\w+)"', query)
        assert measurement, query
        concrete = (
            query.replace("$timeFilter", "time > now() - 2d")
            .replace("$__interval", "1m")
            .replace("$site", SITE)
            .replace("$host", host)
        )
        result = influxdb.query(concrete, db="vigie_dash")["results"][0]
        assert "error" not in result, (concrete, result)
        if "ping" in concrete and "false" in concrete:
            continue  # counts unreachable devices: none here, and that is right
        if host and (measurement.group(1), host) not in fleet_data["written"]:
            continue  # e.g. no temperature sensor on this test machine: the query ran cleanly
        assert result.get("series"), f"no data for: {concrete}"


def metric_of(query: str) -> str:
    """The measurement a MetricsQL query reads (its metric's name up to the first field)."""
    found = re.search(r"\b([a-z_]+?)_[a-z_]+\{", query)
    assert found, query
    return found.group(1)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_metricsql_query_returns_data(
    name: str, victoria: Victoria, fleet_data: dict[str, Any]
) -> None:
    """The VictoriaMetrics dashboards' queries and variables, on what the collector forwarded."""
    import urllib.parse

    dashboard = json.loads((HERE / "victoriametrics" / name).read_text(encoding="utf-8"))
    host = fleet_data.get(name, "")
    labels = get_json(f"{victoria.url}/api/v1/label/site/values", "")["data"]
    assert SITE in labels  # what the site variable offers
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = target["expr"].replace("$site", SITE).replace("$host", host)
            args = {"query": query, "time": str(fleet_data["now"])}
            if not target["instant"]:  # the end rounds down to a step: past the last sample
                now = fleet_data["now"]
                args.update(start=str(now - 3600), end=str(now + 120), step="60")
            path = "query" if target["instant"] else "query_range"
            answer = get_json(f"{victoria.url}/api/v1/{path}?{urllib.parse.urlencode(args)}", "")
            assert answer["status"] == "success", (query, answer)
            if "ping_up" in query or "page_count" in query:
                continue  # no unreachable device here; one day of pages needs a day of data
            if host and (metric_of(query), host) not in fleet_data["written"]:
                continue  # e.g. no temperature sensor on this test machine
            assert answer["data"]["result"], f"no data for: {query}"


def test_provisioning_files_name_the_dashboards_folder() -> None:
    provisioning = Path(HERE, "provisioning")
    datasources = (provisioning / "datasource.yaml").read_text()
    assert "type: influxdb" in datasources and "type: prometheus" in datasources
    assert (
        "path: /var/lib/grafana/dashboards/vigie" in (provisioning / "dashboards.yaml").read_text()
    )
