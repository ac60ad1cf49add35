"""The newest sample of every series, in the shared state: what the pages show of a device
(its readings, its last contact, its kind, and the text fields VictoriaMetrics cannot keep:
a poll's error, a printer's status) reads the same from every collector. Filled by each
collector from its durable outbox (mirror.latest); empty on a collector's own SQLite file,
whose store answers the same questions itself."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection

from collector.schema import Part
from collector.state.postgres import PgConnection
from collector.state.sql import in_lists
from collector.telemetry import OWN_SITE

TABLES = ("latest", "latest_touch")
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- key: the series' canonical key (measurement and sorted tags, as line protocol)
    CREATE TABLE latest (
        key TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        measurement TEXT NOT NULL,
        tags TEXT NOT NULL,
        ts INTEGER NOT NULL,
        fields TEXT NOT NULL
    );
    CREATE INDEX latest_by_host ON latest (site, host, measurement);
    """,
    """
    -- When each host's newest samples last changed (ms, the writing collector's clock) and
    -- which collector received them: a site's evaluator asks which of its hosts the other
    -- collectors just received.
    CREATE TABLE latest_touch (
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        at INTEGER NOT NULL,
        collector TEXT NOT NULL,
        PRIMARY KEY (site, host)
    );
    CREATE INDEX latest_touch_by_time ON latest_touch (at);
    """,
)
PART = Part("latest", TABLES, MIGRATIONS)

_COLUMNS = "INSERT INTO latest (key, site, host, measurement, tags, ts, fields) "
# A replay, or a late batch from another collector, never replaces a newer sample.
_NEWER = (
    "ON CONFLICT (key) DO UPDATE "
    "SET ts = excluded.ts, fields = excluded.fields WHERE excluded.ts >= latest.ts"
)
_UPSERT = f"{_COLUMNS}VALUES (?, ?, ?, ?, ?, ?, ?) {_NEWER}"
Row = tuple[str, str, str, str, str, int, str]  # as _UPSERT takes it
_TOUCH_COLUMNS = "INSERT INTO latest_touch (site, host, at, collector) "
_TOUCHED = (
    "ON CONFLICT (site, host) DO UPDATE SET at = excluded.at, collector = excluded.collector "
    "WHERE excluded.at > latest_touch.at"
)
_TOUCH = f"{_TOUCH_COLUMNS}VALUES (?, ?, ?, ?) {_TOUCHED}"
# On PostgreSQL the rows are copied into a table of the session (emptied at each commit) and
# merged by two statements: a statement per row cost the collector ten times the CPU (measured:
# 70 ms against 6 ms for 5,000 rows), and that thread shares the interpreter with ingest.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS latest_in (key TEXT, site TEXT, host TEXT, "
    "measurement TEXT, tags TEXT, ts BIGINT, fields TEXT) ON COMMIT DELETE ROWS"
)
_MERGE = f"{_COLUMNS}SELECT DISTINCT ON (key) * FROM latest_in ORDER BY key, ts DESC {_NEWER}"  # noqa: S608 (constants)
_MERGE_TOUCH = (
    f"{_TOUCH_COLUMNS}SELECT DISTINCT site, host, ?::BIGINT, ?::TEXT FROM latest_in {_TOUCHED}"  # noqa: S608 (constants)
)


