"""Query latency: vigie-collector's /api/v1/query vs InfluxDB 1.6.7's InfluxQL on the same data,
and the same collector API reading a VictoriaMetrics node (`[series] backend =
"victoriametrics"`) against the node's own MetricsQL, as Grafana would ask it.

All are fed the same lines over HTTP: one workstation's CPU every minute for 30 days, and the
disk of 5,000 hosts for the last 10 minutes. Measured, median and 95th percentile of 20 runs
after a warm-up: a 30-day chart of one series (hourly means, 720 points), and the latest value
of every host (5,000 series). Run: .venv/bin/python -m bench.query
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.services import (
    CollectorProcess,
    get_json,
    post,
    run_collector,
    run_influxdb,
    run_victoriametrics,
)  # fmt: skip

RESULTS = Path(__file__).parent / "results"
HOSTS = 5000
DAYS = 30


def lines(now: int) -> list[str]:
    """The data set, as line protocol (second precision)."""
    start = now - DAYS * 86400
    chart = [
        f"cpu,site=commune000,host=pc00000,cpu=cpu-total usage_idle={50 + (t // 60) % 40}.5 {t}"
        for t in range(start - start % 60 + 60, now, 60)
    ]
    fleet = [
        f"disk,site=commune000,host=pc{h:05d},path=C: used_percent={h % 97}.25 {now - 60 * k}"
        for h in range(HOSTS)
        for k in range(10)
    ]
    return chart + fleet


def rolled_until(store: Path) -> int:
    """The collector's rollup watermark, read from its store."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='rollup_300_until'").fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


