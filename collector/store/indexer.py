"""Turns appended write requests into series and samples (the step after the acknowledgement)."""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3

from agent.lineproto import FieldValue, escape_key, escape_measurement
from collector.ingest.lineproto import LineError, ParsedPoint, parse_lines
from collector.ingest.write import Identified, with_identity
from collector.store.db import read_mark, write_mark
from collector.store.rollup import FIVE_MINUTES, rolled_until

log = logging.getLogger(__name__)


# One C encoder built once: JSONEncoder.encode builds a new one on every call, which costs more
# than encoding a sample's few fields.
_fields_json = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True
)


def encode_fields(fields: dict[str, FieldValue]) -> str:
    """A sample's fields as compact JSON (what `sample.fields` holds)."""
    return "".join(_fields_json(fields, 0))


def series_key(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """The canonical key of a series: measurement and sorted tags, escaped as line protocol."""
    return escape_measurement(measurement) + "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in tags
    )


def decode_body(body: bytes, gzipped: bool) -> str:
    """The text of an appended request."""
    return (gzip.decompress(body) if gzipped else body).decode()


class Indexer:
    """Writes parsed points into `series` and `sample`; keeps a cache of series ids."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # (measurement, tags) -> series id: tuples hash faster than escaping a key each time.
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self.rolled_until = rolled_until(conn)
        self.parsed: dict[int, Identified] = {}  # ingest_log id -> points, not yet indexed
        # Series indexed since the alert engine last looked (committed), and in this transaction.
        self.touched: set[int] = set()
        self._touching: set[int] = set()

    def _series_id(self, point: ParsedPoint) -> int:
        sid = self._series.get((point.measurement, point.tags))
        if sid is None:
            key = series_key(point.measurement, point.tags)
            tags = dict(point.tags)
            row = self._conn.execute(
                "INSERT INTO series (key, measurement, site, host, tags, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET last_seen=last_seen "
                "RETURNING id",
                (
                    key,
                    point.measurement,
                    tags.get("site", ""),
                    tags.get("host", ""),
                    json.dumps(tags, ensure_ascii=False, sort_keys=True),
                    point.time,
                ),
            ).fetchone()
            sid = self._series[(point.measurement, point.tags)] = int(row[0])
        return sid

    def index(self, batch: Identified) -> None:
        """Store points (inside the caller's transaction); same series and second merge fields."""
        points = batch.points
        rows = []
        last_seen: dict[int, int] = {}
        late: set[tuple[int, int]] = set()
        for point in points:
            sid = self._series_id(point)
            self._touching.add(sid)
            rows.append((sid, point.time, encode_fields(point.fields)))
            if point.time > last_seen.get(sid, 0):
                last_seen[sid] = point.time
            if point.time < self.rolled_until:
                late.add((sid, point.time - point.time % FIVE_MINUTES))
        if late:
            self._conn.executemany("INSERT OR IGNORE INTO rollup_dirty VALUES (?, ?)", late)
        self._conn.executemany(
            "INSERT INTO sample (series_id, ts, fields) VALUES (?, ?, ?) "
            "ON CONFLICT(series_id, ts) DO UPDATE SET fields=json_patch(fields, excluded.fields)",
            rows,
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

    def index_log(self, upto: int | None = None, limit: int = 50) -> int:
        """Index the next appended requests after the watermark; returns how many were done."""
        mark = self.watermark()
        rows = self._conn.execute(
            "SELECT id, received, site, host, precision, gzip, body FROM ingest_log "
            "WHERE id > ? AND (? IS NULL OR id <= ?) ORDER BY id LIMIT ?",
            (mark, upto, upto, limit),
        ).fetchall()
        if not rows:
            return 0
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for log_id, received, site, host, precision, gzipped, body in rows:
                parsed = self.parsed.pop(log_id, None)  # identified on the request path
                try:
                    if parsed is None:
                        parsed = with_identity(
                            parse_lines(decode_body(body, bool(gzipped)), precision, received),
                            site,
                            host,
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
                self.index(parsed)
            write_mark(self._conn, "indexed_log_id", rows[-1][0])
            self._conn.execute("COMMIT")
            self.touched |= self._touching
            self._touching = set()
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._touching = set()
            self._series.clear()  # ids created in the rolled-back transaction are gone
            raise
        return len(rows)

    def watermark(self) -> int:
        """The id of the last indexed request."""
        return read_mark(self._conn, "indexed_log_id") or 0
