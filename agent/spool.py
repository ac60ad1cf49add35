"""SQLite store-and-forward: every batch waits here until the collector acknowledges it.

Bounded by age and size (oldest dropped first, and counted); survives kill -9 and reboots
(WAL with synchronous=FULL: a batch is on disk before `put` returns). When the disk refuses a
write (full, read-only, I/O error), batches wait in memory, compressed and bounded, and go to
disk as soon as it takes them again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

MAX_LINES_PER_BATCH = 5000
MAX_HELD_BYTES = 8 * 1024 * 1024  # compressed batches held in memory while the disk refuses

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: part of the idempotency key
    created INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'metrics',   -- metrics | inventory
    lines INTEGER NOT NULL,
    body BLOB NOT NULL                      -- gzip, exactly as sent
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Batch(NamedTuple):
    """One spooled batch, ready to send."""

    seq: int
    created: int
    kind: str
    lines: int
    body: bytes


class SpoolStats(NamedTuple):
    """The spool's state, reported in the agent's own telemetry."""

    batches: int
    bytes: int
    oldest_age: int
    dropped_batches: int
    dropped_lines: int
    held_batches: int  # in memory: the disk refused them (see `write_error`)
    write_error: str


def gzip_bytes(data: bytes) -> bytes:
    """A gzip stream, as sent with Content-Encoding: gzip. zlib itself, not the gzip module,
    whose file machinery the agent would carry for its whole life."""
    return zlib.compress(data, 6, wbits=31)


def encode_lines(lines: list[str]) -> bytes:
    """A batch's body as sent: the lines, gzip-compressed."""
    return gzip_bytes(("\n".join(lines) + "\n").encode())


