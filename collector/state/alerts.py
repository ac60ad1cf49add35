"""Alerts, one row per occurrence (pending, firing, resolved), their events, their
acknowledgement and notification marks."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from collector.schema import Part
from collector.state.sql import in_lists

TABLES = ("alert", "alert_event", "lease", "alert_mark")
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- Alerts: one row per occurrence (pending -> firing -> resolved), kept as history.
    CREATE TABLE alert (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,                -- rule + labels: what deduplicates
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        labels TEXT NOT NULL,             -- JSON
        state TEXT NOT NULL,              -- pending | firing | resolved
        since INTEGER NOT NULL,           -- data time the condition began
        fired_at INTEGER,
        resolved_at INTEGER,
        clear_since INTEGER,              -- hold-down (keep_firing_for) start
        value REAL NOT NULL,
        eta INTEGER,                      -- forecast crossing time
        updated INTEGER NOT NULL,
        acked_by TEXT,
        acked_at INTEGER,
        notified_at INTEGER,              -- last firing notification queued
        notified_state TEXT               -- 'firing' once announced, 'resolved' once closed
    );
    CREATE UNIQUE INDEX alert_active ON alert (key) WHERE state != 'resolved';
    CREATE INDEX alert_by_site ON alert (site, state);
    CREATE TABLE alert_event (
        alert_id INTEGER NOT NULL, ts INTEGER NOT NULL, state TEXT NOT NULL, value REAL
    );
    CREATE INDEX alert_event_by_alert ON alert_event (alert_id, ts);
    """,
    """
    -- What the technician who acknowledged an alert said (and the empty text for none).
    ALTER TABLE alert ADD COLUMN ack_comment TEXT NOT NULL DEFAULT '';
    """,
    """
    -- Who evaluates the rules and plans the mails when several collectors share this state:
    -- one holder at a time, the epoch moving on at each change of hands (collector.lease).
    CREATE TABLE lease (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        idle INTEGER NOT NULL            -- 1: its holder receives no data (a backup)
    );
    -- Alerting's marks (the day of the last digest), shared like the alerts they are about.
    CREATE TABLE alert_mark (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
)
PART = Part("alerts", TABLES, MIGRATIONS)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert as stored."""

    id: int
    key: str
    rule: str
    severity: str
    site: str
    host: str
    labels: dict[str, str]
    state: str
    since: int
    fired_at: int | None
    resolved_at: int | None
    clear_since: int | None
    value: float
    eta: int | None
    updated: int
    acked_by: str | None
    acked_at: int | None
    notified_at: int | None
    notified_state: str | None
    ack_comment: str = ""


_SELECT_ALERT = (
    "SELECT id, key, rule, severity, site, host, labels, state, since, fired_at, resolved_at, "
    "clear_since, value, eta, updated, acked_by, acked_at, notified_at, notified_state, "
    "ack_comment FROM alert"
)


def _alert(row: tuple[Any, ...]) -> AlertRow:
    values = list(row)
    values[6] = json.loads(values[6])
    return AlertRow(*values)


