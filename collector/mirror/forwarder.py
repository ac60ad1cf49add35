"""Forwards accepted write requests, in order, from the `ingest_log` outbox: to InfluxDB
(the mirror) and to each VictoriaMetrics node (`[series] backend = "victoriametrics"`).

Each target has its watermark in `meta` (`mirrored_log_id` for InfluxDB,
`forwarded_log_id:URL` for a VictoriaMetrics node): a crash resends at most the batch in
flight, which is harmless (InfluxDB overwrites a point with the same series and time;
VictoriaMetrics, run with -dedup.minScrapeInterval=1s, keeps an identical sample once).
5xx and connection errors are retried with backoff; a 4xx batch goes to the dead-letter table
with the server's message.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import urlencode

from collector.config import InfluxConfig
from collector.ingest.lineproto import LineError, parse_lines
from collector.ingest.write import identified
from collector.mirror.dialect import (
    Unstorable,
    format_v1,
    format_v2,
    format_victoria,
    to_point,
)  # fmt: skip
from collector.store.db import connect, read_mark, write_mark
from collector.store.indexer import decode_body
from collector.telemetry import OWN_SITE
from protocol.lineproto import Point

log = logging.getLogger(__name__)

MAX_LINES = 5000
RESTART_CHECK = 5.0  # seconds between looks at whether a node restarted


class Retry(Exception):
    """The target is down or overloaded: try the same batch again later."""


class Rejected(Exception):
    """The target refused the batch for good (4xx)."""


Unstorables = list[tuple[str, str]]  # (reason, the point as v2 line protocol)


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """Lines from consecutive ingest_log rows, up to MAX_LINES (one row is never split)."""

    last_log_id: int
    lines: list[str]
    unstorable: Unstorables


class Request(NamedTuple):
    """One accepted write request of the outbox, decoded."""

    text: str
    precision: str
    received: int  # the time of points sent without one
    site: str  # the token's: the tags of the points that leave them out
    host: str


def as_sent(text: str, precision: str) -> list[str] | None:
    """An agent's lines as a target can take them unchanged (VictoriaMetrics reads line
    protocol itself), or None when they must be parsed and formatted: when a line could hold
    text (a quote), an escape, no timestamp, a comment, or lacks its site or host tag, or the
    time is not in seconds. Checking costs a fraction of parsing every line again."""
    if precision != "s" or '"' in text or "\\" in text:
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        head, _, rest = line.partition(" ")
        if rest.count(" ") != 1 or ",site=" not in head or ",host=" not in head:
            return None
    return lines


def point_lines(
    formatter: Callable[[Point], str], request: Request
) -> tuple[list[str], Unstorables]:
    """Each point of `request` as `formatter` writes it for a target ("": nothing it keeps), and
    those it cannot store; raises LineError."""
    lines: list[str] = []
    unstorable: Unstorables = []
    for parsed in parse_lines(request.text, request.precision, request.received):
        point = to_point(identified(parsed, request.site, request.host))
        try:
            line = formatter(point)
            if line:
                lines.append(line)
        except Unstorable as err:
            unstorable.append((str(err), format_v2(point)))
    return lines, unstorable


def read_outbox(conn: sqlite3.Connection, after: int, target: Target) -> OutboxBatch | None:
    """The next batch after watermark `after`, as `target` takes it (the collector's own
    health only for an `own_health` target)."""
    rows = conn.execute(
        "SELECT id, received, site, host, precision, gzip, body FROM ingest_log "
        "WHERE id > ? ORDER BY id LIMIT 200",
        (after,),
    ).fetchall()
    if not rows:
        return None
    lines: list[str] = []
    unstorable: Unstorables = []
    last = after
    for log_id, received, site, host, precision, gzipped, body in rows:
        if site == OWN_SITE and not target.own_health:
            last = log_id
            continue
        try:
            text = decode_body(body, bool(gzipped))
            taken, refused = target.lines_of(Request(text, precision, received, site, host))
        except (LineError, OSError, UnicodeDecodeError, EOFError) as err:
            unstorable.append((f"ingest_log {log_id}: {err}", ""))
            last = log_id
            continue
        if lines and len(lines) + len(taken) > MAX_LINES:
            break
        lines += taken
        unstorable += refused
        last = log_id
    return OutboxBatch(last, lines, unstorable)


def post_lines(url: str, lines: list[str], headers: dict[str, str], timeout: float) -> str | None:
    """POST line protocol; raises Retry (5xx, 408, 429, unreachable) or Rejected (other 4xx).
    The server's message on a 404, for the caller to act on; None once accepted."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked in config
        url, data="\n".join(lines).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return None
    except urllib.error.HTTPError as err:
        message = err.read(2000).decode(errors="replace")
        if err.code == 404:
            return message
        if 400 <= err.code < 500 and err.code not in (408, 429):
            raise Rejected(f"HTTP {err.code}: {message}") from None
        raise Retry(f"HTTP {err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        raise Retry(str(getattr(err, "reason", err))) from None


class DurableTarget:
    """A target whose answer means its data is durable: nothing to send again after it
    restarts."""

    replay_seconds = 0
    own_health = False

    def started(self) -> int | None:
        """Not needed: nothing is sent again."""
        return None


class V1Target(DurableTarget):
    """InfluxDB's 1.x write API (also served by 2.x and 3.x): /write with db and rp."""

    name = "influxdb"
    mark = "mirrored_log_id"

    def __init__(self, config: InfluxConfig, timeout: float = 30.0) -> None:
        params = {"db": config.database, "precision": "s"}
        if config.retention_policy:
            params["rp"] = config.retention_policy
        self._url = f"{config.url}/write?{urlencode(params)}"
        self._config = config
        self._timeout = timeout
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if config.token:
            self._headers["Authorization"] = f"Token {config.token}"
        elif config.username:
            pair = f"{config.username}:{config.password}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        """The request's points as InfluxDB 1.x reads them."""
        return point_lines(format_v1, request)

    def prepare(self) -> None:
        """Create the database if it is missing (1.x; harmless elsewhere)."""
        query = urlencode({"q": f'CREATE DATABASE "{self._config.database}"'})
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in config
            f"{self._config.url}/query?{query}", method="POST", headers=self._headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout):  # noqa: S310
                pass
        except (urllib.error.URLError, OSError) as err:
            log.info("influxdb: could not create database %s: %s", self._config.database, err)

    def send(self, lines: list[str]) -> None:
        """POST the lines; raises Retry or Rejected."""
        missing = post_lines(self._url, lines, self._headers, self._timeout)
        if missing is not None and "database not found" in missing:
            # Created at start unless InfluxDB was down then: create it now and resend.
            self.prepare()
            raise Retry(f"HTTP 404: {missing}")
        if missing is not None:
            raise Rejected(f"HTTP 404: {missing}")


