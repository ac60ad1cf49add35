"""Series forwarded to VictoriaMetrics (`[series] backend = "victoriametrics"`): every
accepted batch reaches every node from the collector's durable outbox, a node that was down
catches up, and a batch replayed on another collector is stored once."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from collector.config import ConfigError, load_collector_config
from tests.services import (
    Victoria,
    free_port,
    get_json,
    post,
    run_collector,
    run_victoriametrics,
    wait_for,
)  # fmt: skip

pytestmark = pytest.mark.services  # VictoriaMetrics and collectors run for real

NOW = int(time.time()) - 60


def series_config(*nodes: Victoria) -> str:
    urls = ", ".join(f'"{n.url}"' for n in nodes)
    return f'[series]\nbackend = "victoriametrics"\nurls = [{urls}]\nretry_max_seconds = 1\n'


def samples(node: Victoria, metric: str) -> list[tuple[int, float]]:
    """(seconds, value) of every stored sample of `metric`, across its series."""
    return sorted(
        (ts // 1000, value)
        for series in node.export(metric)
        for ts, value in zip(series["timestamps"], series["values"], strict=True)
    )


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def node_outbox(collector_url: str, node: Victoria) -> int:
    """Requests the collector has not yet forwarded to `node`."""
    return int(health(collector_url)["victoriametrics"][node.url]["outbox_requests"])


def test_every_node_gets_every_batch_and_a_node_that_was_down_catches_up(
    tmp_path: Path,
) -> None:
    with (
        run_victoriametrics(tmp_path / "vm1") as first,
        run_victoriametrics(tmp_path / "vm2") as second,
        run_collector(tmp_path / "collector", series_config(first, second)) as collector,
    ):
        token = collector.token("Tournon", "pc-1")
        lines = [f"disk,site=Tournon,host=pc-1,path=C: used_percent={80 + i}.5 {NOW - 60 + i}"
                 for i in range(10)]  # fmt: skip
        assert (
            post(f"{collector.url}/write?precision=s", "\n".join(lines).encode(), token)[0] == 204
        )
        expected = [(NOW - 60 + i, 80.5 + i) for i in range(10)]
        for node in (first, second):
            wait_for(lambda: samples(node, "disk_used_percent") == expected, 30,  # noqa: B023
                     f"{node.url} has the batch")  # fmt: skip
        (series,) = first.export("disk_used_percent")
        assert series["metric"] == {"__name__": "disk_used_percent", "site": "Tournon",
                                    "host": "pc-1", "path": "C:"}  # fmt: skip
        # text is not sent (VictoriaMetrics would store it as 0); the rest of its line is
        poll = f'device_poll,site=Tournon,host=pc-1 ok=false,error="no answer" {NOW}'
        assert post(f"{collector.url}/write?precision=s", poll.encode(), token)[0] == 204
        wait_for(lambda: samples(first, "device_poll_ok") == [(NOW, 0.0)], 30, "device_poll")
        assert first.export("device_poll_error") == []
    # the second node down: the collector acknowledges, keeps the batch, and sends it on return
    with (
        run_victoriametrics(tmp_path / "vm1", port=int(first.url.rsplit(":", 1)[1])) as first,
        run_collector(tmp_path / "collector", series_config(first, second)) as collector,
    ):
        token = collector.token("Tournon", "pc-1")
        late = f"mem,site=Tournon,host=pc-1 used_percent=61.5 {NOW}"
        assert post(f"{collector.url}/write?precision=s", late.encode(), token)[0] == 204
        wait_for(lambda: samples(first, "mem_used_percent") == [(NOW, 61.5)], 30, "vm1")
        wait_for(lambda: node_outbox(collector.url, second) >= 1, 10, "the outbox holds it")
        assert health(collector.url)["victoriametrics"][second.url]["last_error"]
        port = int(second.url.rsplit(":", 1)[1])
        with run_victoriametrics(tmp_path / "vm2", port=port) as second:
            wait_for(lambda: samples(second, "mem_used_percent") == [(NOW, 61.5)], 30, "vm2")
            assert samples(second, "disk_used_percent") == expected  # kept across its restart


def test_a_batch_replayed_on_another_collector_is_stored_once(tmp_path: Path) -> None:
    """An agent that got no answer resends its batch, and the load balancer sends it to
    another collector: both forward it, VictoriaMetrics keeps each sample once."""
    with run_victoriametrics(tmp_path / "vm") as node:
        batch = "\n".join(f"cpu,site=Privas,host=pc-2,cpu=cpu-total usage_idle={50 + i}.0 "
                          f"{NOW - 30 + i}" for i in range(5)).encode()  # fmt: skip
        headers = {"X-Vigie-Batch": "pc-2:17"}
        for name in ("a", "b"):
            with run_collector(tmp_path / name, series_config(node)) as collector:
                token = collector.token("Privas", "pc-2")
                url = f"{collector.url}/write?precision=s"
                assert post(url, batch, token, headers)[0] == 204
                assert post(url, batch, token, headers)[0] == 204  # a replay on the same one
                address = collector.url
                wait_for(lambda: node_outbox(address, node) == 0, 30, "forwarded")  # noqa: B023
        assert samples(node, "cpu_usage_idle") == [(NOW - 30 + i, 50.0 + i) for i in range(5)]


def test_series_settings_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    base = f'[storage]\npath = "{tmp_path}/c.db"\n'
    for body, message in (
        ('[series]\nbackend = "victoriametrics"\n', "needs the nodes' URLs"),
        ('[series]\nbackend = "victoriametrics"\nurls = ["ftp://x"]\n', "http:// or https://"),
        ('[series]\nbackend = "prometheus"\n', "backend"),
    ):
        config.write_text(base + body)
        with pytest.raises(ConfigError, match=message):
            load_collector_config(config)


def fleet_lines(end: int) -> dict[tuple[str, str], list[str]]:
    """Three hours of three hosts on two sites, every 10 s up to `end`: disks (two paths),
    and a network counter that wraps at 2**32 and is reset by a reboot."""
    out: dict[tuple[str, str], list[str]] = {}
    for n, (site, host) in enumerate(
        (("Tournon", "pc-1"), ("Tournon", "pc-2"), ("Mauves", "pc-3"))
    ):
        lines, counter = [], 2**32 - 4_000_000 * (n + 1)
        for i in range(1080):
            ts = end - 10_790 + i * 10
            counter = 123 if i == 700 else (counter + 20_000 + 500 * (i % 7)) % 2**32
            for path, base in (("C:", 40 + n), ("D:", 70 - n)):
                used = base + (i % 50) * 0.25 + (i // 360) * 1.5
                lines.append(f"disk,site={site},host={host},path={path} used_percent={used} {ts}")
            lines.append(f"net,site={site},host={host},interface=eth0 bytes_recv={counter}i {ts}")
        out[site, host] = lines
    return out


def test_queries_answer_from_victoriametrics_as_from_the_embedded_store(tmp_path: Path) -> None:
    """With the series on VictoriaMetrics, `/api/v1/query` reads them through MetricsQL (steps)
    and /api/v1/export (raw points, counter rates) and gives the embedded store's answers:
    steps of every size and aggregate, aligned or not, rollups included; rates across a wrap
    and a reset; a tag filter; a host, a site, the whole fleet."""
    from collector.store.db import connect
    from collector.store.query import SeriesQuery, run_query
    from collector.store.rollup import rolled_until

    end = int(time.time()) - 600
    with (
        run_victoriametrics(tmp_path / "vm") as node,
        run_collector(tmp_path / "collector", series_config(node)) as collector,
    ):
        for (site, host), lines in fleet_lines(end).items():
            token = collector.token(site, host)
            for i in range(0, len(lines), 2000):
                body = "\n".join(lines[i : i + 2000]).encode()
                assert post(f"{collector.url}/write?precision=s", body, token)[0] == 204
        reader = collector.token("", "", role="reader")
        store = connect(tmp_path / "collector" / "collector.db", readonly=True)
        # the store's rollups settled: past the data, and no bucket waiting to be recomputed
        # for the history that arrived late (the node is right before the store is)
        wait_for(lambda: rolled_until(store) > end
                 and store.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,),
                 60, "the store's rollups")  # fmt: skip
        raw_since = int(time.time()) - 90 * 86400
        start = end - 10_000  # not on a step's boundary: partial first steps
        asked = [
            SeriesQuery(
                "disk", "used_percent", start, end - 7, host=host, site=site, step=step, agg=agg
            )
            for site, host in (("Tournon", "pc-1"), ("Tournon", None), (None, None))
            for step in (0, 7, 60, 300, 3600)
            for agg in (("mean", "min", "max", "last") if step else ("mean",))
        ]
        asked += [
            SeriesQuery("disk", "used_percent", end - 7200, end, tags={"path": "D:"}, step=600,
                        agg="max"),
            SeriesQuery("net", "bytes_recv", start, end, site="Tournon", rate=True),
            SeriesQuery("net", "bytes_recv", start, end, host="pc-3", step=60, rate=True),
            SeriesQuery("net", "bytes_recv", start, end, step=900, rate=True),
        ]  # fmt: skip
        for q in asked:
            params = {
                "measurement": q.measurement,
                "field": q.field,
                "start": q.start,
                "end": q.end,
                "step": q.step,
                "agg": q.agg,
                "rate": str(q.rate).lower(),
            }
            params.update({k: v for k, v in (("site", q.site), ("host", q.host)) if v})
            params.update({f"tag.{k}": v for k, v in q.tags.items()})
            url = f"{collector.url}/api/v1/query?{urllib.parse.urlencode(params)}"
            from_node = get_json(url, reader)["series"]
            from_store: list[dict[str, Any]] = run_query(store, q, raw_since)
            assert [s["tags"] for s in from_node] == [s["tags"] for s in from_store], q
            for got, want in zip(from_node, from_store, strict=True):
                assert [ts for ts, _ in got["points"]] == [ts for ts, _ in want["points"]], q
                assert [v for _, v in got["points"]] == pytest.approx(
                    [v for _, v in want["points"]], rel=1e-9
                ), q
            assert from_store and all(s["points"] for s in from_store), q  # not vacuous
        # the answers are the node's: a sample written to it alone shows, raw and in steps
        extra = f"disk,site=Tournon,host=pc-1,path=D: used_percent=99.5 {end - 5}"
        request = urllib.request.Request(f"{node.url}/write?precision=s", extra.encode())
        urllib.request.urlopen(request, timeout=10).read()
        node.flush()
        base = f"{collector.url}/api/v1/query?measurement=disk&field=used_percent&host=pc-1"
        minute = (end - 5) - (end - 5) % 60
        for extra_params, point in (("&tag.path=D:", [end - 5, 99.5]),
                                    ("&tag.path=D:&step=60&agg=max", [minute, 99.5])):  # fmt: skip
            window = f"&start={end - 30}&end={end}"
            found = get_json(base + extra_params + window, reader)["series"]
            assert point in found[0]["points"], (extra_params, found)
    # no node answers: a clear 503, never the embedded store's partial answer in silence
    dead = f'[series]\nbackend = "victoriametrics"\nurls = ["http://127.0.0.1:{free_port()}"]\n'
    with run_collector(tmp_path / "alone", dead) as collector:
        reader = collector.token("", "", role="reader")
        url = f"{collector.url}/api/v1/query?measurement=disk&field=used_percent&start={start}"
        try:
            get_json(url, reader)
            raise AssertionError("answered without a node")
        except urllib.error.HTTPError as err:
            assert err.code == 503
            assert "cannot read the series now" in err.read().decode()


def test_a_node_killed_after_acknowledging_gets_the_last_minute_again(tmp_path: Path) -> None:
    """VictoriaMetrics answers 204 before its data is on disk: SIGKILLed right after, it lost
    what it had just acknowledged. The collector sees the node's new start time and sends the
    last minute of its log again (the node keeps identical samples once), even with no new
    data to forward."""
    port = free_port()
    with (
        run_victoriametrics(tmp_path / "vm", port) as node,
        run_collector(tmp_path / "collector", series_config(node)) as collector,
    ):
        token = collector.token("Privas", "pc-3")
        expected = [(NOW - 20 + i, 40.5 + i) for i in range(20)]
        for ts, value in expected:
            line = f"mem,site=Privas,host=pc-3 used_percent={value} {ts}"
            assert post(f"{collector.url}/write?precision=s", line.encode(), token)[0] == 204
        wait_for(lambda: node_outbox(collector.url, node) == 0, 30, "forwarded")
        node.kill()  # before its in-memory buffer reached the disk
        with run_victoriametrics(tmp_path / "vm", port) as again:
            wait_for(lambda: samples(again, "mem_used_percent") == expected, 30,
                     "the last minute sent again")  # fmt: skip
