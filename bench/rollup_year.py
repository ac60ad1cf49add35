"""A year of rollups: the 5-minute rollup pass and a 1-year chart, vigie vs InfluxDB 1.6.7.

The store holds what a collector holds after a year: 5-minute and hourly buckets of
`disk used_percent` for every host over 365 days, and the raw samples of the window now
closing. The buckets are written straight into SQLite (the ingest path is measured by
bench.ingest); the series through the collector's own indexer. Measured:

- the rollup pass over that window, every series (what the index process does every 5
  minutes), hourly step included, with the rollup table keyed as before issue 17,
  `(series_id, res, field, bucket)`, and as now, `(series_id, res, bucket, field)`;
- a 1-year chart of one host at a one-day step (365 points, from hourly buckets) through
  `/api/v1/query` of a running collector, against InfluxDB 1.6.7 holding the same 5-minute
  means (`SELECT mean(used_percent) … GROUP BY time(1d)`).

Run: .venv/bin/python -m bench.rollup_year --hosts 5000 --compare-hosts 500 --influx-hosts 50
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.query import timings
from collector.ingest.lineproto import HeadCache, parse_rows
from collector.ingest.write import with_identity
from collector.store.db import open_store, write_mark
from collector.store.indexer import Indexer
from collector.store.rollup import GRACE, HOUR, roll_up
from tests.services import get_json, run_collector, run_influxdb

RESULTS = Path(__file__).parent / "results"
YEAR = 365 * 86400
OLD_KEY = """
DROP TABLE rollup;
CREATE TABLE rollup (
    series_id INTEGER NOT NULL, field TEXT NOT NULL, res INTEGER NOT NULL,
    bucket INTEGER NOT NULL, min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL,
    count INTEGER NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (series_id, res, field, bucket)
) WITHOUT ROWID;
"""
# A slow year-long rise per host, as buckets of 5 samples each.
_FILL = """
INSERT INTO rollup (series_id, field, res, bucket, min, max, sum, count, last)
WITH RECURSIVE b(t) AS (SELECT ? UNION ALL SELECT t + ? FROM b WHERE t + ? < ?)
SELECT s.id, 'used_percent', ?, t, v, v, v * 5, 5, v
FROM (SELECT id FROM series WHERE id >= ? AND id < ?) AS s
CROSS JOIN (SELECT t, 30 + round(60.0 * (t - ?) / ?, 2) AS v FROM b)
"""  # CROSS JOIN keeps `s` the outer loop: rows come in key order, no sort


def window_of(now: int) -> int:
    """The start of the 5-minute window the next rollup pass closes."""
    closed = now - GRACE
    return closed - closed % 300 - 300


def fill(store: Path, hosts: int, now: int, old_key: bool) -> dict[str, Any]:
    """A year of buckets for `hosts` hosts and the raw samples of the closing window."""
    started = time.perf_counter()
    conn = open_store(store)
    if old_key:
        conn.executescript(OLD_KEY)
    window = window_of(now)
    text = "\n".join(
        f"disk,site=commune{h % 500:03d},host=pc{h:05d},path=C: used_percent=90 {window + 60 * k}"
        for h in range(hosts)
        for k in range(5)
    )
    conn.execute("BEGIN")
    Indexer(conn, HeadCache()).index(with_identity(parse_rows(text, "s", now), "", ""))
    write_mark(conn, "rollup_300_until", window)
    conn.execute("COMMIT")
    start = window - YEAR
    for res, first, end in ((300, start, window), (HOUR, start - start % HOUR, window)):
        for low in range(1, hosts + 1, 50):
            conn.execute("BEGIN")
            conn.execute(_FILL, (first, res, res, end, res, low, low + 50, start, YEAR))
            conn.execute("COMMIT")
    rows = conn.execute("SELECT count(*) FROM rollup").fetchone()[0]
    conn.close()  # no ANALYZE: the collector never runs one, so its planner has no statistics
    size = sum(p.stat().st_size for p in store.parent.glob(store.name + "*"))
    return {
        "rollup_rows": rows,
        "store_gib": round(size / 2**30, 2),
        "fill_s": round(time.perf_counter() - started, 1),
    }


def rollup_pass(store: Path, now: int) -> float:
    """Seconds for the rollup pass over the closing window (every step, committed)."""
    conn = sqlite3.connect(store, isolation_level=None)
    started = time.perf_counter()
    more = True
    while more:
        conn.execute("BEGIN IMMEDIATE")
        more = roll_up(conn, now)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    hours = conn.execute(
        "SELECT count(*) FROM rollup WHERE res = 3600 AND bucket = ?",
        (window_of(now) - window_of(now) % HOUR,),
    ).fetchone()[0]
    conn.close()
    assert hours > 0, "the pass wrote no hourly bucket"
    return seconds


def vigie_chart(folder: Path, now: int) -> dict[str, Any]:
    """The 1-year chart from a running collector on the filled store (and how long the
    collector took to start on it)."""
    started = time.perf_counter()
    with run_collector(folder, ready_within=3600) as collector:
        start_s = round(time.perf_counter() - started, 1)
        reader = collector.token("", "", role="reader")
        url = f"{collector.url}/api/v1/query?" + urllib.parse.urlencode(
            {"measurement": "disk", "field": "used_percent", "host": "pc00000",
             "start": now - YEAR, "end": now, "step": 86400}
        )  # fmt: skip
        points = get_json(url, reader)["series"][0]["points"]
        assert len(points) >= 364, len(points)
        return {"points": len(points), "start_s": start_s, **timings(lambda: get_json(url, reader))}


def influx_chart(folder: Path, hosts: int, now: int) -> dict[str, Any]:
    """The same chart from InfluxDB holding the same 5-minute means for `hosts` hosts."""
    window = window_of(now)
    start = window - YEAR
    with run_influxdb(folder) as influx:
        influx.query("CREATE DATABASE bench")
        loaded = time.perf_counter()
        for h in range(hosts):
            tags = f"disk,site=commune{h % 500:03d},host=pc{h:05d},path=C:"
            lines = [
                f"{tags} used_percent={30 + round(60.0 * (t - start) / YEAR, 2)} {t}"
                for t in range(start, window, 300)
            ]
            for i in range(0, len(lines), 20000):
                assert influx.write("bench", "\n".join(lines[i : i + 20000])) == 204
        load_s = time.perf_counter() - loaded
        query = (
            "SELECT mean(used_percent) FROM disk WHERE host='pc00000' "
            "AND time > now() - 365d GROUP BY time(1d)"
        )
        values = influx.query(query, "bench")["results"][0]["series"][0]["values"]
        assert len(values) >= 365, len(values)
        return {
            "hosts": hosts,
            "points": len(values),
            "load_s": round(load_s, 1),
            **timings(lambda: influx.query(query, "bench")),
        }


def main() -> None:
    """Fill, measure, print a Markdown table and write bench/results/rollup_year.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--compare-hosts", type=int, default=500, help="old key vs new key")
    parser.add_argument("--influx-hosts", type=int, default=50)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    runs = [(f"old key, {args.compare_hosts} hosts", args.compare_hosts, True)]
    runs += [(f"new key, {args.compare_hosts} hosts", args.compare_hosts, False)]
    runs += [(f"new key, {args.hosts} hosts", args.hosts, False)]
    for label, hosts, old in runs:
        with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
            folder = Path(tmp) / "collector"
            folder.mkdir()
            now = int(time.time())
            entry = fill(folder / "collector.db", hosts, now, old)
            entry["rollup_pass_s"] = round(rollup_pass(folder / "collector.db", now), 3)
            print(label, entry, flush=True)
            entry["chart_1y"] = vigie_chart(folder, int(time.time()))
            report[label] = entry
            print(label, entry, flush=True)
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        report["influxdb"] = influx_chart(Path(tmp), args.influx_hosts, int(time.time()))
        print("influxdb", report["influxdb"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rollup_year.json").write_text(json.dumps(report, indent=2) + "\n")
    influx = report["influxdb"]
    print("| store | rows | size | rollup pass | 1-year chart p50 / p95 (ms) | vs InfluxDB |")
    print("|---|---|---|---|---|---|")
    for label, _, _ in runs:
        e = report[label]
        chart = e["chart_1y"]
        print(
            f"| {label} | {e['rollup_rows']:,} | {e['store_gib']} GiB | {e['rollup_pass_s']} s "
            f"| {chart['p50_ms']} / {chart['p95_ms']} | {chart['p50_ms'] / influx['p50_ms']:.2f} |"
        )
    print(
        f"| InfluxDB 1.6.7, {influx['hosts']} hosts | | | | "
        f"{influx['p50_ms']} / {influx['p95_ms']} | 1 |"
    )


if __name__ == "__main__":
    main()
