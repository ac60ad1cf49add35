"""Where `GET /api/v1/query` and the device charts read series: the embedded store, or the
VictoriaMetrics nodes every collector forwards to (so several collectors answer alike)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from collector.mirror.forwarder import Forwarder
from collector.store.query import (
    SeriesQuery,
    host_kinds,
    hosts_seen,
    latest_samples,
    resolution,
    run_query,
    unknown_names,
)  # fmt: skip
from collector.store.rollup import rolled_until
from collector.store.victoria import Fetch, NodeError, VictoriaQuery, http_get

T = TypeVar("T")


class SeriesReads(Protocol):
    """The series reads a page or the query API needs."""

    def run_query(self, q: SeriesQuery) -> list[dict[str, object]]:
        """Every matching series with its points (collector.store.query.run_query's shape)."""

    def unknown_names(self, q: SeriesQuery) -> str | None:
        """Why nothing matched when a name does not exist; None when the range is empty."""


class LatestReads(Protocol):
    """The newest sample of each series and each host's last contact, as the pages show them
    (state.latest.LatestValues on a shared state)."""

    def latest_samples(
        self, measurement: str, site: str, host: str | None = None
    ) -> list[tuple[str, dict[str, str], int, dict[str, object]]]:
        """(host, tags, time, fields) of the newest sample of each matching series."""

    def hosts_seen(self, site: str | None = None) -> list[tuple[str, str, int]]:
        """(site, host, newest sample time) of every host (of one site)."""

    def host_kinds(
        self, site: str | None = None, host: str | None = None
    ) -> dict[tuple[str, str], str]:
        """(site, host) -> the device's kind."""


@dataclass(frozen=True, slots=True)
class LocalLatest:
    """LatestReads from the embedded store."""

    conn: sqlite3.Connection

    def latest_samples(
        self, measurement: str, site: str, host: str | None = None
    ) -> list[tuple[str, dict[str, str], int, dict[str, object]]]:
        """See LatestReads."""
        return latest_samples(self.conn, measurement, site, host)

    def hosts_seen(self, site: str | None = None) -> list[tuple[str, str, int]]:
        """See LatestReads."""
        return hosts_seen(self.conn, site)

    def host_kinds(
        self, site: str | None = None, host: str | None = None
    ) -> dict[tuple[str, str], str]:
        """See LatestReads."""
        return host_kinds(self.conn, site, host)


@dataclass(frozen=True, slots=True)
class LocalSeries:
    """The embedded store (rollups before `raw_since`)."""

    conn: sqlite3.Connection
    raw_since: int

    def run_query(self, q: SeriesQuery) -> list[dict[str, object]]:
        """See SeriesReads."""
        return run_query(self.conn, q, self.raw_since)

    def unknown_names(self, q: SeriesQuery) -> str | None:
        """See SeriesReads."""
        return unknown_names(self.conn, q)


@dataclass
class Flushed:
    """What each node was last asked to make searchable (its outbox mark then), shared by the
    threads that read so a node is flushed once per new batch, not once per query."""

    marks: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def caught_up(
    conn: sqlite3.Connection, forwarders: list[Forwarder], wait: float
) -> list[Forwarder]:
    """The forwarders whose target holds every batch this collector accepted so far (`conn`:
    a store connection), waiting up to `wait` seconds for one unless none can be reached."""
    row = conn.execute("SELECT max(id) FROM ingest_log").fetchone()
    target, deadline = int(row[0] or 0), time.monotonic() + wait
    for forwarder in forwarders:
        forwarder.poke()
    while True:
        ready = [f for f in forwarders if f.watermark(conn) >= target]
        # a target its forwarder cannot reach will not catch up within the wait
        hopeless = all(f.last_error for f in forwarders if f not in ready)
        if ready or hopeless or time.monotonic() > deadline:
            return ready
        time.sleep(0.05)


@dataclass(frozen=True, slots=True)
class Nodes:
    """The VictoriaMetrics nodes this collector forwards to, read after its own outbox reached
    them (a 204 it gave is then readable back): the first that answers is read."""

    forwarders: list[Forwarder]
    flushed: Flushed
    wait: float = 5.0
    fetch: Fetch = http_get

    def _caught_up(self, conn: sqlite3.Connection) -> list[Forwarder]:
        """The nodes holding every batch this collector accepted so far (waiting up to
        `wait` seconds for one, unless none can be reached), then the others."""
        ready = caught_up(conn, self.forwarders, self.wait)
        return ready + [n for n in self.forwarders if n not in ready]

    def _flush(self, node: Forwarder, conn: sqlite3.Connection) -> None:
        """Make the node search what it was sent (it buffers for a few seconds otherwise)."""
        mark = node.watermark(conn)
        # Under the lock: a reader that finds the mark set must find the flush done too.
        with self.flushed.lock:
            if self.flushed.marks.get(node.target_url, -1) >= mark:
                return
            # a node that refuses it (-forceFlushAuthKey) shows the data a moment later
            with contextlib.suppress(NodeError):
                self.fetch(f"{node.target_url}/internal/force_flush", 10.0)
            self.flushed.marks[node.target_url] = mark

    def read(self, conn: sqlite3.Connection, ask: Callable[[VictoriaQuery], T]) -> T:
        """`ask` of the first node that answers, after the wait (`conn`: this thread's store
        connection, for the outbox's position); NodeError when none does."""
        errors = []
        for node in self._caught_up(conn):
            self._flush(node, conn)
            try:
                return ask(VictoriaQuery(node.target_url, self.fetch))
            except NodeError as err:
                errors.append(f"{node.target_url}: {err}")
        raise NodeError("no VictoriaMetrics node answered (" + "; ".join(errors) + ")")


@dataclass(frozen=True, slots=True)
class VictoriaSeries:
    """SeriesReads from the nodes. Text fields, which VictoriaMetrics cannot keep, and series
    it lacks are read from the embedded store."""

    local: LocalSeries
    nodes: Nodes

    def run_query(self, q: SeriesQuery) -> list[dict[str, object]]:
        """See SeriesReads; NodeError when no node answers."""
        # Answer as the embedded store would, which reads rollups for coarse steps and old
        # ranges (a node keeps raw samples: it could be finer, but two collectors, or a node
        # and a collector, must not disagree).
        res = resolution(q.step, q.start, self.local.raw_since)
        until = rolled_until(self.local.conn) if res else q.start
        found = self.nodes.read(self.local.conn, lambda node: node.run(q, res, until))
        return found or self.local.run_query(q)

    def unknown_names(self, q: SeriesQuery) -> str | None:
        """See SeriesReads: a metric the nodes hold exists, whatever this collector received."""
        with contextlib.suppress(NodeError):
            if q.field in self.nodes.read(self.local.conn, lambda node: node.fields(q)):
                return None
        return self.local.unknown_names(q)
