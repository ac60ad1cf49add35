"""Turns appended write requests into series and samples (the step after the acknowledgement)."""

from __future__ import annotations

import gzip
import logging
import sqlite3

from collector.ingest.lineproto import Head, HeadCache, LineError, encode_fields, parse_rows
from collector.ingest.write import Identified, with_identity
from collector.store.db import read_mark, write_mark
from collector.store.rollup import FIVE_MINUTES, rolling_until

log = logging.getLogger(__name__)

# A point older than this when it arrives is history replayed (an agent's spool after an
# outage): the forecasts, which otherwise run every 10 minutes, are re-read for its host.
BACKFILL = 600


def decode_body(body: bytes, gzipped: bool) -> str:
    """The text of an appended request."""
    return (gzip.decompress(body) if gzipped else body).decode()


class Indexer:
    """Writes parsed points into `series` and `sample`; keeps a cache of series ids."""

    def __init__(self, conn: sqlite3.Connection, heads: HeadCache | None = None) -> None:
        self._conn = conn
        self._heads = heads
        # Head.key -> series id: the key strings are the parser's cached objects, and a string
        # keeps its hash, where a tuple of tags would be hashed again on every lookup.
        self._series: dict[str, int] = {}
        self.rolled_until = rolling_until(conn)  # points before it are late
        # Series indexed since the alert engine last looked (committed), and in this transaction.
        self.touched: set[int] = set()
        self._touching: set[int] = set()
        self.backfilled: set[int] = set()  # touched series that received replayed history
        self._backfilling: set[int] = set()

    def _new_series(self, head: Head, time: int) -> int:
        measurement, tags = head.measurement_and_tags()
        row = self._conn.execute(
            "INSERT INTO series (key, measurement, site, host, tags, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET last_seen=last_seen "
            "RETURNING id",
            (
                head.key,
                measurement,
                head.site,
                head.host,
                encode_fields(dict(tags)),  # sorted already
                time,
            ),
        ).fetchone()
        sid = self._series[head.key] = int(row[0])
        return sid

    def index(self, batch: Identified, received: int = 0) -> None:
        """Store rows (inside the caller's transaction); same series and second merge fields.
        Series given points older than BACKFILL before `received` are noted as backfilled."""
        series, touching, rolled = self._series, self._touching, self.rolled_until
        replayed_before = received - BACKFILL
        samples = []
        last_seen: dict[int, int] = {}
        late: set[tuple[int, int]] = set()
        for head, time, fields, _ in batch.rows:
            sid = series.get(head.key)
            if sid is None:
                sid = self._new_series(head, time)
            touching.add(sid)
            samples.append((sid, time, fields))
            if time > last_seen.get(sid, 0):
                last_seen[sid] = time
            if time < rolled:
                late.add((sid, time - time % FIVE_MINUTES))
            if time < replayed_before:
                self._backfilling.add(sid)
        if late:
            self._conn.executemany("INSERT OR IGNORE INTO rollup_dirty VALUES (?, ?)", late)
        self._conn.executemany(
            "INSERT INTO sample (series_id, ts, fields) VALUES (?, ?, ?) "
            "ON CONFLICT(series_id, ts) DO UPDATE SET fields=json_patch(fields, excluded.fields)",
            samples,
        )
        self._conn.executemany(
            "UPDATE series SET last_seen=? WHERE id=? AND last_seen<?",
            [(ts, sid, ts) for sid, ts in last_seen.items()],
        )
        self._conn.executemany(
            "INSERT INTO host VALUES (?, ?, ?) "
            "ON CONFLICT (site, host) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
            [(site, host, ts) for (site, host), ts in batch.hosts.items()],
        )

    def index_log(self, limit: int = 50) -> int:
        """Index the next appended requests after the watermark; returns how many were done."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            # Read inside the write transaction: another loop (a collector restarting while
            # the old one still finishes) can then never index the same requests too.
            rows = self._conn.execute(
                "SELECT id, received, site, host, precision, gzip, body FROM ingest_log "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (self.watermark(), limit),
            ).fetchall()
            if not rows:
                self._conn.execute("ROLLBACK")
                return 0
            for log_id, received, site, host, precision, gzipped, body in rows:
                try:
                    text = decode_body(body, bool(gzipped))
                    parsed = with_identity(
                        parse_rows(text, precision, received, self._heads), site, host
                    )
                except (LineError, OSError, UnicodeDecodeError, EOFError) as err:
                    # Checked before the 204, so this means a bug: keep the body, never drop it.
                    log.error("ingest_log %s cannot be indexed: %s", log_id, err)
                    self._conn.execute(
                        "INSERT INTO dead_letter (created, target, reason, body) "
                        "VALUES (?, 'store', ?, ?)",
                        (received, str(err), body),
                    )
                    continue
                self.index(parsed, received)
            write_mark(self._conn, "indexed_log_id", rows[-1][0])
            self._conn.execute("COMMIT")
            self.touched |= self._touching
            self.backfilled |= self._backfilling
            self._touching, self._backfilling = set(), set()
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._touching, self._backfilling = set(), set()
            self._series.clear()  # ids created in the rolled-back transaction are gone
            raise
        return len(rows)

    def watermark(self) -> int:
        """The id of the last indexed request."""
        return read_mark(self._conn, "indexed_log_id") or 0
