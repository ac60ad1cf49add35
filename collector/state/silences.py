"""Silences and maintenance windows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

from collector.schema import Part
from collector.state.alerts import AlertRow

TABLES = ("silence",)
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- Silences and maintenance windows: any of site, host, rule may be NULL (= any).
    CREATE TABLE silence (
        id INTEGER PRIMARY KEY,
        site TEXT, host TEXT, rule TEXT,
        starts INTEGER NOT NULL,
        ends INTEGER NOT NULL,
        author TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'silence',  -- silence | maintenance
        created INTEGER NOT NULL
    );
    """,
)
PART = Part("silences", TABLES, MIGRATIONS)


class NewSilence(NamedTuple):
    """A silence (a maintenance window when it starts later) as collector.muting.new_silence
    checked it, ready to store."""

    site: str | None
    host: str | None
    rule: str | None
    starts: int
    ends: int
    comment: str
    kind: str  # silence | maintenance


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence or maintenance window; None matches anything."""

    id: int
    site: str | None
    host: str | None
    rule: str | None
    starts: int
    ends: int
    author: str
    comment: str
    kind: str

    def covers(self, alert: AlertRow, now: int) -> bool:
        """Whether the silence is in force for this alert at `now`."""
        return (
            self.starts <= now < self.ends
            and self.site in (None, alert.site)
            and self.host in (None, alert.host)
            and self.rule in (None, alert.rule)
        )


class Silences:
    """Silences and maintenance windows."""

    _conn: sqlite3.Connection

    def add_silence(self, silence: NewSilence, author: str, now: int) -> int:
        """A silence (from now) or a maintenance window (planned), checked by
        muting.new_silence; returns its id."""
        cursor = self._conn.execute(
            "INSERT INTO silence (site, host, rule, starts, ends, author, comment, kind, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                silence.site,
                silence.host,
                silence.rule,
                silence.starts,
                silence.ends,
                author,
                silence.comment,
                silence.kind,
                now,
            ),
        )
        return int(cursor.fetchone()[0])

    def silences(self, now: int, include_expired: bool = False) -> list[Silence]:
        """Silences in force or to come (and past ones on request)."""
        sql = "SELECT id, site, host, rule, starts, ends, author, comment, kind FROM silence"
        rows = self._conn.execute(
            sql + ("" if include_expired else " WHERE ends > ?") + " ORDER BY starts",
            () if include_expired else (now,),
        ).fetchall()
        return [Silence(*r) for r in rows]

    def end_silence(self, silence_id: int, now: int) -> bool:
        """Unsilence: end it now (kept for the record)."""
        cursor = self._conn.execute(
            "UPDATE silence SET ends=? WHERE id=? AND ends > ?", (now, silence_id, now)
        )
        return cursor.rowcount == 1
