"""Ingest in front of VictoriaMetrics: the same batches sent to one collector on its embedded
SQLite store, to one collector forwarding to VictoriaMetrics (state in PostgreSQL, as several
collectors run), and to two such collectors behind HAProxy (round robin).

Measured: lines/s acknowledged (each 204 means the batch is in the receiving collector's
durable log), and lines/s delivered: until every line is searchable where the pages read it
(indexed in the embedded store; for the other two, forwarded to the node and each series'
newest sample to the shared state).
Run: .venv/bin/python -m bench.ingest_distributed [--batches N]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import make_batches, post_all
from tests.services import (
    CollectorProcess,
    free_port,
    get_json,
    run_haproxy,
    run_postgres,
    run_victoriametrics,
)  # fmt: skip

RESULTS = Path(__file__).parent / "results"


def collector(folder: Path, extra: str) -> CollectorProcess:
    """A started collector on a free port."""
    folder.mkdir(parents=True)
    port = free_port()
    config = folder / "collector.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[storage]\n'
                      f'path = "{folder}/collector.db"\n{extra}')  # fmt: skip
    c = CollectorProcess(config, f"http://127.0.0.1:{port}")
    c.start()
    return c


def delivered(collectors: list[CollectorProcess]) -> bool:
    """Everything acknowledged is where the pages and rules read it: the nodes and, with a
    shared state, each series' newest sample in it."""
    for c in collectors:
        health = get_json(f"{c.url}/healthz", "")
        queues = [*health.get("victoriametrics", {}).values(), health.get("latest", {})]
        if health["index_backlog"] or any(q.get("outbox_requests") for q in queues):
            return False
    return True


def cpu_seconds(collectors: list[CollectorProcess]) -> float:
    """CPU time the collectors and their index processes have used so far."""
    total = 0.0
    for c in collectors:
        assert c.proc is not None
        process = psutil.Process(c.proc.pid)
        for each in (process, *process.children(recursive=True)):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def run(url: str, collectors: list[CollectorProcess], bodies: list[bytes]) -> dict[str, Any]:
    """Send the batches; acknowledged and delivered rates, and the collectors' CPU time per
    100,000 lines (the part that does not depend on what else shares the machine)."""
    token = collectors[0].token("commune000", "poller", role="poller")
    headers = {"Content-Encoding": "gzip", "Authorization": f"Token {token}"}
    cpu_before = cpu_seconds(collectors)
    started = time.perf_counter()
    result = post_all(url, "/write?precision=s", bodies, headers, workers=16)
    acked = time.perf_counter() - started
    while not delivered(collectors):
        time.sleep(0.1)
    lines = len(bodies) * 150
    cpu = cpu_seconds(collectors) - cpu_before
    return {"acknowledged_lines_per_s": round(result.lines_per_second),
            "delivered_lines_per_s": round(lines / (time.perf_counter() - started)),
            "acknowledge_s": round(acked, 1), "errors": result.errors,
            "p99_ms": round(result.percentile(99), 1),
            "collector_cpu_s_per_100k_lines": round(cpu * 100_000 / lines, 2)}  # fmt: skip


def main() -> None:
    """The three set-ups one after the other, same batches; JSON and a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=3000, help="batches of 150 lines")
    args = parser.parse_args()
    # A poller token may write any host of one site: every batch gets that site.
    bodies = [gzip.compress(re.sub(rb"site=commune\d+", b"site=commune000",
                                   gzip.decompress(b)), 1)
              for b in make_batches(args.batches, hosts=1000)]  # fmt: skip
    report: dict[str, Any] = {"batches": args.batches, "lines": args.batches * 150}
    with tempfile.TemporaryDirectory() as tmp:
        alone = collector(Path(tmp) / "sqlite", "")
        try:
            report["one_collector_sqlite"] = run(alone.url, [alone], bodies)
        finally:
            alone.stop()
        for count in (1, 2):
            with contextlib.ExitStack() as setup:
                state = setup.enter_context(run_postgres()).create_database(f"b{count}")
                node = setup.enter_context(run_victoriametrics(Path(tmp) / f"vm{count}"))
                extra = (f'[series]\nbackend = "victoriametrics"\nurls = ["{node.url}"]\n'
                         f'[state]\nurl = "{state}"\n')  # fmt: skip
                pair = [collector(Path(tmp) / f"c{count}-{i}", extra) for i in range(count)]
                for c in pair:
                    setup.callback(c.stop)
                url = pair[0].url
                if count == 2:
                    backends = [c.url.removeprefix("http://") for c in pair]
                    url = setup.enter_context(run_haproxy(Path(tmp) / "haproxy", backends))
                report[f"{count}_collectors_victoriametrics"] = run(url, pair, bodies)
    base = report["one_collector_sqlite"]["acknowledged_lines_per_s"]
    for count in (1, 2):
        entry = report[f"{count}_collectors_victoriametrics"]
        entry["ratio_acknowledged"] = round(entry["acknowledged_lines_per_s"] / base, 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest_distributed.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| set-up | acknowledged lines/s | delivered lines/s | p99 ms | ratio (ack.) | "
          "collector CPU s / 100k lines |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in ("one_collector_sqlite", "1_collectors_victoriametrics",
                 "2_collectors_victoriametrics"):  # fmt: skip
        e = report[name]
        print(
            f"| {name} | {e['acknowledged_lines_per_s']:,} | {e['delivered_lines_per_s']:,} | "
            f"{e['p99_ms']} | {e.get('ratio_acknowledged', 1.0)} | "
            f"{e['collector_cpu_s_per_100k_lines']} |"
        )


if __name__ == "__main__":
    main()
