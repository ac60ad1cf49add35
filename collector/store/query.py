"""Reading series back: raw points, step averages, and per-second rates of counters."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

COUNTER32 = 2**32


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """What `GET /api/v1/query` asks for."""

    measurement: str
    field: str
    start: int
    end: int
    site: str | None = None
    host: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    step: int = 0  # 0: raw points
    rate: bool = False


def counter_rate(points: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """Per-second rate of a counter. A drop from the upper half of the 32-bit range is a wrap;
    any other drop is a reset (reboot) and yields no point rather than a negative rate."""
    out: list[tuple[int, float]] = []
    previous: tuple[int, float] | None = None
    for ts, value in points:
        if previous is not None and ts > previous[0]:
            delta = value - previous[1]
            if delta < 0:
                delta = (
                    COUNTER32 - previous[1] + value
                    if COUNTER32 / 2 <= previous[1] < COUNTER32
                    else -1
                )
            if delta >= 0:
                out.append((ts, delta / (ts - previous[0])))
        previous = (ts, value)
    return out


def bucket_mean(points: Iterable[tuple[int, float]], step: int) -> list[tuple[int, float]]:
    """Average of the points in each `step`-second bucket, stamped at the bucket start."""
    sums: dict[int, list[float]] = {}
    for ts, value in points:
        acc = sums.setdefault(ts - ts % step, [0.0, 0.0])
        acc[0] += value
        acc[1] += 1
    return [(ts, total / count) for ts, (total, count) in sorted(sums.items())]


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def run_query(conn: sqlite3.Connection, q: SeriesQuery) -> list[dict[str, object]]:
    """Every series that matches, with its points in time order."""
    sql = "SELECT id, tags FROM series WHERE measurement=?"
    args: list[object] = [q.measurement]
    if q.site is not None:
        sql += " AND site=?"
        args.append(q.site)
    if q.host is not None:
        sql += " AND host=?"
        args.append(q.host)
    for name, value in sorted(q.tags.items()):
        sql += " AND json_extract(tags, ?) = ?"
        args += [f'$."{name}"', value]
    path = '$."' + q.field.replace('"', '""') + '"'
    result = []
    # A rate needs the point just before the window to give the window's first value.
    lead = (q.step or 3600) if q.rate else 0
    for sid, tags in conn.execute(sql + " ORDER BY key", args).fetchall():
        rows = conn.execute(
            "SELECT ts, json_extract(fields, ?) FROM sample "
            "WHERE series_id=? AND ts BETWEEN ? AND ? ORDER BY ts",
            (path, sid, q.start - lead, q.end),
        ).fetchall()
        points = [(ts, v) for ts, raw in rows if (v := _number(raw)) is not None]
        if q.rate:
            points = counter_rate(points)
        points = [(ts, v) for ts, v in points if ts >= q.start]
        if q.step:
            points = bucket_mean(points, q.step)
        if points:
            result.append({"tags": json.loads(tags), "points": [[ts, v] for ts, v in points]})
    return result