class Alerts:
    """Alerts and their life cycle."""

    _conn: sqlite3.Connection

    def active_alerts(self) -> dict[str, AlertRow]:
        """Pending and firing alerts by key."""
        rows = self._conn.execute(_SELECT_ALERT + " WHERE state != 'resolved'").fetchall()
        return {r.key: r for r in map(_alert, rows)}

    def alerts(
        self, states: tuple[str, ...], site: str | None = None, limit: int = 1000
    ) -> list[AlertRow]:
        """Alerts in these states, newest first."""
        marks = ",".join("?" * len(states))
        sql = _SELECT_ALERT + f" WHERE state IN ({marks})"
        args: list[Any] = list(states)
        if site is not None:
            sql += " AND site=?"
            args.append(site)
        sql += " ORDER BY updated DESC, id DESC LIMIT ?"
        return [_alert(r) for r in self._conn.execute(sql, [*args, limit]).fetchall()]

    def alert_counts(self, site: str | None = None) -> dict[str, int]:
        """How many alerts are in each state (of one site)."""
        sql = "SELECT state, count(*) FROM alert"
        rows = self._conn.execute(
            sql + (" WHERE site=? GROUP BY state" if site else " GROUP BY state"),
            (site,) if site else (),
        ).fetchall()
        return {str(s): int(c) for s, c in rows}

    def alert(self, alert_id: int) -> AlertRow | None:
        """One alert by id."""
        row = self._conn.execute(_SELECT_ALERT + " WHERE id=?", (alert_id,)).fetchone()
        return None if row is None else _alert(row)

    def open_alert(
        self,
        key: str,
        rule: str,
        severity: str,
        labels: dict[str, str],
        state: str,
        since: int,
        value: float,
        eta: int | None,
        now: int,
    ) -> None:
        """A new pending or firing alert."""
        cursor = self._conn.execute(
            "INSERT INTO alert (key, rule, severity, site, host, labels, state, since, fired_at, "
            "value, eta, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                key, rule, severity, labels.get("site", ""), labels.get("host", ""),
                json.dumps(labels, sort_keys=True, ensure_ascii=False), state, since,
                now if state == "firing" else None, value, eta, now,
            ),
        )  # fmt: skip
        self._event(int(cursor.fetchone()[0]), now, state, value)

    def update_alert(
        self,
        alert: AlertRow,
        state: str,
        value: float,
        eta: int | None,
        now: int,
        clear_since: int | None = None,
    ) -> None:
        """Move an alert on (or refresh its value); resolved alerts get their end time."""
        fired_at = alert.fired_at or (now if state == "firing" else None)
        self._conn.execute(
            "UPDATE alert SET state=?, value=?, eta=?, updated=?, fired_at=?, clear_since=?, "
            "resolved_at=? WHERE id=?",
            (
                state, value, eta, now, fired_at, clear_since,
                now if state == "resolved" else None, alert.id,
            ),
        )  # fmt: skip
        if state != alert.state:
            self._event(alert.id, now, state, value)

    def drop_alert(self, alert: AlertRow) -> None:
        """Forget a pending alert whose condition ended before it fired."""
        self._conn.execute("DELETE FROM alert_event WHERE alert_id=?", (alert.id,))
        self._conn.execute("DELETE FROM alert WHERE id=?", (alert.id,))

    def _event(self, alert_id: int, ts: int, state: str, value: float) -> None:
        self._conn.execute(
            "INSERT INTO alert_event VALUES (?, ?, ?, ?)", (alert_id, ts, state, value)
        )

    def acknowledge(self, alert_id: int, author: str, now: int, comment: str = "") -> bool:
        """Mark a firing alert as seen, with what the technician said: no repeat mails while
        it lasts."""
        cursor = self._conn.execute(
            "UPDATE alert SET acked_by=?, acked_at=?, ack_comment=? WHERE id=? AND state='firing'",
            (author, now, comment[:500], alert_id),
        )
        return cursor.rowcount == 1

    def unacknowledge(self, alert_id: int) -> bool:
        """Take an acknowledgement back: the alert reminds again."""
        cursor = self._conn.execute(
            "UPDATE alert SET acked_by=NULL, acked_at=NULL, ack_comment='' "
            "WHERE id=? AND state='firing' AND acked_by IS NOT NULL",
            (alert_id,),
        )
        return cursor.rowcount == 1

    def mark_notified(self, alert_ids: list[int], state: str, now: int) -> None:
        """Record that a mail about these alerts is queued."""
        self._conn.executemany(
            "UPDATE alert SET notified_at=?, notified_state=? WHERE id=?",
            [(now, state, i) for i in alert_ids],
        )

    def to_notify(self) -> list[AlertRow]:
        """Firing alerts, and resolved ones whose firing was announced (in a mail of its own,
        or in a digest) but not their end."""
        rows = self._conn.execute(
            _SELECT_ALERT + " WHERE state='firing' "
            "OR (state='resolved' AND notified_state IN ('firing', 'digest')) ORDER BY site, id"
        ).fetchall()
        return [_alert(r) for r in rows]

    def take_lease(
        self, name: str, holder: str, now: int, ttl: int, idle: bool = False
    ) -> int | None:
        """Hold the lease `name` until now + ttl, taking it when it is free, ran out, or is
        held by an `idle` holder while this one is not: its epoch, new at each change of
        holder; None while another holder keeps it."""
        row = self._conn.execute(
            "INSERT INTO lease VALUES (?, ?, 1, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "epoch = CASE WHEN lease.holder = excluded.holder THEN lease.epoch "
            "ELSE lease.epoch + 1 END, holder = excluded.holder, expires = excluded.expires, "
            "idle = excluded.idle WHERE lease.holder = excluded.holder OR lease.expires <= ? "
            "OR (lease.idle = 1 AND excluded.idle = 0) RETURNING epoch",
            (name, holder, now + ttl, int(idle), now),
        ).fetchone()
        return None if row is None else int(row[0])

    def keep_leases(
        self, prefix: str, holder: str, wanted: set[str], now: int, ttl: int
    ) -> dict[str, int]:
        """Hold exactly the `wanted` leases among those named `prefix`...: release the others
        this holder has, extend the wanted ones it has, take the wanted ones that are free or
        ran out (one transaction, a statement per change of hands). Name -> epoch of those
        held now."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            mine = self._held(prefix, holder, now)
            self._conn.executemany(
                "UPDATE lease SET expires = 0 WHERE name = ? AND holder = ?",
                [(name, holder) for name in sorted(mine.keys() - wanted)],
            )
            self._conn.execute(
                "UPDATE lease SET expires = ? WHERE holder = ? AND expires > ? AND name LIKE ?",
                (now + ttl, holder, now, prefix + "%"),
            )
            for name in sorted(wanted - mine.keys()):
                epoch = self.take_lease(name, holder, now, ttl)
                if epoch is not None:
                    mine[name] = epoch
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return {name: epoch for name, epoch in mine.items() if name in wanted}

    def _held(self, prefix: str, holder: str, now: int) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT name, epoch FROM lease WHERE holder = ? AND expires > ? AND name LIKE ?",
            (holder, now, prefix + "%"),
        ).fetchall()
        return {str(name): int(epoch) for name, epoch in rows}

    def live_holders(self, prefix: str, now: int) -> dict[str, bool]:
        """Holder -> idle, of the unexpired leases named `prefix`... (collectors' heartbeats);
        those gone for a day are forgotten."""
        self._conn.execute(
            "DELETE FROM lease WHERE name LIKE ? AND expires < ?", (prefix + "%", now - 86400)
        )
        rows = self._conn.execute(
            "SELECT holder, idle FROM lease WHERE name LIKE ? AND expires > ?",
            (prefix + "%", now),
        ).fetchall()
        return {str(holder): bool(idle) for holder, idle in rows}

    def give_up_lease(self, name: str, holder: str) -> None:
        """End this holder's lease `name` now (a successor need not wait for it to run out)."""
        self._conn.execute("UPDATE lease SET expires = 0 WHERE name=? AND holder=?", (name, holder))

    def holds_leases(self, epochs: dict[str, int], holder: str, now: int) -> set[str]:
        """Those of the leases `epochs` (name -> epoch) this holder still has at that epoch;
        inside a transaction the rows stay locked until it ends (PostgreSQL), so no other
        holder takes them meanwhile."""
        held = set()
        for chunk, marks in in_lists(epochs):
            rows = self._conn.execute(
                "UPDATE lease SET holder = holder WHERE holder = ? AND expires > ? "  # noqa: S608
                f"AND name IN ({marks}) RETURNING name, epoch",  # (placeholders)
                (holder, now, *chunk),
            ).fetchall()
            held |= {str(name) for name, epoch in rows if epochs[str(name)] == int(epoch)}
        return held

    def holds_lease(self, name: str, holder: str, epoch: int, now: int) -> bool:
        """Whether this holder still has the lease `name` at this epoch (see holds_leases)."""
        return bool(self.holds_leases({name: epoch}, holder, now))

    def alert_mark(self, name: str) -> int | None:
        """One of alerting's marks, or None."""
        row = self._conn.execute("SELECT value FROM alert_mark WHERE name=?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def set_alert_mark(self, name: str, value: int) -> None:
        """Set one of alerting's marks (inside the caller's transaction)."""
        self._conn.execute(
            "INSERT INTO alert_mark VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
            "value = excluded.value",
            (name, value),
        )