def timings(call: Callable[[], Any], runs: int = 20) -> dict[str, float]:
    """Median and p95 in milliseconds, after one warm-up call."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (runs - 1))], 1),
    }


def measure_collector(
    collector: CollectorProcess, folder: Path, batches: list[bytes], now: int
) -> dict[str, Any]:
    """Feed a collector the batches; time its answers to the chart and the latest values."""
    token = collector.token("commune000", "poller", role="poller")
    for body in batches:
        status, text = post(f"{collector.url}/write?precision=s", body, token)
        assert status == 204, text
    reader = collector.token("", "", role="reader")
    chart_url = f"{collector.url}/api/v1/query?" + urllib.parse.urlencode(
        {"measurement": "cpu", "field": "usage_idle", "host": "pc00000",
         "start": now - DAYS * 86400, "end": now, "step": 3600}
    )  # fmt: skip
    latest_url = f"{collector.url}/api/v1/query?" + urllib.parse.urlencode(
        {"measurement": "disk", "field": "used_percent", "start": now - 900,
         "end": now, "step": 900, "agg": "last"}
    )  # fmt: skip
    # A live collector rolls up each window as it closes; here 30 days arrived at once,
    # so wait for the writer's maintenance pass (every 30 s) to catch up, as it would.
    store = folder / "collector.db"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and rolled_until(store) < now - 2 * 3600:
        time.sleep(2)
    assert rolled_until(store) >= now - 2 * 3600, "rollups did not catch up"
    points = get_json(chart_url, reader)["series"][0]["points"]
    latest = get_json(latest_url, reader)["series"]
    assert len(latest) == HOSTS, len(latest)
    return {
        "chart_points": len(points),
        "chart_30d": timings(lambda: get_json(chart_url, reader)),
        "latest_5000_hosts": timings(lambda: get_json(latest_url, reader)),
    }


def measure_node(url: str, now: int) -> dict[str, Any]:
    """The same two questions in MetricsQL, asked of the node itself."""

    def ask(query: str, start: int, step: int) -> Callable[[], Any]:
        params = {"query": query, "start": start, "end": now, "step": step, "nocache": 1}
        full = f"{url}/api/v1/query_range?{urllib.parse.urlencode(params)}"
        return lambda: json.loads(urllib.request.urlopen(full, timeout=60).read())["data"]

    chart = ask('avg_over_time(cpu_usage_idle{host="pc00000"}[1h])', now - DAYS * 86400, 3600)
    latest = ask("last_over_time(disk_used_percent[15m])", now, 900)
    assert len(latest()["result"]) == HOSTS
    return {
        "chart_points": len(chart()["result"][0]["values"]),
        "chart_30d": timings(chart),
        "latest_5000_hosts": timings(latest),
    }


def main() -> None:
    """Load both, measure, print a Markdown table and write bench/results/query.json."""
    now = int(time.time())
    data = lines(now)
    batches = ["\n".join(data[i : i + 5000]).encode() for i in range(0, len(data), 5000)]
    report: dict[str, Any] = {"lines": len(data), "hosts": HOSTS, "days": DAYS}
    with tempfile.TemporaryDirectory() as tmp:
        with run_influxdb(Path(tmp) / "influx") as influx:
            influx.query("CREATE DATABASE bench")
            for body in batches:
                assert influx.write("bench", body.decode()) == 204

            def influx_query(q: str) -> Callable[[], Any]:
                return lambda: influx.query(q, "bench")

            chart_q = (
                "SELECT mean(usage_idle) FROM cpu WHERE host='pc00000' "
                "AND time > now() - 30d GROUP BY time(1h)"
            )
            latest_q = "SELECT last(used_percent) FROM disk WHERE time > now() - 15m GROUP BY host"
            chart = influx.query(chart_q, "bench")["results"][0]["series"][0]["values"]
            latest = influx.query(latest_q, "bench")["results"][0]["series"]
            assert len(latest) == HOSTS, len(latest)
            report["influxdb"] = {
                "chart_points": len(chart),
                "chart_30d": timings(influx_query(chart_q)),
                "latest_5000_hosts": timings(influx_query(latest_q)),
            }
        with run_collector(Path(tmp) / "collector") as collector:
            report["vigie"] = measure_collector(collector, Path(tmp) / "collector", batches, now)
        with run_victoriametrics(Path(tmp) / "vm") as node:
            series = f'[series]\nbackend = "victoriametrics"\nurls = ["{node.url}"]\n'
            with run_collector(Path(tmp) / "on_vm", series) as collector:
                report["vigie_on_victoriametrics"] = measure_collector(
                    collector, Path(tmp) / "on_vm", batches, now
                )
            report["victoriametrics"] = measure_node(node.url, now)
    for name in ("chart_30d", "latest_5000_hosts"):
        report[f"ratio_{name}"] = round(
            report["vigie"][name]["p50_ms"] / report["influxdb"][name]["p50_ms"], 2
        )
        report[f"ratio_on_victoriametrics_{name}"] = round(
            report["vigie_on_victoriametrics"][name]["p50_ms"] / report["vigie"][name]["p50_ms"], 2
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| query | InfluxDB 1.6.7 p50 / p95 (ms) | vigie p50 / p95 (ms) | ratio (p50) |")
    print("|---|---|---|---|")
    for name, label in (("chart_30d", "30-day chart, one series, hourly means"),
                        ("latest_5000_hosts", "latest value of 5,000 hosts")):  # fmt: skip
        i, v = report["influxdb"][name], report["vigie"][name]
        print(
            f"| {label} | {i['p50_ms']} / {i['p95_ms']} | {v['p50_ms']} / {v['p95_ms']} | "
            f"{report[f'ratio_{name}']} |"
        )
    print("\n| query | vigie on SQLite p50 (ms) | vigie on VictoriaMetrics p50 / p95 (ms) | "
          "ratio (p50) | the node's MetricsQL p50 / p95 (ms) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in ("chart_30d", "latest_5000_hosts"):
        v, w = report["vigie_on_victoriametrics"][name], report["victoriametrics"][name]
        print(
            f"| {name} | {report['vigie'][name]['p50_ms']} | {v['p50_ms']} / {v['p95_ms']} | "
            f"{report[f'ratio_on_victoriametrics_{name}']} | {w['p50_ms']} / {w['p95_ms']} |"
        )


if __name__ == "__main__":
    main()
