"""The durable outgoing mail queue, one recipient per row, rate-limited."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from collector.schema import Part

TABLES = ("mail",)
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- The durable outgoing mail queue: one recipient per row.
    CREATE TABLE mail (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created INTEGER NOT NULL,
        state TEXT NOT NULL,              -- queued | held | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER NOT NULL,
        sent_at INTEGER,
        error TEXT
    );
    CREATE INDEX mail_due ON mail (state, next_attempt);
    CREATE INDEX mail_by_recipient ON mail (recipient, created);
    """,
)
PART = Part("mail", TABLES, MIGRATIONS)
# How long a sender owns the mail it claimed (longer than sending 50 at the SMTP timeout).
CLAIM_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Mail:
    """One queued mail to one recipient."""

    id: int
    recipient: str
    subject: str
    body: str
    state: str
    attempts: int


class MailQueue:
    """Queued, held, sent and failed mail."""

    _conn: sqlite3.Connection
    _shared: bool  # several collectors' senders may read this queue (PostgreSQL)

    def enqueue_mail(
        self, recipient: str, subject: str, body: str, now: int, per_hour: int, summary: str
    ) -> None:
        """Queue a mail; past `per_hour` mails to this recipient in the last hour, it is folded
        into one held summary mail instead (a storm sends a summary, not a hundred mails)."""
        recent = self._conn.execute(
            "SELECT count(*) FROM mail WHERE recipient=? AND created > ? AND state != 'held'",
            (recipient, now - 3600),
        ).fetchone()[0]
        if recent < per_hour:
            self._conn.execute(
                "INSERT INTO mail (recipient, subject, body, created, state, next_attempt) "
                "VALUES (?, ?, ?, ?, 'queued', ?)",
                (recipient, subject, body, now, now),
            )
            return
        held = self._conn.execute(
            "SELECT id, body FROM mail WHERE recipient=? AND state='held'", (recipient,)
        ).fetchone()
        entry = f"--- {subject}\n{body}"
        if held is None:
            self._conn.execute(
                "INSERT INTO mail (recipient, subject, body, created, state, next_attempt) "
                "VALUES (?, ?, ?, ?, 'held', ?)",
                (recipient, summary, entry, now, now + 3600),
            )
        else:
            self._conn.execute(
                "UPDATE mail SET body=? WHERE id=?", (f"{held[1]}\n\n{entry}", held[0])
            )

    def release_held(self, now: int) -> None:
        """A held summary goes out once its hour is over."""
        self._conn.execute(
            "UPDATE mail SET state='queued', created=? WHERE state='held' AND next_attempt <= ?",
            (now, now),
        )

    def claim_mail(self, now: int, hold: int = CLAIM_SECONDS, limit: int = 50) -> list[Mail]:
        """Queued mail whose time has come, oldest first. On a shared (PostgreSQL) state it is
        claimed for `hold` seconds: another collector's sender skips it (FOR UPDATE SKIP
        LOCKED), and a sender killed mid-send leaves it to be sent once the claim runs out. On
        a collector's own SQLite file there is one sender: a plain read, which does not wait
        for ingest's write lock (a claim there made the median mail 0.7 s slower)."""
        due = "SELECT id FROM mail WHERE state='queued' AND next_attempt <= ? ORDER BY id LIMIT ?"
        columns = "id, recipient, subject, body, state, attempts"
        if self._shared:
            rows = self._conn.execute(
                f"UPDATE mail SET next_attempt=? WHERE id IN ({due} FOR UPDATE SKIP LOCKED) "  # noqa: S608 (constants)
                f"RETURNING {columns}",
                (now + hold, now, limit),
            ).fetchall()
        else:
            rows = self._conn.execute(
                f"SELECT {columns} FROM mail WHERE id IN ({due})",  # noqa: S608 (constants)
                (now, limit),
            ).fetchall()
        return sorted((Mail(*r) for r in rows), key=lambda mail: mail.id)

    def mail_sent(self, mail_id: int, now: int) -> None:
        """The server accepted the mail."""
        self._conn.execute(
            "UPDATE mail SET state='sent', sent_at=?, error=NULL WHERE id=?", (now, mail_id)
        )

    def mail_failed(self, mail: Mail, error: str, retry_at: int | None) -> None:
        """A failed attempt: retried at `retry_at`, or given up (None) with the reason."""
        self._conn.execute(
            "UPDATE mail SET attempts=attempts+1, error=?, state=?, next_attempt=? WHERE id=?",
            (error[:500], "queued" if retry_at is not None else "failed", retry_at or 0, mail.id),
        )

    def mail_counts(self) -> dict[str, int]:
        """How many mails are in each state (the collector's own health series)."""
        rows = self._conn.execute("SELECT state, count(*) FROM mail GROUP BY state").fetchall()
        return {str(s): int(c) for s, c in rows}
