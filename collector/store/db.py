"""Opening the collector database: pragmas, schema and migrations (PRAGMA user_version)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from collector.schema import Part, SchemaError, migrate
from collector.state import PARTS

# Each from version i to i+1 of the store's part (collector.schema).
MIGRATIONS = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- Every accepted write request, appended before the 204; indexed (and mirrored) afterwards.
    CREATE TABLE ingest_log (
        id INTEGER PRIMARY KEY,
        received INTEGER NOT NULL,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        precision TEXT NOT NULL,
        gzip INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE TABLE batch_key (
        key TEXT PRIMARY KEY, log_id INTEGER NOT NULL, received INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        measurement TEXT NOT NULL,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        tags TEXT NOT NULL,          -- JSON object of every tag
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX series_by_host ON series (measurement, site, host);
    -- One row per series and second: its fields as a JSON object.
    CREATE TABLE sample (
        series_id INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        fields TEXT NOT NULL,
        PRIMARY KEY (series_id, ts)
    ) WITHOUT ROWID;
    -- Lines that could not be indexed, kept with the reason instead of being lost.
    CREATE TABLE dead_letter (
        id INTEGER PRIMARY KEY,
        created INTEGER NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        body BLOB NOT NULL
    );
    """,
    """
    -- Aggregates of numeric fields per 5 min (res 300) and per hour (res 3600).
    CREATE TABLE rollup (
        series_id INTEGER NOT NULL,
        field TEXT NOT NULL,
        res INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        sum REAL NOT NULL,
        count INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (series_id, res, field, bucket)
    ) WITHOUT ROWID;
    -- Buckets already rolled up that received late points (a spool arriving after an outage).
    CREATE TABLE rollup_dirty (
        series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, PRIMARY KEY (series_id, bucket)
    ) WITHOUT ROWID;
    """,
    """
    -- Each host's newest sample, kept by the indexer: the fleet pages read one row per host
    -- instead of grouping every series (hundreds of thousands in a syndicate's fleet).
    CREATE TABLE host (
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (site, host)
    ) WITHOUT ROWID;
    INSERT INTO host SELECT site, host, max(last_seen) FROM series GROUP BY site, host;
    """,
    """
    -- The rollup keyed by time before field: a time range narrows every read, including the
    -- ones over all fields of a series (the hourly step, retention), which used to read every
    -- 5-minute bucket of the series' year.
    CREATE TABLE rollup_by_time (
        series_id INTEGER NOT NULL,
        field TEXT NOT NULL,
        res INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        sum REAL NOT NULL,
        count INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (series_id, res, bucket, field)
    ) WITHOUT ROWID;
    INSERT INTO rollup_by_time SELECT series_id, field, res, bucket, min, max, sum, count, last
        FROM rollup ORDER BY series_id, res, bucket, field;
    DROP TABLE rollup;
    ALTER TABLE rollup_by_time RENAME TO rollup;
    """,
)


def read_mark(conn: sqlite3.Connection, key: str) -> int | None:
    """An integer watermark kept in `meta` (indexed_log_id, mirrored_log_id...), or None."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return int(row[0]) if row else None


def write_mark(conn: sqlite3.Connection, key: str, value: int) -> None:
    """Set an integer watermark in `meta` (inside the caller's transaction)."""
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


class StoreError(Exception):
    """The database cannot be used as it is; the message says what to do."""


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every user of the store needs."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


# The time-series store's own tables; the relational state's are named by collector.state.
STORE_TABLES = (
    "meta", "ingest_log", "batch_key", "series", "sample", "dead_letter", "rollup",
    "rollup_dirty", "host",
)  # fmt: skip
PART = Part("store", STORE_TABLES, MIGRATIONS)
# Tables that grow with the fleet's history (tens of GB after a year): a full check of a 4 GB
# store took 40 s at every start (bench.rollup_year). They are read page by page as they are
# used, and a damaged page there is a store error (503, logged), not a silent loss.
HISTORY_TABLES = frozenset({"sample", "rollup", "ingest_log", "dead_letter"})


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's quick_check of the schema and every table but the history ones: "ok", or the
    first problem found."""
    tables = [
        str(name)
        for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        if name not in HISTORY_TABLES
    ]
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        check = str(conn.execute(f"PRAGMA quick_check({quoted})").fetchone()[0])
        if check != "ok":
            return check
    return "ok"


def open_store(path: Path) -> sqlite3.Connection:
    """Create or migrate the database; refuse a damaged one with a recovery hint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    if new:
        # Created private: it holds token hashes and inventories.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        conn = connect(path)
        check = quick_check(conn)
        if check != "ok":
            raise StoreError(f"{path}: database is damaged ({check})")
        migrate(conn, (PART, *PARTS))
    except SchemaError as err:
        raise StoreError(f"{path}: {err}") from None
    except sqlite3.DatabaseError as err:
        raise StoreError(
            f"{path}: cannot open the database ({err}). Keep the file; see docs/RELIABILITY.md "
            "for `sqlite3 collector.db .recover`"
        ) from None
    return conn
