"""The single writer thread: appends write requests with group commit, then indexes them.

A request is acknowledged once its body is committed to `ingest_log` (one durable write, shared
by every request that arrived meanwhile); turning it into series and samples happens right
after, on the same thread, so SQLite never sees two writers.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from collector.ingest.write import Identified
from collector.store.db import connect, read_mark
from collector.store.indexer import Indexer
from collector.store.rollup import Retention, enforce_retention, roll_up, rolled_until

log = logging.getLogger(__name__)

BATCH_KEY_DAYS = 10  # longer than an agent's spool keeps a batch (7 days by default)


@dataclass(frozen=True, slots=True)
class Append:
    """One validated write request."""

    received: int
    site: str
    host: str
    precision: str
    gzip: bool
    lines: int
    body: bytes
    batch_key: str | None
    # Parsed on the request path; handed to the indexer in memory so it need not parse again
    # (after a restart the indexer parses the stored body instead).
    parsed: Identified | None = field(default=None, compare=False, repr=False)


# Queued instead of an Append to ask the writer thread for a maintenance pass.
_MAINTAIN: Append = Append(0, "", "", "s", False, 0, b"", None)


class Writer:
    """Owns the write connection; everything that changes samples goes through it."""

    def __init__(
        self,
        path: Path,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
        maintenance_every: float = 30.0,
        mirrored: bool = False,
    ) -> None:
        self._conn = connect(path)
        self._retention = retention or Retention()
        self._clock = clock
        self._maintenance_every = maintenance_every
        self._last_maintenance = 0.0
        self._last_retention = 0.0
        self._mirrored = mirrored  # keep ingest_log rows until InfluxDB has them too
        self.on_commit: Callable[[], None] = lambda: None
        self._indexer = Indexer(self._conn)
        self._queue: queue.Queue[tuple[Append, Future[bool]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._cond = threading.Condition()
        self._appended = self._conn.execute(
            "SELECT coalesce(max(id), 0) FROM ingest_log"
        ).fetchone()[0]
        self._indexed = self._indexer.watermark()
        self.last_ingest = 0.0
        self.accepted_lines = 0
        self.duplicates = 0
        self.store_error = ""  # why the last commit failed (disk full...), until one succeeds

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def append(self, entry: Append) -> Future[bool]:
        """Queue a request; the future is True once committed, False for a replayed batch."""
        future: Future[bool] = Future()
        self._queue.put((entry, future))
        return future

    def take_touched(self) -> set[int]:
        """Ids of the series indexed since the last call (for the alert engine)."""
        with self._cond:
            touched, self._indexer.touched = self._indexer.touched, set()
        return touched

    def backlog(self) -> int:
        """Appended requests not yet indexed."""
        return int(self._appended - self._indexed)

    def sync(self, timeout: float = 30.0) -> bool:
        """Wait until everything acknowledged so far is indexed (read-your-writes for queries)."""
        with self._cond:
            target = self._appended
            return bool(self._cond.wait_for(lambda: self._indexed >= target, timeout))

    def stop(self) -> None:
        """Commit what is queued, index the rest, and close."""
        self._queue.put(None)
        self._thread.join()
        self._conn.close()

    def _commit(self, items: list[tuple[Append, Future[bool]]]) -> None:
        results: list[bool] = []
        last_id = self._appended
        parsed: list[int] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for entry, _ in items:
                if entry.batch_key is not None:
                    seen = self._conn.execute(
                        "SELECT 1 FROM batch_key WHERE key=?", (entry.batch_key,)
                    ).fetchone()
                    if seen:
                        results.append(False)
                        continue
                cursor = self._conn.execute(
                    "INSERT INTO ingest_log (received, site, host, precision, gzip, lines, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.received,
                        entry.site,
                        entry.host,
                        entry.precision,
                        int(entry.gzip),
                        entry.lines,
                        entry.body,
                    ),
                )
                last_id = int(cursor.lastrowid or last_id)
                if entry.parsed is not None:
                    self._indexer.parsed[last_id] = entry.parsed
                    parsed.append(last_id)
                if entry.batch_key is not None:
                    self._conn.execute(
                        "INSERT INTO batch_key VALUES (?, ?, ?)",
                        (entry.batch_key, last_id, entry.received),
                    )
                results.append(True)
            self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            for log_id in parsed:  # the ids were rolled back and will be given again
                self._indexer.parsed.pop(log_id, None)
            if str(err) != self.store_error:
                log.error("cannot commit write requests (refused with 503): %s", err)
            self.store_error = str(err)
            for _, future in items:
                future.set_exception(err)
            return
        with self._cond:
            self._appended = last_id
        if self.store_error:
            log.warning("store writable again after: %s", self.store_error)
            self.store_error = ""
        self.last_ingest = time.time()
        self.on_commit()
        for (entry, future), stored in zip(items, results, strict=True):
            if stored:
                self.accepted_lines += entry.lines
            else:
                self.duplicates += 1
            future.set_result(stored)

    def _index_some(self) -> bool:
        """Index a few appended requests; False when SQLite refused (retried later)."""
        try:
            self._indexer.index_log(limit=20)
        except sqlite3.Error as err:
            log.error("indexing failed, will retry: %s", err)
            time.sleep(1)
            return False
        with self._cond:
            self._indexed = self._indexer.watermark()
            self._cond.notify_all()
        return True

    def maintain(self) -> None:
        """Roll up closed windows (looping while behind); once a day, enforce retention and
        forget idempotency keys older than any agent could replay. Runs on the writer thread."""
        now = int(self._clock())
        self._last_maintenance = time.monotonic()
        try:
            while True:
                self._conn.execute("BEGIN IMMEDIATE")
                done = roll_up(self._conn, now)
                self._conn.execute("COMMIT")
                self._indexer.rolled_until = rolled_until(self._conn)
                if not done:
                    break
            if now - self._last_retention >= 86400:
                self._conn.execute("BEGIN IMMEDIATE")
                enforce_retention(self._conn, now, self._retention)
                self._conn.execute(
                    "DELETE FROM batch_key WHERE received < ?", (now - BATCH_KEY_DAYS * 86400,)
                )
                self._conn.execute("COMMIT")
                self._last_retention = now
            self._prune_log(now)
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            log.error("store maintenance failed, will retry: %s", err)

    def _prune_log(self, now: int) -> None:
        """Drop ingest_log rows that are indexed (and mirrored), after an hour kept for
        inspection. The outbox therefore grows while InfluxDB is down, as long as disk lasts."""
        done = self._indexer.watermark()
        if self._mirrored:
            done = min(done, read_mark(self._conn, "mirrored_log_id") or 0)
        self._conn.execute(
            "DELETE FROM ingest_log WHERE id <= ? AND received < ?", (done, now - 3600)
        )

    def request_maintenance(self) -> Future[bool]:
        """Run `maintain` on the writer thread now; the future resolves when it is done."""
        future: Future[bool] = Future()
        self._queue.put((_MAINTAIN, future))
        return future

    def _loop(self) -> None:
        stopping = False
        while True:
            items: list[tuple[Append, Future[bool]]] = []
            try:
                wait = 0.0 if self._indexed < self._appended else 0.5
                item = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
                while True:
                    if item is None:
                        stopping = True
                    else:
                        items.append(item)
                    if len(items) >= 500:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            maintenance = [f for entry, f in items if entry is _MAINTAIN]
            items = [(entry, f) for entry, f in items if entry is not _MAINTAIN]
            if items:
                self._commit(items)
            if self._indexed < self._appended:
                if not self._index_some() and stopping:
                    # The requests stay in ingest_log; the next start indexes them.
                    return
                if not maintenance:
                    continue
            elif stopping:
                return
            if maintenance or time.monotonic() - self._last_maintenance >= self._maintenance_every:
                self.maintain()
                for future in maintenance:
                    future.set_result(True)
