"""The store's two writers: the append thread and the index loop.

A request is acknowledged once its body is committed to `ingest_log` (one durable write, shared
by every request that arrived meanwhile). Turning it into series, samples and rollups is the
index loop's work, which runs in a process of its own (`index_process`) so that it has a core
of its own: parsing and indexing both hold a GIL. The two talk over a pipe: "appended up to id"
one way; "indexed up to id, and these series" back. Whatever the loop has not indexed is still
in `ingest_log`, so a loop that dies, or a collector that is killed, loses nothing: the next
loop starts from the watermark it committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import multiprocessing
import os
import queue
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from collector.ingest.lineproto import HeadCache
from collector.store.db import connect, read_mark
from collector.store.indexer import Indexer
from collector.store.rollup import Retention, enforce_retention, roll_up, rolling_until
from collector.telemetry import OWN_SITE

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


@dataclass(frozen=True, slots=True)
class Touched:
    """Series ids indexed since the alert engine last looked; `backfilled` are those among
    them that received history older than indexer.BACKFILL (its forecasts are re-read)."""

    series: set[int]
    backfilled: set[int]


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """What the index loop needs (sent to its process, so plain data)."""

    path: Path
    retention: Retention
    maintenance_every: float
    outbox_marks: tuple[str, ...]  # keep ingest_log rows until every forwarder has them

    def to_json(self) -> str:
        """These settings as the index process's command line carries them."""
        return json.dumps(
            {
                "path": str(self.path),
                "retention": dataclasses.asdict(self.retention),
                "maintenance_every": self.maintenance_every,
                "outbox_marks": list(self.outbox_marks),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IndexSettings:
        """The settings `to_json` wrote."""
        raw = json.loads(text)
        return cls(
            Path(raw["path"]),
            Retention(**raw["retention"]),
            raw["maintenance_every"],
            tuple(raw["outbox_marks"]),
        )


class IndexLoop:
    """Indexes what was appended, in order, and maintains the store (rollups, retention,
    pruning). The only writer of series, samples and rollups."""

    def __init__(
        self, settings: IndexSettings, pipe: Connection, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._pipe = pipe
        self._clock = clock
        self._conn = connect(settings.path)
        self._indexer = Indexer(self._conn, HeadCache())
        self._last_maintenance = 0.0
        self._last_retention = 0.0

    def run(self) -> None:
        """Serve until told to stop; then index what is left and return."""
        target = self._conn.execute("SELECT coalesce(max(id), 0) FROM ingest_log").fetchone()[0]
        mark = self._indexer.watermark()
        self._pipe.send(("indexed", mark, set(), set()))
        stopping = False
        behind = False  # rollups not caught up
        maintenance: list[int] = []
        while True:
            wait = 0.0 if mark < target or stopping or behind else 0.5
            woken = False
            while self._pipe.poll(wait):
                wait = 0.0
                try:
                    message = self._pipe.recv()
                except EOFError:
                    return  # the collector is gone; the next one indexes what is left
                if message[0] == "appended":
                    target = max(target, message[1])
                    woken = True
                elif message[0] == "maintain":
                    maintenance.append(message[1])
                else:
                    stopping = True
            if woken and mark >= target:
                self._pipe.send(("indexed", mark, set(), set()))  # every wake-up gets its answer
            if mark < target:
                indexed = self._index_some()
                if indexed is None:
                    if stopping:
                        return  # the requests stay in ingest_log; the next start indexes them
                    continue
                mark = indexed
                if not maintenance:
                    continue
            elif stopping:
                return
            elapsed = time.monotonic() - self._last_maintenance
            if maintenance or behind or elapsed >= self._settings.maintenance_every:
                # Asked for (tests, tools): all of it; otherwise a second at a time.
                behind = self.maintain(math.inf if maintenance else 1.0)
                for number in maintenance:
                    self._pipe.send(("maintained", number))
                maintenance = []

    def _index_some(self) -> int | None:
        """Index a few appended requests and report; None when SQLite refused (retried)."""
        try:
            self._indexer.index_log(limit=20)
        except sqlite3.Error as err:
            log.error("indexing failed, will retry: %s", err)
            time.sleep(1)
            return None
        mark = self._indexer.watermark()
        indexer = self._indexer
        touched, backfilled = indexer.touched, indexer.backfilled
        indexer.touched, indexer.backfilled = set(), set()
        self._pipe.send(("indexed", mark, touched, backfilled))
        return mark

    def maintain(self, budget: float = math.inf) -> bool:
        """Roll up closed windows, one slice of series per transaction, for up to `budget`
        seconds; once a day, enforce retention and forget idempotency keys older than any agent
        could replay. Returns whether rollups are still behind (the loop comes back to them
        between chunks of indexing)."""
        now = int(self._clock())
        self._last_maintenance = time.monotonic()
        deadline = self._last_maintenance + budget
        behind = False
        try:
            while True:
                self._conn.execute("BEGIN IMMEDIATE")
                more = roll_up(self._conn, now)
                self._conn.execute("COMMIT")
                self._indexer.rolled_until = rolling_until(self._conn)
                if not more:
                    break
                if time.monotonic() >= deadline:
                    behind = True
                    break
            if now - self._last_retention >= 86400:
                after: int | None = 0
                while after is not None:
                    self._conn.execute("BEGIN IMMEDIATE")
                    after = enforce_retention(self._conn, now, self._settings.retention, after)
                    self._conn.execute("COMMIT")
                self._conn.execute(
                    "DELETE FROM batch_key WHERE received < ?", (now - BATCH_KEY_DAYS * 86400,)
                )
                self._last_retention = now
            self._prune_log(now)
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            log.error("store maintenance failed, will retry: %s", err)
        return behind

    def _prune_log(self, now: int) -> None:
        """Drop ingest_log rows that are indexed (and forwarded), after an hour kept for
        inspection. The outbox therefore grows while InfluxDB or VictoriaMetrics is down, as
        long as disk lasts."""
        done = self._indexer.watermark()
        for mark in self._settings.outbox_marks:
            done = min(done, read_mark(self._conn, mark) or 0)
        self._conn.execute(
            "DELETE FROM ingest_log WHERE id <= ? AND received < ?", (done, now - 3600)
        )

    def close(self) -> None:
        """Close the connection and the pipe (the writer then sees the loop is gone)."""
        self._conn.close()
        self._pipe.close()


def run_index_loop(
    settings: IndexSettings, pipe: Connection, clock: Callable[[], float] = time.time
) -> None:
    """Run an IndexLoop to its end, closing the pipe whatever happens."""
    try:
        loop = IndexLoop(settings, pipe, clock)
    except BaseException:
        pipe.close()
        raise
    try:
        loop.run()
    finally:
        loop.close()


class Writer:
    """Owns the append connection and the index loop; everything that changes the store goes
    through it."""

    def __init__(
        self,
        path: Path,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
        maintenance_every: float = 30.0,
        outbox_marks: tuple[str, ...] = (),
        index_process: bool = False,
    ) -> None:
        self._conn = connect(path)
        self._settings = IndexSettings(
            path, retention or Retention(), maintenance_every, outbox_marks
        )
        self._clock = clock
        self._index_process = index_process
        self.on_commit: Callable[[], None] = lambda: None
        self._queue: queue.Queue[tuple[Append, Future[bool]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._appended = self._conn.execute(
            "SELECT coalesce(max(id), 0) FROM ingest_log"
        ).fetchone()[0]
        self._indexed = read_mark(self._conn, "indexed_log_id") or 0
        self._touched: set[int] = set()
        self._backfilled: set[int] = set()
        self._maintenance: dict[int, Future[bool]] = {}
        self._numbers = itertools.count()
        self._stopping = False
        self._woken = False  # an "appended" message is on its way, not yet answered
        self._index: threading.Thread | subprocess.Popen[bytes] | None = None
        self._pipe: Connection | None = None
        self._listener = threading.Thread(target=self._listen, name="index-progress", daemon=True)
        self.last_ingest = 0.0
        self.accepted_lines = 0
        self.duplicates = 0
        self.store_error = ""  # why the last commit failed (disk full...), until one succeeds

    def start(self) -> None:
        """Start the append thread and the index loop."""
        self._start_index()
        self._listener.start()
        self._thread.start()

    def _start_index(self) -> None:
        if self._index_process:
            ours, theirs = socket.socketpair()
            # A fresh interpreter, not a fork of this threaded one (nor multiprocessing's
            # spawn, which adds a resource-tracker process of its own).
            index: threading.Thread | subprocess.Popen[bytes] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "collector.store.index_process",
                    str(theirs.fileno()),
                    self._settings.to_json(),
                    str(os.getpid()),
                ],
                pass_fds=[theirs.fileno()],
            )
            theirs.close()  # the process holds its own copy: EOF reaches us when it ends
            pipe = Connection(ours.detach())
        else:
            pipe, theirs_end = multiprocessing.Pipe()
            index = threading.Thread(
                target=run_index_loop,
                args=(self._settings, theirs_end, self._clock),
                name="store-indexer",
                daemon=True,
            )
            index.start()
        with self._send_lock:
            self._index, self._pipe, self._woken = index, pipe, False
        self._wake()
        for number in self._maintenance:
            self._send(("maintain", number))

    def _send(self, message: tuple[object, ...]) -> None:
        with self._send_lock:
            self._send_locked(message)

    def _send_locked(self, message: tuple[object, ...]) -> None:
        assert self._pipe is not None
        # A loop that is gone is restarted by the listener, and reads the log from its mark.
        with contextlib.suppress(OSError):
            self._pipe.send(message)

    def _wake(self) -> None:
        """Tell the loop what is appended, unless a wake-up is still unanswered: the pipe must
        never fill up while the loop is busy (a send would then block the acknowledgements)."""
        with self._send_lock:
            if not self._woken:
                self._woken = True
                self._send_locked(("appended", self._appended))

    def _listen(self) -> None:
        """Take the loop's progress reports; start a new loop if it dies unasked."""
        while True:
            assert self._pipe is not None and self._index is not None
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                if isinstance(self._index, threading.Thread):
                    self._index.join()
                    code: int | None = None
                else:
                    code = self._index.wait()
                if self._stopping:
                    return
                log.error("the index loop stopped (exit code %s); starting it again", code)
                time.sleep(1)
                self._start_index()
                continue
            if message[0] == "indexed":
                with self._cond:
                    self._indexed = message[1]
                    self._touched |= message[2]
                    self._backfilled |= message[3]
                    self._cond.notify_all()
                with self._send_lock:
                    self._woken = False
                if self._indexed < self._appended:
                    self._wake()
            else:
                future = self._maintenance.pop(message[1], None)
                if future is not None:
                    future.set_result(True)

    def append(self, entry: Append) -> Future[bool]:
        """Queue a request; the future is True once committed, False for a replayed batch."""
        future: Future[bool] = Future()
        self._queue.put((entry, future))
        return future

    def take_touched(self) -> Touched:
        """The series indexed since the last call, and which of them received replayed
        history (for the alert engine)."""
        with self._cond:
            touched = Touched(self._touched, self._backfilled)
            self._touched, self._backfilled = set(), set()
        return touched

    def backlog(self) -> int:
        """Appended requests not yet indexed."""
        return int(self._appended - self._indexed)

    def sync(self, timeout: float = 30.0) -> bool:
        """Wait until everything acknowledged so far is indexed (read-your-writes for queries)."""
        with self._cond:
            target = self._appended
            return bool(self._cond.wait_for(lambda: self._indexed >= target, timeout))

    def request_maintenance(self) -> Future[bool]:
        """Run the index loop's maintenance now; the future resolves when it is done."""
        future: Future[bool] = Future()
        number = next(self._numbers)
        self._maintenance[number] = future
        self._send(("maintain", number))
        return future

    def stop(self) -> None:
        """Commit what is queued, let the index loop index the rest, and close."""
        self._queue.put(None)
        self._thread.join()
        self._listener.join()
        self._conn.close()

    def _commit(self, items: list[tuple[Append, Future[bool]]]) -> None:
        results: list[bool] = []
        last_id = self._appended
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
            if str(err) != self.store_error:
                log.error("cannot commit write requests (refused with 503): %s", err)
            self.store_error = str(err)
            for _, future in items:
                future.set_exception(err)
            return
        with self._cond:
            self._appended = last_id
        self._wake()
        if self.store_error:
            log.warning("store writable again after: %s", self.store_error)
            self.store_error = ""
        if any(entry.site != OWN_SITE for entry, _ in items):  # not the collector's own health
            self.last_ingest = time.time()
        self.on_commit()
        for (entry, future), stored in zip(items, results, strict=True):
            if stored:
                self.accepted_lines += entry.lines
            else:
                self.duplicates += 1
            future.set_result(stored)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            items: list[tuple[Append, Future[bool]]] = []
            while item is not None:
                items.append(item)
                if len(items) >= 500:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if items:
                self._commit(items)
            if item is None:
                self._stopping = True
                self._send(("stop",))
                return
