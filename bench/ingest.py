"""Ingest throughput: vigie-collector vs InfluxDB 1.6.7 /write, same batches, same machine.

Run: .venv/bin/python -m bench.ingest [--batches N]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import make_batches, post_all
from tests.services import get_json, run_collector, run_influxdb

RESULTS = Path(__file__).parent / "results"


def rss_kib(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    """Run both, print a Markdown table, save JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=4000, help="batches of 150 lines")
    parser.add_argument("--hosts", type=int, default=1000, help="distinct hosts sending them")
    args = parser.parse_args()
    # Each host sends several minutes, so most batches hit known series (the steady state).
    bodies = make_batches(args.batches, hosts=args.hosts)
    out: dict[str, object] = {"batches": args.batches, "lines": args.batches * 150}
    with tempfile.TemporaryDirectory() as tmp:
        with run_influxdb(Path(tmp) / "influx") as influx:
            request = urllib.request.Request(
                f"{influx.url}/query?q=CREATE+DATABASE+bench", method="POST"
            )
            urllib.request.urlopen(request, timeout=10).close()
            influx_result = post_all(
                influx.url,
                "/write?db=bench&precision=s",
                bodies,
                {"Content-Encoding": "gzip", "Content-Type": "text/plain"},
            )
        with run_collector(Path(tmp) / "collector") as collector:
            assert collector.proc is not None
            token = collector.token("commune000", "poller", role="poller")
            # A poller token may write any host of one site: give every batch that site.
            import gzip

            same_site = [
                gzip.compress(
                    __import__("re").sub(
                        rb"site=commune\d+", b"site=commune000", gzip.decompress(b)
                    ),
                    1,
                )
                for b in bodies
            ]
            vigie = post_all(
                collector.url,
                "/write?precision=s",
                same_site,
                {"Content-Encoding": "gzip", "Authorization": f"Token {token}"},
            )
            acked = time.perf_counter()
            reader = collector.token("", "", role="reader")
            get_json(
                f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle"
                f"&site=commune000&host=pc00000&start=1800000000&end=1800100000",
                reader,
            )
            indexed_after = time.perf_counter() - acked
            rss = rss_kib(collector.proc.pid)
            db = sqlite3.connect(Path(tmp) / "collector" / "collector.db")
            stored = db.execute("SELECT count(*) FROM sample").fetchone()[0]
            db.close()
    i: dict[str, float] = {
        "lines_per_s": influx_result.lines_per_second,
        "errors": influx_result.errors,
        "p99_ms": influx_result.percentile(99),
    }
    v: dict[str, float] = {
        "lines_per_s": vigie.lines_per_second,
        "errors": vigie.errors,
        "p99_ms": vigie.percentile(99),
        "index_catch_up_s": indexed_after,
        "lines_per_s_indexed": vigie.lines / (vigie.seconds + indexed_after),
        "rss_mib": rss / 1024,
        "rows_stored": stored,
    }
    out.update(influxdb=i, vigie=v, ratio_ack=v["lines_per_s"] / i["lines_per_s"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(out, indent=2) + "\n")
    print("| | lines/s acknowledged | p99 request (ms) | errors |")
    print("|---|---|---|---|")
    for name, row in (("InfluxDB 1.6.7 `/write`", i), ("vigie-collector", v)):
        print(f"| {name} | {row['lines_per_s']:,.0f} | {row['p99_ms']:.0f} | {row['errors']:.0f} |")
    print(f"\nratio vigie/influxdb (acknowledged): {out['ratio_ack']:.2f}")
    print(
        f"vigie indexed everything {v['index_catch_up_s']:.1f} s after the last ack: "
        f"{v['lines_per_s_indexed']:,.0f} lines/s end to end; RSS {v['rss_mib']:.0f} MiB"
    )


if __name__ == "__main__":
    main()
