"""Schema versions per part of the database: the time-series store and each kind of state own
their tables and migrations, and each part is migrated on its own (table `schema_part`).

Databases written before the split carry one global PRAGMA user_version (1 to 9) over a single
list; `LEGACY` says which part migrations each of those steps was, so such a database is
converted once, in place. A converted database has user_version `PER_PART`: a collector from
before the split refuses it ("newer than this collector") instead of migrating it wrongly.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

PER_PART = 1000
TABLES = ("schema_part",)


class Part(NamedTuple):
    """A part of the database: its name, the tables it owns and its migrations, each from
    version i to i+1 (never edit a released entry, append a new one)."""

    name: str
    tables: tuple[str, ...]
    migrations: tuple[str, ...]


# The global steps of the single list before the split, as the part migrations they held.
LEGACY: tuple[tuple[str, ...], ...] = (
    ("store", "tokens"),
    ("inventory",),
    ("store",),
    ("alerts", "silences", "mail"),
    ("accounts",),
    ("tokens",),
    ("store",),
    ("tokens",),
    ("store",),
)


class SchemaError(Exception):
    """The database's schema cannot be used by this collector."""


def legacy_versions(version: int) -> Counter[str]:
    """Each part's version in a database at global `version` of the single list."""
    return Counter(name for step in LEGACY[:version] for name in step)


def migrate(conn: sqlite3.Connection, parts: tuple[Part, ...]) -> None:
    """Bring every part of a SQLite database to its latest version."""
    run_migrations(conn, parts, _versions(conn))


class Script(Protocol):
    """A connection that runs scripts (sqlite3's, or state.postgres's)."""

    def executescript(self, script: str, /) -> Any: ...


def run_migrations(
    conn: Script,
    parts: tuple[Part, ...],
    versions: dict[str, int],
    translate: Callable[[str], str] = str,
) -> None:
    """Run each part's migrations past its version in `versions`, each in its own transaction
    with its new version; `translate` turns a migration into the database's dialect."""
    for part in parts:
        current = versions.get(part.name, 0)
        if current > len(part.migrations):
            raise SchemaError(
                f"the {part.name} schema is at version {current}, newer than this collector "
                f"({len(part.migrations)}): upgrade vigie-collector"
            )
        for number in range(current, len(part.migrations)):
            # One script so the version moves in the migration's transaction (executescript
            # commits anything pending); names and numbers are this module's constants.
            conn.executescript(
                f"BEGIN; {translate(part.migrations[number])};"  # noqa: S608
                f"INSERT INTO schema_part VALUES ('{part.name}', {number + 1}) "
                "ON CONFLICT (name) DO UPDATE SET version = excluded.version;"
                "COMMIT;"
            )


def _versions(conn: sqlite3.Connection) -> dict[str, int]:
    """Each part's version, creating the version table (converting a database from before
    the split) on first use."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > PER_PART or PER_PART > version > len(LEGACY):
        raise SchemaError(
            f"schema version {version} is newer than this collector: upgrade vigie-collector"
        )
    if version < PER_PART:
        rows = "".join(
            f"INSERT INTO schema_part VALUES ('{n}', {v});"  # noqa: S608 (constants only)
            for n, v in legacy_versions(version).items()
        )
        conn.executescript(
            "BEGIN; CREATE TABLE schema_part (name TEXT PRIMARY KEY, version INTEGER NOT NULL);"
            f"{rows} PRAGMA user_version={PER_PART}; COMMIT;"
        )
    return {str(n): int(v) for n, v in conn.execute("SELECT name, version FROM schema_part")}
