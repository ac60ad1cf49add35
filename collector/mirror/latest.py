"""The forwarder target that keeps each series' newest sample in the shared state
(state.latest), from the same durable outbox as VictoriaMetrics: a batch a collector
acknowledged reaches the pages of every collector, even after PostgreSQL was down."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from collector.ingest.lineproto import series_key
from collector.mirror.forwarder import DurableTarget, Retry
from collector.state import Repository
from collector.state.latest import Row
from protocol.lineproto import Point


class LatestTarget(DurableTarget):
    """`latest` in the shared state, written through `repository` (the calling thread's)."""

    name = "latest"
    mark = "latest_log_id"
    own_health = True  # every collector's rules read it

    def __init__(
        self,
        repository: Callable[[], Repository],
        clock: Callable[[], float] = time.time,
        by: str = "",
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._by = by  # this collector's name in the state (collector.lease)

    def format(self, point: Point) -> str:
        """The point as one JSON row of `latest`."""
        tags = tuple(sorted(point.tags.items()))
        key = series_key(point.measurement, tags)
        site, host = point.tags.get("site", ""), point.tags.get("host", "")
        return json.dumps([key, site, host, point.measurement, json.dumps(dict(tags)),
                           point.time, json.dumps(point.fields)])  # fmt: skip

    def prepare(self) -> None:
        """Nothing to create: the state's migrations made the table."""

    def send(self, lines: list[str]) -> None:
        """Upsert the newest row of each series; raises Retry while the state is down."""
        newest: dict[str, Row] = {}
        for line in lines:
            row: Row = tuple(json.loads(line))
            if row[0] not in newest or row[5] >= newest[row[0]][5]:
                newest[row[0]] = row
        try:
            self._repository().record_latest(
                list(newest.values()), int(self._clock() * 1000), self._by
            )
        except sqlite3.Error as err:  # the state's errors, PostgreSQL's included
            raise Retry(str(err)) from None
