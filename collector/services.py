"""What the request handlers share (built by the lifespan), and the one shape of an error."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse

from collector.alerting import Alerting
from collector.config import CollectorConfig, StateConfig
from collector.ingest.timewindow import SkewedSenders
from collector.mirror.forwarder import Forwarder
from collector.state import Identity, Repository
from collector.state.source import StateSource
from collector.state.token_cache import TokenCache
from collector.store.db import connect
from collector.store.reads import (
    Flushed,
    LatestReads,
    LocalLatest,
    LocalSeries,
    Nodes,
    SeriesReads,
    VictoriaSeries,
)  # fmt: skip
from collector.store.writer import Writer
from collector.telemetry import Telemetry


@dataclass
class Services:
    """The store writer, the mirror, alerting and the counters of one running collector."""

    config: CollectorConfig
    writer: Writer
    mirror: Forwarder | None = None
    alerting: Alerting | None = None
    nodes: list[Forwarder] = field(default_factory=list)  # VictoriaMetrics, one per node
    latest: Forwarder | None = None  # newest samples to the shared state
    telemetry: Telemetry = field(default_factory=Telemetry)
    skewed: SkewedSenders = field(default_factory=SkewedSenders)
    state: StateSource = field(default_factory=lambda: StateSource(StateConfig()))
    _local: threading.local = field(default_factory=threading.local)
    _flushed: Flushed = field(default_factory=Flushed)
    _tokens: TokenCache = field(default_factory=TokenCache)

    def reader(self) -> sqlite3.Connection:
        """A read connection for the calling thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.config.storage.path)
        return conn

    def series(self, moment: int, local_only: bool = False) -> SeriesReads:
        """Where series are read at `moment`: the VictoriaMetrics nodes when the series go
        there (every collector then answers the same), else (or `local_only`) the embedded
        store."""
        raw_since = moment - self.config.storage.raw_retention_days * 86400
        local = LocalSeries(self.reader(), raw_since)
        if local_only or self.config.series.backend != "victoriametrics":
            return local
        return VictoriaSeries(local, Nodes(self.nodes, self._flushed))

    def newest(self) -> LatestReads:
        """Where the pages read each series' newest sample and each host's last contact: the
        shared state when there is one (every collector then shows the same), else the store."""
        if self.state.shared:
            return self.repository()
        return LocalLatest(self.reader())

    def repository(self) -> Repository:
        """The relational state, read from the calling thread's connection."""
        return Repository(self.state.connection(self.reader()))

    def identify(self, token: str) -> Identity | None:
        """The identity of a valid, unrevoked token. A shared state is asked once every few
        seconds per token (collector.state.token_cache); the store's file, every time (an
        indexed read in the process: a revocation holds at once)."""
        if not self.state.shared:
            return self.repository().identify(token)
        return self._tokens.identify(token, lambda t: self.repository().identify(t))


def services(request: Request) -> Services:
    """The running collector's services."""
    return request.app.state.services  # type: ignore[no-any-return]


def clock(request: Request) -> Callable[[], float]:
    """The app's clock (tests inject theirs)."""
    return request.app.state.clock  # type: ignore[no-any-return]


def now(request: Request) -> int:
    """The app's time, in whole seconds."""
    return int(clock(request)())


def alerting(request: Request) -> Alerting:
    """The running collector's alerting."""
    found = services(request).alerting
    assert found is not None
    return found


def error_response(status: int, message: str) -> JSONResponse:
    """Every error in one shape: `error` for InfluxDB 1.x clients, `code` and `message` for
    2.x clients."""
    codes = {401: "unauthorized", 403: "forbidden", 404: "not found", 413: "request too large",
             503: "unavailable"}  # fmt: skip
    code = codes.get(status, "invalid")
    return JSONResponse({"error": message, "code": code, "message": message}, status_code=status)