class Spool:
    """A durable FIFO of gzip batches with age and size bounds."""

    def __init__(
        self,
        path: Path,
        max_age_seconds: float = 7 * 86400,
        max_bytes: int = 100 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Collection and sending run on separate threads: one statement or transaction at a time.
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # A few batches at a time go through the spool: SQLite's default 2 MiB page cache
            # would only grow the agent's memory over weeks, never make it faster.
            self._db.execute("PRAGMA cache_size=-256")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise OSError(
                f"cannot open the spool {path}: {err}; check spool.path in the config and "
                "that the agent's account may write there"
            ) from None
        self._max_age = max_age_seconds
        self._max_bytes = max_bytes
        self._clock = clock
        self.agent_id = self._meta("agent_id") or self._set_meta("agent_id", os.urandom(16).hex())
        self._held: list[tuple[int, str, int, bytes]] = []  # (created, kind, lines, body)
        self._lost = (0, 0)  # (batches, lines) dropped from memory, counted once disk is back
        self.write_error = ""

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> str:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        return value

    def _count(self, key: str, by: int) -> None:
        self._set_meta(key, str(int(self._meta(key) or 0) + by))

    def put(self, lines: list[str], kind: str = "metrics") -> int:
        """Spool lines in batches of at most 5,000; returns how many batches were made."""
        now = int(self._clock())
        rows = [
            (now, kind, len(chunk), encode_lines(chunk))
            for chunk in (
                lines[i : i + MAX_LINES_PER_BATCH]
                for i in range(0, len(lines), MAX_LINES_PER_BATCH)
            )
        ]
        self._write(rows)
        return len(rows)

    def put_document(self, body: bytes, kind: str) -> None:
        """Spool one already-encoded document (an inventory) as its own batch."""
        self._write([(int(self._clock()), kind, 1, gzip_bytes(body))])

    def flush(self) -> bool:
        """Move batches held in memory to disk; True when none is left waiting."""
        if self._held:
            self._write([])
        return not self._held

    def _write(self, rows: list[tuple[int, str, int, bytes]]) -> None:
        """Insert held batches then `rows` in one transaction; on a refusal, hold them all."""
        with self._lock:
            rows = self._held + rows
            try:
                with self._transaction():
                    self._db.executemany(
                        "INSERT INTO batch (created, kind, lines, body) VALUES (?, ?, ?, ?)", rows
                    )
                    batches, lines = self._lost
                    if batches:
                        self._count("dropped_batches", batches)
                        self._count("dropped_lines", lines)
                    self._enforce_bounds(int(self._clock()))
            except sqlite3.OperationalError as err:
                self._hold(rows, str(err))
                return
            if self.write_error:
                log.warning("spool writable again: %d held batches saved", len(self._held))
            self._held, self._lost, self.write_error = [], (0, 0), ""

    def _hold(self, rows: list[tuple[int, str, int, bytes]], error: str) -> None:
        if error != self.write_error:
            log.error(
                "cannot write the spool (%s): holding batches in memory (up to %d MiB) "
                "until it can",
                error,
                MAX_HELD_BYTES // 1048576,
            )
        self.write_error = error
        self._held = rows
        held_bytes = sum(len(row[3]) for row in rows)
        batches, lines = self._lost
        while held_bytes > MAX_HELD_BYTES and len(self._held) > 1:
            _, _, count, body = self._held.pop(0)  # oldest first, as the size bound does
            held_bytes -= len(body)
            batches, lines = batches + 1, lines + count
        self._lost = (batches, lines)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def _enforce_bounds(self, now: int) -> None:
        old = self._db.execute(
            "SELECT count(*), coalesce(sum(lines), 0) FROM batch WHERE created < ?",
            (now - self._max_age,),
        ).fetchone()
        if old[0]:
            self._db.execute("DELETE FROM batch WHERE created < ?", (now - self._max_age,))
            self._count("dropped_batches", old[0])
            self._count("dropped_lines", old[1])
        total = self._db.execute("SELECT coalesce(sum(length(body)), 0) FROM batch").fetchone()[0]
        while total > self._max_bytes:
            seq, lines, size = self._db.execute(
                "SELECT seq, lines, length(body) FROM batch ORDER BY seq LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM batch WHERE seq=?", (seq,))
            self._count("dropped_batches", 1)
            self._count("dropped_lines", lines)
            total -= size

    def pending(self, limit: int = 100) -> Iterator[Batch]:
        """Unsent batches, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, created, kind, lines, body FROM batch ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return (Batch(*row) for row in rows)

    def ack(self, seq: int) -> None:
        """The collector has the batch: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM batch WHERE seq=?", (seq,))

    def drop(self, batch: Batch) -> None:
        """The collector refused the batch for good: forget it and count it."""
        with self._transaction():
            self._db.execute("DELETE FROM batch WHERE seq=?", (batch.seq,))
            self._count("rejected_batches", 1)
            self._count("rejected_lines", batch.lines)

    def split(self, batch: Batch) -> bool:
        """Replace a batch the collector found too large (413) by its two halves, which go
        after the batches already waiting, each with a sequence number of its own. False when
        it is one line (or one document) and cannot be split."""
        if batch.kind != "metrics" or batch.lines < 2:
            return False
        lines = zlib.decompress(batch.body, wbits=31).decode().splitlines()
        half = len(lines) // 2
        rows = [
            (batch.created, batch.kind, len(part), encode_lines(part))
            for part in (lines[:half], lines[half:])
        ]
        with self._transaction():
            self._db.execute("DELETE FROM batch WHERE seq=?", (batch.seq,))
            self._db.executemany(
                "INSERT INTO batch (created, kind, lines, body) VALUES (?, ?, ?, ?)", rows
            )
        return True

    def last_inventory(self) -> tuple[str, int]:
        """Hash and time of the last inventory spooled."""
        return self._meta("inventory_hash") or "", int(self._meta("inventory_time") or 0)

    def remember_inventory(self, digest: str, when: int) -> None:
        """Record the inventory just spooled."""
        with self._transaction():
            self._set_meta("inventory_hash", digest)
            self._set_meta("inventory_time", str(when))

    def counter(self, key: str) -> int:
        """A persistent counter (dropped_batches, rejected_lines...)."""
        return int(self._meta(key) or 0)

    def stats(self) -> SpoolStats:
        """Depth, size and age of the spool, and what the bounds dropped."""
        with self._lock:
            count, size, oldest = self._db.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0), min(created) FROM batch"
            ).fetchone()
            held = list(self._held)
        if held:
            oldest = min(oldest or held[0][0], held[0][0])
        age = int(self._clock()) - oldest if oldest is not None else 0
        return SpoolStats(
            count,
            size,
            max(0, age),
            self.counter("dropped_batches") + self._lost[0],
            self.counter("dropped_lines") + self._lost[1],
            len(held),
            self.write_error,
        )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: object, value: object, trace: object) -> None:
        try:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self._lock.release()
