"""Ingest throughput: vigie-collector vs InfluxDB 1.6.7 /write, same batches, same machine.

Run: .venv/bin/python -m bench.ingest [--batches N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sqlite3
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.agent_footprint import rss_kib
from bench.common import make_batches, post_all
from tests.services import child_pids, get_json, run_collector, run_influxdb

RESULTS = Path(__file__).parent / "results"


def phases(
    url: str, path: str, bodies: list[bytes], hosts: int, headers: dict[str, str], connections: int
) -> dict[str, dict[str, float]]:
    """POST the batches in two timed phases: every host's first batch (its series are new),
    then the rest (series known: the steady state of a fleet that has been running)."""
    out = {}
    for name, part in (("first", bodies[:hosts]), ("steady", bodies[hosts:])):
        result = post_all(url, path, part, headers, workers=connections)
        out[name] = {
            "lines_per_s": result.lines_per_second,
            "errors": result.errors,
            "p99_ms": result.percentile(99),
        }
    return out


def main() -> None:
    """Run both, print a Markdown table, save JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=6000, help="batches of 150 lines")
    parser.add_argument("--hosts", type=int, default=1000, help="distinct hosts sending them")
    # A fleet's agents send at once: many connections, so that both servers can group their
    # durable writes (InfluxDB's WAL, Vigie's group commit) as they would in production.
    parser.add_argument("--connections", type=int, default=16, help="concurrent senders")
    args = parser.parse_args()
    bodies = make_batches(args.batches, hosts=args.hosts)
    out: dict[str, object] = {
        "batches": args.batches,
        "lines": args.batches * 150,
        "connections": args.connections,
    }
    with tempfile.TemporaryDirectory() as tmp:
        with run_influxdb(Path(tmp) / "influx") as influx:
            request = urllib.request.Request(
                f"{influx.url}/query?q=CREATE+DATABASE+bench", method="POST"
            )
            urllib.request.urlopen(request, timeout=10).close()
            influx_result = phases(
                influx.url,
                "/write?db=bench&precision=s",
                bodies,
                args.hosts,
                {"Content-Encoding": "gzip", "Content-Type": "text/plain"},
                args.connections,
            )
        with run_collector(Path(tmp) / "collector") as collector:
            assert collector.proc is not None
            token = collector.token("commune000", "poller", role="poller")
            # A poller token may write any host of one site: give every batch that site.
            same_site = [
                gzip.compress(
                    re.sub(rb"site=commune\d+", b"site=commune000", gzip.decompress(b)), 1
                )
                for b in bodies
            ]
            vigie = phases(
                collector.url,
                "/write?precision=s",
                same_site,
                args.hosts,
                {"Content-Encoding": "gzip", "Authorization": f"Token {token}"},
                args.connections,
            )
            acked = time.perf_counter()
            rss = rss_kib([collector.proc.pid, *child_pids(collector.proc.pid)])  # + indexer
            reader = collector.token("", "", role="reader")
            get_json(  # answers once everything acknowledged is indexed (read-your-writes)
                f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle"
                f"&site=commune000&host=pc00000&start=1800000000&end=1800100000",
                reader,
            )
            indexed_after = time.perf_counter() - acked
            db = sqlite3.connect(Path(tmp) / "collector" / "collector.db")
            stored = db.execute("SELECT count(*) FROM sample").fetchone()[0]
            db.close()
    steady_lines = (args.batches - args.hosts) * 150
    steady_seconds = steady_lines / vigie["steady"]["lines_per_s"]
    out.update(
        influxdb=influx_result,
        vigie=vigie,
        vigie_index_catch_up_s=indexed_after,
        vigie_steady_lines_per_s_indexed=steady_lines / (steady_seconds + indexed_after),
        vigie_rss_mib=rss / 1024,
        vigie_rows_stored=stored,
        ratio={k: vigie[k]["lines_per_s"] / influx_result[k]["lines_per_s"] for k in vigie},
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        "| phase | InfluxDB 1.6.7 `/write` lines/s | vigie-collector lines/s | ratio "
        "| p99 ms (influx / vigie) | errors |"
    )
    print("|---|---|---|---|---|---|")
    for k in ("first", "steady"):
        i, v = influx_result[k], vigie[k]
        print(
            f"| {k} | {i['lines_per_s']:,.0f} | {v['lines_per_s']:,.0f} | "
            f"{v['lines_per_s'] / i['lines_per_s']:.2f} | {i['p99_ms']:.0f} / {v['p99_ms']:.0f} | "
            f"{i['errors'] + v['errors']:.0f} |"
        )
    print(
        f"\nvigie indexed everything {indexed_after:.1f} s after the last ack: steady phase "
        f"{out['vigie_steady_lines_per_s_indexed']:,.0f} lines/s acknowledged and indexed; "
        f"RSS {rss / 1024:.0f} MiB (both processes); {stored:,} sample rows"
    )


if __name__ == "__main__":
    main()
