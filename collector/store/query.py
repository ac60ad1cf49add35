"""Reading series back: raw points or rollups, step aggregates, per-second rates of counters."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from collector.store.rollup import RESOLUTIONS, rolled_until

COUNTER32 = 2**32
AGGREGATES = ("mean", "min", "max", "last")


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
    agg: str = "mean"
    sites: tuple[str, ...] = ()  # any of these sites (the rules' share of a collector)


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of the values in one time bucket."""

    ts: int
    min: float
    max: float
    sum: float
    count: int
    last: float

    def value(self, agg: str) -> float:
        """The bucket's value for an aggregate name."""
        if agg == "mean":
            return self.sum / self.count
        return float(getattr(self, agg))


def counter_rate(points: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """Per-second rate of a counter. A drop from the upper half of the 32-bit range is a wrap;
    any other drop is a reset (reboot) and yields no point rather than a negative rate."""
    out: list[tuple[int, float]] = []
    previous: tuple[int, float] | None = None
    for ts, value in points:
        if previous is not None and ts > previous[0]:
            delta = value - previous[1]
            if delta < 0:
                wrapped = COUNTER32 / 2 <= previous[1] < COUNTER32
                delta = COUNTER32 - previous[1] + value if wrapped else -1
            if delta >= 0:
                out.append((ts, delta / (ts - previous[0])))
        previous = (ts, value)
    return out


def merge_buckets(buckets: Iterable[Bucket], step: int) -> list[Bucket]:
    """Combine buckets (or single points as buckets) into `step`-second buckets."""
    out: dict[int, Bucket] = {}
    for b in sorted(buckets, key=lambda b: b.ts):
        ts = b.ts - b.ts % step
        a = out.get(ts)
        out[ts] = (
            b
            if a is None
            else Bucket(
                ts, min(a.min, b.min), max(a.max, b.max), a.sum + b.sum, a.count + b.count, b.last
            )
        )
    return [dataclasses.replace(b, ts=ts) for ts, b in sorted(out.items())]


Value = float | int | bool | str  # a field as written


def as_number(value: object) -> float | None:
    """A stored field value as a number (booleans as 0/1); None for strings."""
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def resolution(step: int, start: int, raw_since: int) -> int:
    """The coarsest stored resolution not coarser than `step`; a rollup whenever the range
    starts before the raw data kept (0 = raw)."""
    fitting = [r for r in RESOLUTIONS if r <= step]
    res = max(fitting, default=0)
    return res or (RESOLUTIONS[0] if start < raw_since else 0)


def _matching_series(conn: sqlite3.Connection, q: SeriesQuery) -> list[tuple[int, str]]:
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
    return [(int(i), str(t)) for i, t in conn.execute(sql + " ORDER BY key", args).fetchall()]


def _raw(
    conn: sqlite3.Connection, sids: list[int], path: str, start: int, end: int
) -> dict[int, list[tuple[int, Value]]]:
    """Raw samples of these series in [start, end], in one query (a fleet-wide query reads
    thousands of series: one statement each would cost more than the data). Values as they
    were written: numbers, strings, booleans (json_type tells true from 1)."""
    out: dict[int, list[tuple[int, Value]]] = {sid: [] for sid in sids}
    for sid, ts, raw, kind in conn.execute(
        "SELECT series_id, ts, json_extract(fields, ?), json_type(fields, ?) FROM sample "
        "WHERE series_id IN (SELECT value FROM json_each(?)) AND ts >= ? AND ts <= ? "
        "ORDER BY series_id, ts",
        (path, path, json.dumps(sids), start, end),
    ):
        if kind in ("true", "false"):
            out[sid].append((ts, kind == "true"))
        elif raw is not None:
            out[sid].append((ts, raw))
    return out


_ROLLUP_BUCKETS = """
SELECT series_id, bucket, min, max, sum, count, last FROM rollup
WHERE series_id IN (SELECT value FROM json_each(?)) AND res=? AND field=?
      AND bucket >= ? AND bucket < ?
ORDER BY series_id, bucket
"""
# The same buckets merged into steps by SQLite (a 1-year chart: 8,760 hours become 365 rows
# in C, not in Python); `last` is the step's last bucket's, the same on each of its rows.
_ROLLUP_STEPS = """
SELECT series_id, step, min(min), max(max), sum(sum), sum(count), final FROM (
    SELECT series_id, bucket - bucket % ? AS step, min, max, sum, count,
           last_value(last) OVER (PARTITION BY series_id, bucket - bucket % ? ORDER BY bucket
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS final
    FROM rollup
    WHERE series_id IN (SELECT value FROM json_each(?)) AND res=? AND field=?
          AND bucket >= ? AND bucket < ?
) GROUP BY series_id, step ORDER BY series_id, step
"""


def _rollup(
    conn: sqlite3.Connection,
    sids: list[int],
    field: str,
    res: int,
    start: int,
    end: int,
    step: int = 0,
) -> dict[int, list[Bucket]]:
    """Rollup buckets of these series in [start, end), in one query; merged into `step`-second
    buckets already when the step is a multiple of the resolution."""
    out: dict[int, list[Bucket]] = {sid: [] for sid in sids}
    where = (json.dumps(sids), res, field, start - start % res, end)
    if step > res and step % res == 0:
        rows = conn.execute(_ROLLUP_STEPS, (step, step, *where))
    else:
        rows = conn.execute(_ROLLUP_BUCKETS, where)
    for sid, *row in rows:
        out[sid].append(Bucket(*row))
    return out


class QueryError(ValueError):
    """A query that cannot be answered as asked; the message says what to ask instead."""


def _text_points(raw: list[tuple[int, Value]], q: SeriesQuery) -> list[tuple[int, Value]]:
    """A field holding text (a poll error, a printer's status): raw points, or the last of
    each step; averaging text means nothing."""
    if q.rate or (q.step and q.agg != "last"):
        what = "rate=true" if q.rate else f"agg={q.agg}"
        raise QueryError(
            f"field {q.field!r} of {q.measurement!r} holds text: {what} needs numbers; "
            "ask for raw points (no step) or agg=last"
        )
    points = [(ts, v) for ts, v in raw if ts >= q.start]
    if not q.step:
        return points
    last: dict[int, Value] = {}
    for ts, v in points:
        last[ts - ts % q.step] = v
    return sorted(last.items())


def numeric_points(
    buckets: list[Bucket], raw: list[tuple[int, float]], q: SeriesQuery
) -> list[tuple[int, Value]]:
    """The points a query asks for, from rollup buckets and the raw samples after them: rates,
    steps, or the points themselves."""
    if q.rate:
        lasts = [(b.ts, b.last) for b in buckets] + raw
        points = [(ts, v) for ts, v in counter_rate(lasts) if ts >= q.start]
        singles = [Bucket(ts, v, v, v, 1, v) for ts, v in points]
    else:
        # The buckets start at the range's own (read from there): only raw points need a cut.
        singles = buckets + [Bucket(ts, v, v, v, 1, v) for ts, v in raw if ts >= q.start]
    if q.step:
        return [(b.ts, b.value(q.agg)) for b in merge_buckets(singles, q.step)]
    return [(b.ts, b.value(q.agg)) for b in singles]


_FIELD_SEEN = (
    "SELECT 1 FROM (SELECT fields FROM sample WHERE series_id=? ORDER BY ts DESC LIMIT 2000) "
    "WHERE json_type(fields, ?) IS NOT NULL LIMIT 1"
)
_NEWEST_FIELDS = (
    "SELECT group_concat(key, '\t') FROM "
    "(SELECT fields FROM sample WHERE series_id=? ORDER BY ts DESC LIMIT 1), json_each(fields)"
)


def json_path(field: str) -> str:
    """SQLite's JSON path of a field name (quoted: names hold dots and spaces)."""
    return '$."' + field.replace('"', '""') + '"'


def unknown_names(conn: sqlite3.Connection, q: SeriesQuery) -> str | None:
    """Why a query found nothing, when the measurement or the field does not exist for these
    hosts (with the names that do); None when they exist and the range is merely empty."""
    matching = _matching_series(conn, q)
    scope = " ".join(f"{k}={v}" for k, v in (("site", q.site), ("host", q.host)) if v)
    if not matching:
        sql, args = "SELECT DISTINCT measurement FROM series WHERE 1", []
        for column, value in (("site", q.site), ("host", q.host)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        names = [str(m) for (m,) in conn.execute(sql + " ORDER BY 1 LIMIT 100", args)]
        if q.measurement in names:
            return None  # it exists; no series has the tags asked for
        there = ", ".join(names) if names else "none: nothing was ever received"
        return f"no measurement {q.measurement!r} for {scope or 'any host'}; measurements: {there}"
    path = json_path(q.field)
    fields: set[str] = set()
    for sid, _ in matching[:20]:
        # The newest samples only: bounded work, and a field that only sometimes appears
        # (a poll's error) still counts when it appeared lately.
        if conn.execute(_FIELD_SEEN, (sid, path)).fetchone():
            return None
        for (keys,) in conn.execute(_NEWEST_FIELDS, (sid,)):
            fields.update(str(keys or "").split("\t"))
    known = ", ".join(sorted(f for f in fields if f)) or "none"
    return f"no field {q.field!r} in {q.measurement!r} for {scope or 'any host'}; fields: {known}"


def run_query(
    conn: sqlite3.Connection, q: SeriesQuery, raw_since: int = 0
) -> list[dict[str, object]]:
    """Every matching series with its points in time order. Rollups answer for the part of the
    range already rolled up; raw samples for the rest. A field holding text (or booleans,
    asked raw) comes back as it was written; QueryError for an aggregation it cannot take."""
    path = json_path(q.field)
    res = resolution(q.step, q.start, raw_since)
    until = rolled_until(conn) if res else q.start
    # A rate needs the point just before the window to give the window's first value.
    lead = max(q.step, res, 300) if q.rate else 0
    result = []
    matching = _matching_series(conn, q)
    sids = [sid for sid, _ in matching]
    if res:
        step = 0 if q.rate else q.step  # a rate reads each bucket's last value
        rolled = _rollup(conn, sids, q.field, res, q.start - lead, min(until, q.end + 1), step)
        raws = _raw(conn, sids, path, max(until, q.start - lead), q.end)
        # Text has no rollups: series without buckets are read raw over the rolled-up part
        # too, in one statement (numeric ones without buckets had no samples there).
        bare = [sid for sid in sids if not rolled[sid]]
        if bare and until > q.start:
            early = _raw(conn, bare, path, q.start, min(until - 1, q.end))
            raws.update({sid: early[sid] + raws[sid] for sid in bare})
    else:
        rolled, raws = {}, _raw(conn, sids, path, q.start - lead, q.end)
    for sid, tags in matching:
        raw = raws[sid]
        if any(isinstance(v, str) for _, v in raw):
            values = _text_points(raw, q)
        elif any(isinstance(v, bool) for _, v in raw) and not (q.step or q.rate):
            values = [(ts, v) for ts, v in raw if ts >= q.start]
        else:
            numbers = [(ts, float(v)) for ts, v in raw if isinstance(v, int | float)]
            values = numeric_points(rolled.get(sid, []), numbers, q)
        if values:
            result.append({"tags": json.loads(tags), "points": [[ts, v] for ts, v in values]})
    return result


@dataclass(frozen=True, slots=True)
class Recent:
    """A series' recent samples, as the alert rules read them."""

    site: str
    host: str
    tags: dict[str, str]
    samples: list[tuple[int, dict[str, object]]]  # (ts, fields), oldest first
    series_id: int = 0


def _series_filter(
    measurement: str,
    fresh_since: int,
    hosts: set[tuple[str, str]] | None,
    series_ids: set[int] | None = None,
    where: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[str, list[object]]:
    sql = "s.measurement = ? AND s.last_seen >= ?"
    args: list[object] = [measurement, fresh_since]
    for tag, allowed in sorted((where or {}).items()):
        if tag == "site":  # the series' own column, indexed
            sql += " AND s.site IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(list(allowed)))
        else:
            sql += " AND json_extract(s.tags, ?) IN (SELECT value FROM json_each(?))"
            args += [json_path(tag), json.dumps(list(allowed))]
    if series_ids is not None:
        sql += " AND s.id IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(sorted(series_ids)))
    if hosts is not None:
        # A row-value IN: SQLite looks each (site, host) up in series_by_host, instead of
        # scanning the host list for every series of the measurement.
        sql += " AND (s.site, s.host) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j)"
        args.append(json.dumps(sorted(hosts)))
    return sql, args


def recent_samples(
    conn: sqlite3.Connection,
    measurement: str,
    lookback: int,
    fresh_since: int,
    hosts: set[tuple[str, str]] | None = None,
    series_ids: set[int] | None = None,
    where: Mapping[str, tuple[str, ...]] | None = None,
) -> Iterator[Recent]:
    """Raw samples of each series seen since `fresh_since` (of these hosts, or these series,
    with these tag values), going back `lookback` seconds from that series' own newest sample
    (so late history is read as it happened). One series at a time: a pass over a whole fleet
    never holds more than one window in memory."""
    series, args = _series_filter(measurement, fresh_since, hosts, series_ids, where)
    sql = (
        "SELECT s.id, s.site, s.host, s.tags, p.ts, p.fields FROM series s "
        "JOIN sample p ON p.series_id = s.id AND p.ts >= s.last_seen - ? WHERE "
    )
    entry: Recent | None = None
    for sid, site, host, tags, ts, fields in conn.execute(
        sql + series + " ORDER BY s.id, p.ts", [lookback, *args]
    ):
        if entry is None or entry.series_id != sid:
            if entry is not None:
                yield entry
            entry = Recent(site, host, json.loads(tags), [], sid)
        entry.samples.append((ts, json.loads(fields)))
    if entry is not None:
        yield entry


COMPARISONS = (">", ">=", "<", "<=", "==", "!=")


def series_where_latest(
    conn: sqlite3.Connection,
    measurement: str,
    field: str,
    op: str,
    value: float,
    fresh_since: int,
    hosts: set[tuple[str, str]],
    where: Mapping[str, tuple[str, ...]] | None = None,
) -> set[int]:
    """The series of `measurement` on `hosts` (with these tag values) whose newest sample has
    `field op value` — compared by SQLite, without reading the samples into Python."""
    if op not in COMPARISONS:
        raise ValueError(f"unknown comparison {op!r}")
    series, args = _series_filter(measurement, fresh_since, hosts, where=where)
    path = json_path(field)
    sql = (
        "SELECT s.id FROM series s "
        "JOIN sample p ON p.series_id = s.id AND p.ts = s.last_seen WHERE "
    )
    rows = conn.execute(
        sql + series + f" AND json_extract(p.fields, ?) {op} ?", [*args, path, value]
    ).fetchall()
    return {int(sid) for (sid,) in rows}


def recent_means(
    conn: sqlite3.Connection,
    measurement: str,
    field: str,
    lookback: int,
    fresh_since: int,
    hosts: set[tuple[str, str]] | None = None,
    res: int = 300,
    where: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Recent]:
    """Like `recent_samples` for one field over long windows: the means of `res`-second
    rollups where they exist (5 min or 1 h), raw samples after them."""
    series, args = _series_filter(measurement, fresh_since, hosts, where=where)
    until = rolled_until(conn)
    path = json_path(field)
    rollups = (
        "SELECT s.id, s.site, s.host, s.tags, r.bucket, r.sum / r.count FROM series s "
        "JOIN rollup r ON r.series_id = s.id AND r.res = ? AND r.field = ? "
        "AND r.bucket >= s.last_seen - ? AND r.bucket < ? WHERE "
    )
    raw = (
        "SELECT s.id, s.site, s.host, s.tags, p.ts, json_extract(p.fields, ?) FROM series s "
        "JOIN sample p ON p.series_id = s.id AND p.ts >= max(s.last_seen - ?, ?) WHERE "
    )
    found: dict[int, Recent] = {}
    for sql, params in (
        (rollups + series + " ORDER BY s.id, r.bucket", [res, field, lookback, until, *args]),
        (raw + series + " ORDER BY s.id, p.ts", [path, lookback, until, *args]),
    ):
        for sid, site, host, tags, ts, value in conn.execute(sql, params):
            if value is None:
                continue
            entry = found.get(sid)
            if entry is None:
                entry = found[sid] = Recent(site, host, json.loads(tags), [], sid)
            entry.samples.append((ts, {field: value}))
    return list(found.values())


def last_seen(
    conn: sqlite3.Connection, measurement: str, fresh_since: int
) -> list[tuple[str, str, int]]:
    """(site, host, newest sample time) of every host that sent `measurement` lately."""
    rows = conn.execute(
        "SELECT site, host, max(last_seen) FROM series WHERE measurement=? AND last_seen >= ? "
        "GROUP BY site, host",
        (measurement, fresh_since),
    ).fetchall()
    return [(str(s), str(h), int(t)) for s, h, t in rows]


def sites_seen(conn: sqlite3.Connection, fresh_since: int) -> set[str]:
    """The sites with a series seen since `fresh_since`."""
    rows = conn.execute("SELECT DISTINCT site FROM series WHERE last_seen >= ?", (fresh_since,))
    return {str(site) for (site,) in rows.fetchall()}


def latest_samples(
    conn: sqlite3.Connection, measurement: str, site: str, host: str | None = None
) -> list[tuple[str, dict[str, str], int, dict[str, object]]]:
    """(host, tags, time, fields) of the newest sample of each matching series."""
    sql = (
        "SELECT s.host, s.tags, p.ts, p.fields FROM series s JOIN sample p "
        "ON p.series_id = s.id AND p.ts = s.last_seen WHERE s.measurement = ? AND s.site = ?"
    )
    args: list[object] = [measurement, site]
    if host is not None:
        sql += " AND s.host = ?"
        args.append(host)
    rows = conn.execute(sql + " ORDER BY s.key", args).fetchall()
    return [(str(h), json.loads(t), int(ts), json.loads(f)) for h, t, ts, f in rows]


def hosts_seen(conn: sqlite3.Connection, site: str | None = None) -> list[tuple[str, str, int]]:
    """(site, host, newest sample time) of every host (of one site)."""
    sql = "SELECT site, host, last_seen FROM host WHERE site != '_vigie'"
    args: list[object] = []
    if site is not None:
        sql += " AND site = ?"
        args.append(site)
    rows = conn.execute(sql + " ORDER BY site, host", args).fetchall()
    return [(str(s), str(h), int(t)) for s, h, t in rows]


def host_kinds(
    conn: sqlite3.Connection, site: str | None = None, host: str | None = None
) -> dict[tuple[str, str], str]:
    """(site, host) -> the device's kind as its poller says it (tag `kind` of `ping`), or
    "computer" for a host whose agent reports itself; of one site, or one host, when given."""
    where, args = "", []
    for column, value in (("site", site), ("host", host)):
        if value is not None:
            where += f" AND {column} = ?"
            args.append(value)
    rows = conn.execute(
        "SELECT site, host, json_extract(tags, '$.kind') FROM series "  # noqa: S608 (columns fixed)
        f"WHERE measurement = 'ping'{where} UNION ALL SELECT site, host, 'computer' FROM series "
        f"WHERE measurement = 'vigie_agent'{where}",
        args * 2,
    ).fetchall()
    return {(str(s), str(h)): str(k or "") for s, h, k in rows}