class VictoriaTarget:
    """A VictoriaMetrics node's InfluxDB line protocol endpoint (/write, seconds)."""

    name = "victoriametrics"
    own_health = True  # every collector's rules read the nodes
    # Its 204 precedes the disk (its docs; issues 8677, 2613): a node killed loses the last
    # seconds it acknowledged. It keeps an identical sample once, so sending them again is safe.
    replay_seconds = 60

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.mark = f"forwarded_log_id:{url}"
        self._write = f"{url}/write?precision=s"
        self._timeout = timeout

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        """An agent's own lines unchanged when they can be (`as_sent`), else its numbers and
        booleans (`format_victoria`)."""
        sent = as_sent(request.text, request.precision)
        return (sent, []) if sent is not None else point_lines(format_victoria, request)

    def prepare(self) -> None:
        """Nothing to create: VictoriaMetrics takes any metric."""

    def started(self) -> int | None:
        """The node's `vm_app_start_timestamp` (None when it does not answer)."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=self._timeout) as answer:  # noqa: S310
                for line in answer.read().decode().splitlines():
                    if line.startswith("vm_app_start_timestamp "):
                        return int(float(line.split()[1]))
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return None

    def send(self, lines: list[str]) -> None:
        """POST the lines; raises Retry or Rejected."""
        missing = post_lines(
            self._write, lines, {"Content-Type": "text/plain; charset=utf-8"}, self._timeout
        )
        if missing is not None:
            raise Rejected(f"HTTP 404: {missing} (is {self.url} a VictoriaMetrics node?)")


class V2Target(DurableTarget):
    """InfluxDB's 2.x write API through influxdb-client, synchronous."""

    name = "influxdb"
    mark = "mirrored_log_id"

    def __init__(self, config: InfluxConfig, timeout: float = 30.0) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._config = config
        self._client = InfluxDBClient(
            url=config.url, token=config.token, org=config.org, timeout=int(timeout * 1000)
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        """The request's points as InfluxDB 2.x and 3.x read them."""
        return point_lines(format_v2, request)

    def prepare(self) -> None:
        """Nothing to create: the bucket belongs to the InfluxDB administrator."""

    def send(self, lines: list[str]) -> None:
        """Write the lines; raises Retry or Rejected."""
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision

        try:
            self._api.write(
                bucket=self._config.bucket,
                org=self._config.org,
                record="\n".join(lines),
                write_precision=WritePrecision.S,  # type: ignore[arg-type]
            )
        except InfluxDBError as err:
            status = err.response.status if err.response is not None else 0
            if 400 <= status < 500 and status not in (408, 429):
                raise Rejected(f"HTTP {status}: {err.message}") from None
            raise Retry(f"HTTP {status}: {err.message}") from None
        except OSError as err:  # urllib3 errors derive from it
            raise Retry(str(err)) from None


class Target(Protocol):
    """Where a forwarder sends the outbox: `lines_of` turns a request into what `send` takes."""

    name: str
    mark: str  # the meta key of its watermark
    # Takes the collector's own health (site OWN_SITE): the targets the rules read when several
    # collectors share a state; a mirror does not.
    own_health: bool
    # Seconds of the outbox sent again when the target restarted: what a target that answers
    # before its data is on disk may have lost when it died (0: it does not).
    replay_seconds: int

    def started(self) -> int | None:
        """When the target's process started (None: unknown, or no replay_seconds)."""

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        """What the target takes of the request, and the points it cannot store (with the
        reason); raises LineError."""

    def prepare(self) -> None:
        """Create what the target needs before the first send."""

    def send(self, lines: list[str]) -> None:
        """Deliver; raises Retry or Rejected."""


def influx_target(config: InfluxConfig) -> Target:
    """The InfluxDB mirror's target for its API version."""
    return V2Target(config) if config.api == "v2" else V1Target(config)


class Forwarder:
    """One target's thread: the InfluxDB mirror, or one VictoriaMetrics node."""

    def __init__(
        self, path: Path, target: Target, retry_max_seconds: float = 60.0, base_delay: float = 1.0
    ) -> None:
        self._conn = connect(path)
        self._target = target
        self.mark, self.name = target.mark, target.name
        self.target_url = getattr(target, "url", "")
        self._base, self._max = base_delay, retry_max_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-out", daemon=True)
        self.sent_lines = 0
        self.dead_letters = 0
        self.last_error = ""
        self._next_check = 0.0

    def watermark(self, conn: sqlite3.Connection | None = None) -> int:
        """The last ingest_log id the target has; read through `conn` from another thread
        (the forwarder's own connection may be waiting for the store's write lock)."""
        return read_mark(conn or self._conn, self.mark) or 0

    def depth(self, conn: sqlite3.Connection | None = None) -> int:
        """Accepted write requests the target does not have yet (`conn`: as for watermark)."""
        reader = conn or self._conn
        row = reader.execute(
            "SELECT count(*) FROM ingest_log WHERE id > ?", (self.watermark(reader),)
        ).fetchone()
        return int(row[0])

    def start(self) -> None:
        """Start forwarding."""
        self._thread.start()

    def poke(self) -> None:
        """New data arrived: look at the outbox now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the batch in flight."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._conn.close()

    def _dead_letter(self, reason: str, body: str) -> None:
        self._conn.execute(
            "INSERT INTO dead_letter (created, target, reason, body) VALUES (?, ?, ?, ?)",
            (int(time.time()), self.name, reason, body.encode()),
        )
        self.dead_letters += 1

    def _advance(self, batch: OutboxBatch) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        for reason, line in batch.unstorable:
            log.warning("%s: point kept in dead_letter: %s", self.name, reason)
            self._dead_letter(reason, line)
        write_mark(self._conn, self.mark, batch.last_log_id)
        self._conn.execute("COMMIT")

    def _check_restart(self) -> None:
        """A target that restarted since it was last seen running may have lost what it had
        just acknowledged: send again what it received from `replay_seconds` before it was
        last seen up on (the log keeps an hour at least). Looked at every RESTART_CHECK s."""
        if not self._target.replay_seconds or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + RESTART_CHECK
        started = self._target.started()
        if started is None:
            return
        seen = read_mark(self._conn, f"{self.mark}:started")
        confirmed = read_mark(self._conn, f"{self.mark}:seen_up") or 0
        self._conn.execute("BEGIN IMMEDIATE")
        if seen is not None and seen != started:
            since = confirmed - self._target.replay_seconds
            row = self._conn.execute(
                "SELECT min(id) FROM ingest_log WHERE received >= ?", (since,)
            ).fetchone()
            if row[0] is not None and int(row[0]) - 1 < self.watermark():
                log.warning("%s restarted: what it received since %d is sent again", self.name,
                            since)  # fmt: skip
                write_mark(self._conn, self.mark, int(row[0]) - 1)
        write_mark(self._conn, f"{self.mark}:started", started)
        write_mark(self._conn, f"{self.mark}:seen_up", int(time.time()))
        self._conn.execute("COMMIT")

    def forward_once(self) -> bool:
        """Send one batch; True if there may be more. Raises Retry."""
        self._check_restart()
        batch = read_outbox(self._conn, self.watermark(), self._target)
        if batch is None:
            return False
        # One ingest_log row may hold more than MAX_LINES: send it in slices. A Retry part-way
        # resends the earlier slices, which the target stores once (same values, same times).
        for start in range(0, len(batch.lines), MAX_LINES):
            chunk = batch.lines[start : start + MAX_LINES]
            try:
                self._target.send(chunk)
            except Rejected as err:
                log.error("%s refused %d lines: %s", self.name, len(chunk), err)
                batch.unstorable.append((str(err), "\n".join(chunk)))
            else:
                self.sent_lines += len(chunk)
        self._advance(batch)
        return True

    def _loop(self) -> None:
        self._target.prepare()
        failures = 0
        while not self._stop.is_set():
            try:
                more = self.forward_once()
                failures = 0
                self.last_error = ""
            except sqlite3.Error as err:
                log.error("%s forwarder cannot read the outbox: %s", self.name, err)
                self._stop.wait(5)
                continue
            except Exception as err:  # Retry, or a fault of ours: never end the thread
                failures += 1
                delay = min(self._max, self._base * 2 ** min(failures - 1, 10))
                if isinstance(err, Retry):
                    self.last_error = str(err)
                    log.warning("%s unreachable (%s); retry in %.0f s", self.name, err, delay)
                else:  # said in /healthz and logged with its traceback
                    self.last_error = f"{type(err).__name__}: {err}"
                    log.exception("%s forwarder failed; retry in %.0f s", self.name, delay)
                self._stop.wait(delay)
                continue
            if not more:
                self._wake.wait(1.0)
                self._wake.clear()
