"""Rollups (min, max, sum, count, last per field) at 5 min and 1 h, and retention.

Rolled up in SQL, one closed window at a time, behind a watermark kept in `meta`; points that
arrive late for a window already rolled up mark its bucket dirty, and the bucket is recomputed
whole, so nothing is counted twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from collector.store.db import read_mark, write_mark

FIVE_MINUTES, HOUR, DAY = 300, 3600, 86400
RESOLUTIONS = (FIVE_MINUTES, HOUR)
GRACE = 120  # seconds a window stays open for points still on their way
CHUNK = 6 * HOUR  # largest window rolled up in one transaction


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each resolution is kept, in seconds."""

    raw: int = 30 * DAY
    five_minutes: int = 366 * DAY
    hour: int = 5 * 366 * DAY


# The newest value of the bucket via a window function; `json_each` splits the field object.
_FROM_SAMPLES = """
INSERT OR REPLACE INTO rollup (series_id, field, res, bucket, min, max, sum, count, last)
SELECT series_id, field, 300, bucket, min(v), max(v), sum(v), count(v),
       max(CASE WHEN rn = 1 THEN v END)
FROM (
    SELECT s.series_id, j.key AS field, s.ts - s.ts % 300 AS bucket, j.value AS v,
           row_number() OVER (PARTITION BY s.series_id, j.key, s.ts - s.ts % 300
                              ORDER BY s.ts DESC) AS rn
    FROM sample AS s, json_each(s.fields) AS j
    WHERE {where} AND j.type IN ('integer', 'real', 'true', 'false')
)
GROUP BY series_id, field, bucket
"""

_FROM_FIVE_MINUTES = """
INSERT OR REPLACE INTO rollup (series_id, field, res, bucket, min, max, sum, count, last)
SELECT series_id, field, 3600, hour, min(min), max(max), sum(sum), sum(count),
       max(CASE WHEN rn = 1 THEN last END)
FROM (
    SELECT series_id, field, bucket - bucket % 3600 AS hour, min, max, sum, count, last,
           row_number() OVER (PARTITION BY series_id, field, bucket - bucket % 3600
                              ORDER BY bucket DESC) AS rn
    FROM rollup
    WHERE res = 300 AND {where}
)
GROUP BY series_id, field, hour
"""


def rolled_until(conn: sqlite3.Connection) -> int:
    """Points before this time are in the 5-minute rollup."""
    return read_mark(conn, "rollup_300_until") or 0


def roll_up(conn: sqlite3.Connection, now: int) -> int:
    """Roll up closed windows and dirty buckets (inside the caller's transaction); returns the
    number of seconds of history rolled up, so the caller can loop while behind."""
    done = 0
    until = read_mark(conn, "rollup_300_until")
    if until is None:
        first = conn.execute("SELECT min(ts) FROM sample").fetchone()[0]
        if first is None:
            return 0
        until = first - first % HOUR
    target = now - GRACE
    target -= target % FIVE_MINUTES
    if target > until:
        end = min(target, until + CHUNK)
        conn.execute(_FROM_SAMPLES.format(where="s.ts >= ? AND s.ts < ?"), (until, end))
        # Hours touched by this window are recomputed from their 5-minute buckets.
        conn.execute(
            _FROM_FIVE_MINUTES.format(where="bucket >= ? AND bucket < ?"),
            (until - until % HOUR, end),
        )
        write_mark(conn, "rollup_300_until", end)
        done = end - until
    dirty = conn.execute("SELECT series_id, bucket FROM rollup_dirty LIMIT 500").fetchall()
    for series_id, bucket in dirty:
        conn.execute(
            _FROM_SAMPLES.format(where="s.series_id = ? AND s.ts >= ? AND s.ts < ?"),
            (series_id, bucket, bucket + FIVE_MINUTES),
        )
        hour = bucket - bucket % HOUR
        conn.execute(
            _FROM_FIVE_MINUTES.format(where="series_id = ? AND bucket >= ? AND bucket < ?"),
            (series_id, hour, hour + HOUR),
        )
    conn.executemany("DELETE FROM rollup_dirty WHERE series_id=? AND bucket=?", dirty)
    return done


def enforce_retention(conn: sqlite3.Connection, now: int, retention: Retention) -> int:
    """Delete raw samples and rollups past their retention; returns rows deleted.

    Raw samples go only once rolled up, so a long collector outage never loses the history.
    """
    raw_limit = min(now - retention.raw, rolled_until(conn))
    deleted = 0
    for (series_id,) in conn.execute("SELECT id FROM series").fetchall():
        deleted += conn.execute(
            "DELETE FROM sample WHERE series_id=? AND ts < ?", (series_id, raw_limit)
        ).rowcount
        for res, keep in ((FIVE_MINUTES, retention.five_minutes), (HOUR, retention.hour)):
            deleted += conn.execute(
                "DELETE FROM rollup WHERE series_id=? AND res=? AND bucket < ?",
                (series_id, res, now - keep),
            ).rowcount
    return deleted
