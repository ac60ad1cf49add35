"""The collector's forwarder (mirror.forwarder): a target that fails in a way nobody planned
for has its batch tried again, the fault said, the thread alive; the `latest` target's rows
(mirror.latest) name each series as the parser does."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

from collector.ingest.lineproto import parse_lines, series_key
from collector.ingest.write import identified
from collector.mirror.dialect import format_v2
from collector.mirror.forwarder import Forwarder, Request, Unstorables, point_lines
from collector.mirror.latest import LatestTarget
from collector.state import Repository
from collector.store.db import open_store


class FailsOnce:
    """A target whose first send raises an error that is neither Retry nor Rejected."""

    name = "flaky"
    mark = "flaky_log_id"
    own_health = False
    replay_seconds = 0

    def __init__(self) -> None:
        self.received: list[list[str]] = []

    def started(self) -> int | None:
        return None

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        return point_lines(format_v2, request)

    def prepare(self) -> None:
        pass

    def send(self, lines: list[str]) -> None:
        if not self.received:
            self.received.append([])
            raise RuntimeError("a fault of the target's code")
        self.received.append(lines)


def test_an_unexpected_error_is_retried_and_said_not_the_end_of_the_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "collector.db"
    with open_store(path) as store:
        store.execute(
            "INSERT INTO ingest_log (received, site, host, precision, gzip, lines, body) "
            "VALUES (?, 'Lens', 'pc-1', 's', 0, 1, ?)",
            (int(time.time()), b"cpu usage_idle=40 1700000000"),
        )
    target = FailsOnce()
    forwarder = Forwarder(path, target, base_delay=0.1)
    forwarder.start()
    error = ""
    try:
        deadline = time.monotonic() + 10
        while forwarder.watermark() < 1 and time.monotonic() < deadline:
            if forwarder.last_error:
                error = forwarder.last_error
            time.sleep(0.01)
    finally:
        forwarder.stop()
    assert error == "RuntimeError: a fault of the target's code"
    assert target.received == [[], ["cpu,host=pc-1,site=Lens usage_idle=40.0 1700000000"]]
    assert forwarder.last_error == ""


class Recorded:
    """A repository that keeps what record_latest was given."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, int, str]] = []

    def record_latest(self, rows: Any, at_ms: int, by: str) -> None:
        self.rows += rows


def test_latest_rows_name_each_series_as_the_parser_does() -> None:
    """Each series' newest sample of a request, with its measurement and tags as parse_lines
    reads them: plain keys (split as text) and escaped ones alike."""
    text = "\n".join([
        "cpu,host=pc-1,site=Lens,cpu=cpu-total usage_idle=40 1700000000",
        "cpu,host=pc-1,site=Lens,cpu=cpu-total usage_idle=41 1700000060",  # newer: kept
        "cpu,host=pc-1,site=Lens,cpu=cpu-total usage_idle=39 1700000030",
        r'disk,path=C:\\,host=pc-1,site=Lens used_percent=91.5 1700000000',
        r'printer,host=copieur,site=Lens,model=HP\ LaserJet\,\ M404 status="Prêt" 1700000000',
        'mem,label=salle\\ "B",site=Lens,host=pc-2 used_percent=55 1700000000',
        "ping result_code=0i 1700000000",  # the token's site and host are filled in
        "ping,site=Lens,host=école result_code=1i 1700000000",
    ])  # fmt: skip
    recorded = Recorded()
    target = LatestTarget(lambda: cast(Repository, recorded))
    lines, unstorable = target.lines_of(Request(text, "s", 1700000100, "Lens", "poller"))
    target.send(lines)
    assert unstorable == []
    expected: dict[str, tuple[Any, ...]] = {}
    for point in parse_lines(text, "s"):
        point = identified(point, "Lens", "poller")
        tags, key = dict(point.tags), series_key(point.measurement, point.tags)
        if key not in expected or point.time >= expected[key][4]:
            expected[key] = (tags["site"], tags["host"], point.measurement, tags, point.time,
                             point.fields)  # fmt: skip
    got = {row[0]: (*row[1:4], json.loads(row[4]), row[5], json.loads(row[6]))
           for row in recorded.rows}  # fmt: skip
    assert got == expected and got["cpu,cpu=cpu-total,host=pc-1,site=Lens"][4] == 1700000060
