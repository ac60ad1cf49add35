"""Alerting at fleet scale: rule evaluation time for 5,000 hosts with the shipped rules, and the
time from the ingest of a point that crosses a threshold to the mail accepted by the SMTP server.

The store is filled directly (the ingest path has its own benchmark): per host, an hour of raw
samples at 60 s for cpu, mem, system, disk, vigie_agent (and an interface, a UPS or a printer
supply on one host in ten), plus three days of 5-minute rollups for disk and mem, which the
forecasts read. With `--state postgresql` the alerts, tokens and mail queue live in a
PostgreSQL 15 started for the run (several collectors' set-up), the series still in SQLite.
With `--series victoriametrics` (and a PostgreSQL state) the same fleet also goes to a
VictoriaMetrics node, every 5 minutes over the three days where the store has rollups, and the
newest samples to the state's `latest`: the rules read them there, as with several collectors.
Run: .venv/bin/python -m bench.alerts [--hosts 5000] [--state postgresql]
     [--series victoriametrics]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from collector.ingest.lineproto import series_key
from collector.lease import SiteLeases
from collector.mirror.forwarder import Forwarder, VictoriaTarget
from collector.rules.engine import Engine
from collector.rules.load import load_rules
from collector.rules.reads import LocalRuleReads, RuleReads, VictoriaRuleReads
from collector.state import PARTS, Repository
from collector.state.latest import Row
from collector.state.postgres import PgState
from collector.store.db import connect, open_store, write_mark
from collector.store.reads import Flushed, Nodes
from protocol.lineproto import Point, format_point
from tests.services import (
    CollectorProcess,
    post,
    run_collector,
    run_postgres,
    run_smtp,
    run_victoriametrics,
)  # fmt: skip

RESULTS = Path(__file__).parent / "results"


def fill(path: Path, hosts: int, now: int, shared: Shared | None = None) -> int:
    """Write the synthetic fleet (to `shared` too); returns the number of samples."""
    conn = open_store(path)
    conn.execute("BEGIN")
    sid = 0
    samples = 0
    rollup_start = now - 3 * 86400

    def series(measurement: str, tags: dict[str, str]) -> int:
        nonlocal sid
        sid += 1
        items = tuple(sorted(tags.items()))
        conn.execute(
            "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, series_key(measurement, items), measurement, tags["site"], tags["host"],
             json.dumps(tags, sort_keys=True), now),
        )  # fmt: skip
        return sid

    for number in range(hosts):
        site, host = f"commune{number // 10:03d}", f"pc{number:05d}"
        base = {"site": site, "host": host}
        kinds = [
            ("cpu", {"cpu": "cpu-total"}, {"usage_idle": 70.0, "usage_user": 20.0}),
            ("mem", {}, {"used_percent": 55.0, "total": 8 << 30}),
            ("system", {}, {"uptime": 86400, "load1": 0.5}),
            ("disk", {"path": "C:"}, {"used_percent": 61.0, "total": 256 << 30}),
            ("vigie_agent", {}, {"spool_batches": 0}),
        ]
        if number % 10 == 0:
            kinds.append(
                (
                    "interface",
                    {"ifname": "1"},
                    {"oper_status": 1, "admin_status": 1, "in_errors": 0},
                )
            )
            kinds.append(
                (
                    "ups",
                    {"mib": "rfc1628"},
                    {
                        "output_source": 3,
                        "battery_status": 2,
                        "runtime_minutes": 40,
                        "test_result": 1,
                    },
                )
            )
            kinds.append(
                ("printer_supply", {"supply": "Black", "type": "toner"}, {"percent": 64.0})
            )
        for measurement, tags, fields in kinds:
            ident = series(measurement, {**base, **tags})
            if shared is not None:
                shared.add(measurement, {**base, **tags}, fields, now)
            rows = [(ident, now - 60 * k, json.dumps(fields)) for k in range(60)]
            conn.executemany("INSERT INTO sample VALUES (?, ?, ?)", rows)
            samples += len(rows)
            if measurement in ("disk", "mem"):
                name = "used_percent"
                value = float(fields[name])  # type: ignore[index]
                for res in (300, 3600):
                    n = res // 60
                    conn.executemany(
                        "INSERT INTO rollup VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            (ident, name, res, b, value, value, value * n, n, value)
                            for b in range(rollup_start, now - 3600, res)
                        ],
                    )
    conn.execute("INSERT INTO host SELECT site, host, max(last_seen) FROM series GROUP BY 1, 2")
    write_mark(conn, "rollup_300_until", now - 3600)
    conn.execute("COMMIT")
    conn.close()
    if shared is not None:
        shared.finish()
    return samples


class Shared:
    """The same fleet for a VictoriaMetrics node (line protocol) and the state's `latest`."""

    def __init__(self, node: str, state: PgState) -> None:
        self.node, self.state = node, state
        self.lines: list[str] = []
        self.latest: list[Row] = []

    def add(self, measurement: str, tags: dict[str, str], fields: Any,
            now: int) -> None:  # fmt: skip
        """A series: an hour at 60 s, three days at 5 min for disk and mem (as the rollups)."""
        point = Point(measurement, tags, fields, 0)
        times = [now - 60 * k for k in range(60)]
        if measurement in ("disk", "mem"):
            times += range(now - 3 * 86400, now - 3600, 300)
        self.lines += [format_point(point._replace(time=t)) or "" for t in times]
        key = series_key(measurement, tuple(sorted(tags.items())))
        self.latest.append((key, tags["site"], tags["host"], measurement,
                            json.dumps(tags, sort_keys=True), now, json.dumps(fields)))  # fmt: skip
        if len(self.lines) > 100_000:
            self._send()

    def _send(self) -> None:
        body = "\n".join(self.lines).encode()
        urllib.request.urlopen(f"{self.node}/write?precision=s", body, timeout=120).read()
        self.lines = []

    def finish(self) -> None:
        """Send the rest, fill `latest`, make the node search it all."""
        self._send()
        Repository(self.state.connection()).record_latest(self.latest, int(time.time() * 1000))
        urllib.request.urlopen(f"{self.node}/internal/force_flush", timeout=60).read()