class LatestValues:
    """Reads and writes of `latest` (mixed into Repository)."""

    _conn: sqlite3.Connection

    def record_latest(self, rows: Collection[Row], at_ms: int, by: str = "") -> None:
        """Keep each series' newest sample, and note its host received at `at_ms` by the
        collector `by` (one transaction)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(self._conn, PgConnection):
                self._conn.execute(_STAGING)
                self._conn.copy_rows("latest_in", rows)
                self._conn.execute(_MERGE)
                self._conn.execute(_MERGE_TOUCH, (at_ms, by))
            else:
                hosts = sorted({(row[1], row[2]) for row in rows})
                self._conn.executemany(_UPSERT, rows)
                self._conn.executemany(_TOUCH, [(site, host, at_ms, by) for site, host in hosts])
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def latest_samples(
        self, measurement: str, site: str, host: str | None = None
    ) -> list[tuple[str, dict[str, str], int, dict[str, object]]]:
        """(host, tags, time, fields) of the newest sample of each matching series."""
        sql = "SELECT host, tags, ts, fields FROM latest WHERE measurement = ? AND site = ?"
        args: list[object] = [measurement, site]
        if host is not None:
            sql += " AND host = ?"
            args.append(host)
        rows = self._conn.execute(sql + " ORDER BY key", args).fetchall()
        return [(str(h), json.loads(t), int(ts), json.loads(f)) for h, t, ts, f in rows]

    def last_contacts(self, measurement: str, since: int) -> list[tuple[str, str, int]]:
        """(site, host, newest sample time) of every host that sent `measurement` since."""
        rows = self._conn.execute(
            "SELECT site, host, max(ts) FROM latest WHERE measurement = ? AND ts >= ? "
            "GROUP BY site, host",
            (measurement, since),
        ).fetchall()
        return [(str(s), str(h), int(t)) for s, h, t in rows]

    def received_since(
        self, since_ms: int, sites: Collection[str], other_than: str
    ) -> set[tuple[str, str]]:
        """The (site, host) of the hosts of `sites` whose newest samples a collector other
        than `other_than` recorded after `since_ms`."""
        found: set[tuple[str, str]] = set()
        for chunk, marks in in_lists(sites):
            rows = self._conn.execute(
                "SELECT site, host FROM latest_touch WHERE at > ? AND collector != ? "  # noqa: S608
                f"AND site IN ({marks})",  # (placeholders)
                (since_ms, other_than, *chunk),
            ).fetchall()
            found |= {(str(site), str(host)) for site, host in rows}
        return found

    def sites_seen(self, since: int) -> set[str]:
        """The sites with a host received since `since` (seconds; a row per host to read,
        not one per series)."""
        rows = self._conn.execute(
            "SELECT DISTINCT site FROM latest_touch WHERE at >= ?", (since * 1000,)
        )
        return {str(site) for (site,) in rows.fetchall()}

    def newest_of(
        self, measurement: str, since: int, hosts: set[tuple[str, str]]
    ) -> list[tuple[dict[str, str], int, dict[str, object]]]:
        """(tags, time, fields) of the newest sample of each series of `measurement` on
        `hosts` since `since`."""
        rows = []
        for chunk, marks in in_lists({h for _, h in hosts}):
            rows += self._conn.execute(
                "SELECT site, host, tags, ts, fields FROM latest WHERE measurement = ? "  # noqa: S608 (placeholders)
                f"AND ts >= ? AND host IN ({marks})",
                (measurement, since, *chunk),
            ).fetchall()
        return [
            (json.loads(tags), int(ts), json.loads(fields))
            for site, host, tags, ts, fields in rows
            if (site, host) in hosts
        ]

    def hosts_seen(self, site: str | None = None) -> list[tuple[str, str, int]]:
        """(site, host, newest sample time) of every host (of one site)."""
        sql, args = "SELECT site, host, max(ts) FROM latest WHERE site != ?", [OWN_SITE]
        if site is not None:
            sql += " AND site = ?"
            args.append(site)
        rows = self._conn.execute(sql + " GROUP BY site, host ORDER BY site, host", args)
        return [(str(s), str(h), int(t)) for s, h, t in rows.fetchall()]

    def host_kinds(
        self, site: str | None = None, host: str | None = None
    ) -> dict[tuple[str, str], str]:
        """(site, host) -> the device's kind (its poller's `ping` tag `kind`), or "computer"
        for a host whose agent reports itself."""
        sql = "SELECT site, host, measurement, tags FROM latest WHERE measurement IN (?, ?)"
        args: list[object] = ["ping", "vigie_agent"]
        for column, value in (("site", site), ("host", host)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        kinds: dict[tuple[str, str], str] = {}
        for s, h, measurement, tags in self._conn.execute(sql + " ORDER BY measurement", args):
            kind = "computer" if measurement == "vigie_agent" else json.loads(tags).get("kind")
            kinds[str(s), str(h)] = str(kind or "")
        return kinds
