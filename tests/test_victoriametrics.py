"""Series forwarded to VictoriaMetrics (`[series] backend = "victoriametrics"`): every
accepted batch reaches every node from the collector's durable outbox, a node that was down
catches up, and a batch replayed on another collector is stored once."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from collector.config import ConfigError, load_collector_config
from tests.services import Victoria, post, run_collector, run_victoriametrics, wait_for

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