def evaluation(path: Path, now: int, state_url: str, node: str) -> dict[str, object]:
    """Seconds for a full pass with and without the forecasts, and for one host's pass."""
    conn = connect(path)
    shared = PgState(state_url) if state_url else None
    if shared is not None:
        shared.open(PARTS)
    reads = None
    if node and shared is not None:
        unsent = Forwarder(path, VictoriaTarget(node))  # not started: its outbox is empty
        reads = VictoriaRuleReads(Nodes([unsent], Flushed()), conn, shared.connection)
    engine = Engine(
        conn, load_rules([]), clock=lambda: now, state=shared.connection if shared else None,
        reads=reads,
    )  # fmt: skip
    out: dict[str, object] = {}
    started = time.perf_counter()
    first = engine.evaluate(slow=True)
    out["full_pass_with_forecasts_s"] = round(time.perf_counter() - started, 2)
    out["series_evaluated"] = first.series
    started = time.perf_counter()
    engine.evaluate(slow=False)
    out["full_pass_without_forecasts_s"] = round(time.perf_counter() - started, 2)
    per_rule = {}
    for rule in engine.ruleset.rules:
        started = time.perf_counter()
        engine.evaluate(slow=True, rules=[rule])
        per_rule[rule.name] = time.perf_counter() - started
    slowest = max(per_rule.items(), key=lambda item: item[1])
    out["slowest_rule"] = slowest[0]
    out["slowest_rule_s"] = round(slowest[1], 2)
    started = time.perf_counter()
    engine.evaluate(hosts={("commune000", "pc00000")})
    out["one_host_pass_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if shared is not None:
        out["two_collectors"] = shared_out(conn, now, shared, reads or LocalRuleReads(conn))
        shared.close()
    conn.close()
    return out


def shared_out(
    conn: sqlite3.Connection, now: int, shared: PgState, reads: RuleReads
) -> dict[str, object]:
    """Two collectors sharing the sites out (collector.lease.SiteLeases): the sites each
    holds and the seconds each takes for a full pass with the forecasts."""
    pair = [SiteLeases(shared.connection, lambda: now, reads.sites, every=0) for _ in "ab"]
    for leases in pair + pair:  # the first alone takes every site, then yields half
        leases.renew()
    out: dict[str, object] = {"sites": [len(leases.held) for leases in pair]}
    seconds = []
    for leases in pair:
        engine = Engine(conn, load_rules([]), lambda: now, shared.connection, leases, reads)
        started = time.perf_counter()
        engine.evaluate(slow=True)
        seconds.append(round(time.perf_counter() - started, 2))
    out["full_pass_with_forecasts_s"] = seconds
    for leases in pair:  # gone: the collector started next evaluates every site at once
        leases.release()
    return out


def latency(collector: CollectorProcess, smtp_to: object, count: int) -> dict[str, object]:
    """Post a crossing point for `count` new hosts; seconds until each mail is accepted."""
    times = []
    for number in range(count):
        token = collector.token(f"lat{number}", "onduleur", role="poller")
        recipient_count = len(smtp_to())  # type: ignore[operator]
        started = time.monotonic()
        body = f"ups,site=lat{number},host=onduleur battery_status=3i {int(time.time())}".encode()
        status, text = post(f"{collector.url}/write?db=vigie&precision=s", body, token)
        assert status == 204, text
        while len(smtp_to()) <= recipient_count and time.monotonic() - started < 60:  # type: ignore[operator]
            time.sleep(0.01)
        times.append(time.monotonic() - started)
        time.sleep(0.5)
    order = [round(t, 2) for t in times]  # as posted: a slow first one is the start-up's
    times.sort()
    return {
        "samples": count,
        "in_order_s": order,
        "p50_s": round(statistics.median(times), 3),
        "p99_s": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "max_s": round(times[-1], 3),
    }


def main() -> None:
    """Measure, write bench/results/alerts.json and print it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--mails", type=int, default=40)
    parser.add_argument("--state", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--series", choices=("sqlite", "victoriametrics"), default="sqlite")
    args = parser.parse_args()
    if args.series == "victoriametrics" and args.state != "postgresql":
        parser.error("--series victoriametrics needs --state postgresql (several collectors)")
    report: dict[str, object] = {"hosts": args.hosts, "state": args.state, "series": args.series}
    with contextlib.ExitStack() as stack:
        state_url = node = ""
        if args.state == "postgresql":
            state_url = stack.enter_context(run_postgres()).create_database("bench")
        if args.series == "victoriametrics":
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            node = stack.enter_context(run_victoriametrics(folder)).url
        measure(report, args.hosts, args.mails, state_url, node)
    name = "alerts.json" if args.state == "sqlite" else f"alerts_{args.state}.json"
    if node:
        name = "alerts_victoriametrics.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def measure(report: dict[str, object], hosts: int, mails: int, state_url: str, node: str) -> None:
    """Fill a store, time the evaluation, then the ingest-to-mail latency of a collector."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        store = Path(tmp) / "collector" / "collector.db"
        store.parent.mkdir()
        now = int(time.time())
        started = time.perf_counter()
        shared = None
        if node:
            state = PgState(state_url)
            state.open(PARTS)
            stack.callback(state.close)
            shared = Shared(node, state)
        report["samples"] = fill(store, hosts, now, shared)
        report["fill_s"] = round(time.perf_counter() - started, 1)
        report["evaluation"] = evaluation(store, now, state_url, node)
        recipient = "bench@example.org"
        with run_smtp() as smtp:
            extra = (
                f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
                f'[alerts]\nrecipients = ["{recipient}"]\ngroup_wait = 0\ndigest = false\n'
                "max_mails_per_hour = 100000\n"
            ) + (f'[state]\nurl = "{state_url}"\n' if state_url else "")
            if node:
                extra += f'[series]\nbackend = "victoriametrics"\nurls = ["{node}"]\n'

            with run_collector(store.parent, extra) as collector:
                time.sleep(5)  # past the first full pass
                report["ingest_to_mail"] = latency(collector, lambda: smtp.to(recipient), mails)


if __name__ == "__main__":
    main()
