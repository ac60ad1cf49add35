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
CHUNK = 6 * HOUR  # largest window rolled up at once
SERIES_PER_STEP = 5000  # series rolled up per transaction


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
    """Points before this time are in the 5-minute rollup (what queries may read from it)."""
    return read_mark(conn, "rollup_300_until") or 0


def rolling_until(conn: sqlite3.Connection) -> int:
    """Points before this time are late: their window is rolled up, or being rolled up (some
    of its series may be done already), so their bucket must be marked dirty."""
    return max(rolled_until(conn), read_mark(conn, "rollup_300_window_end") or 0)


# Series of the slice that sent data since the window began: a series' samples are read by
# primary key (series_id, ts), never by a scan of the whole table.
_SLICE = "SELECT id FROM series WHERE id >= ? AND id < ? AND last_seen >= ?"


def roll_up(conn: sqlite3.Connection, now: int, series_per_step: int = SERIES_PER_STEP) -> bool:
    """One step of rolling up (inside the caller's transaction): the closed window's next
    slice of series, then up to 500 dirty buckets. Returns whether there may be more to do, so
    the caller loops, committing between steps: the store's write lock is never held for long.
    """
    more = False
    until = read_mark(conn, "rollup_300_until")
    if until is None:
        first = conn.execute("SELECT min(ts) FROM sample").fetchone()[0]
        if first is None:
            return False
        until = first - first % HOUR
    target = now - GRACE
    target -= target % FIVE_MINUTES
    if target > until:
        end = read_mark(conn, "rollup_300_window_end") or min(target, until + CHUNK)
        start = read_mark(conn, "rollup_300_next_series") or 0
        stop = start + series_per_step
        conn.execute(
            _FROM_SAMPLES.format(where=f"s.series_id IN ({_SLICE}) AND s.ts >= ? AND s.ts < ?"),
            (start, stop, until, until, end),
        )
        # Hours touched by this window are recomputed from their 5-minute buckets.
        conn.execute(
            _FROM_FIVE_MINUTES.format(
                where=f"series_id IN ({_SLICE}) AND bucket >= ? AND bucket < ?"
            ),
            (start, stop, until, until - until % HOUR, end),
        )
        if conn.execute("SELECT 1 FROM series WHERE id >= ?", (stop,)).fetchone():
            write_mark(conn, "rollup_300_window_end", end)
            write_mark(conn, "rollup_300_next_series", stop)
        else:  # the window is done
            write_mark(conn, "rollup_300_until", end)
            conn.execute(
                "DELETE FROM meta WHERE key IN ('rollup_300_window_end', 'rollup_300_next_series')"
            )
        more = True
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
    return more or bool(dirty)


def enforce_retention(
    conn: sqlite3.Connection, now: int, retention: Retention, after: int = 0, count: int = 5000
) -> int | None:
    """Delete raw samples and rollups past their retention, for the `count` series after id
    `after` (inside the caller's transaction); returns the last id done, None once every series
    is. Raw samples go only once rolled up, so a long collector outage never loses history.
    """
    raw_limit = min(now - retention.raw, rolled_until(conn))
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM series WHERE id > ? ORDER BY id LIMIT ?", (after, count)
        )
    ]
    for series_id in ids:
        conn.execute("DELETE FROM sample WHERE series_id=? AND ts < ?", (series_id, raw_limit))
        for res, keep in ((FIVE_MINUTES, retention.five_minutes), (HOUR, retention.hour)):
            conn.execute(
                "DELETE FROM rollup WHERE series_id=? AND res=? AND bucket < ?",
                (series_id, res, now - keep),
            )
    return ids[-1] if len(ids) == count else None
