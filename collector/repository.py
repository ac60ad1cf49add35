"""Relational state (tokens, inventory, alerts, silences, the mail queue) behind one module, so
that another SQL database can replace SQLite for large installations."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple

from collector.inventory import Change, diff_inventories

ROLES = ("workstation", "poller", "reader", "technician")
TOKEN_PREFIX = "vgt_"  # noqa: S105 - a prefix that makes leaked tokens easy to grep for
ENROLL_PREFIX = "vge_"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token speaks for."""

    token_id: int
    site: str
    host: str
    role: str

    def may_write(self, site: str, host: str) -> bool:
        """A workstation writes only its own host; a poller any host of its site."""
        if self.role == "workstation":
            return site == self.site and host == self.host
        if self.role == "poller":
            return site == self.site
        return False


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


@dataclass(frozen=True, slots=True)
class Mail:
    """One queued mail to one recipient."""

    id: int
    recipient: str
    subject: str
    body: str
    state: str
    attempts: int


_SELECT_ALERT = (
    "SELECT id, key, rule, severity, site, host, labels, state, since, fired_at, resolved_at, "
    "clear_since, value, eta, updated, acked_by, acked_at, notified_at, notified_state FROM alert"
)


def _alert(row: tuple[Any, ...]) -> AlertRow:
    values = list(row)
    values[6] = json.loads(values[6])
    return AlertRow(*values)


@dataclass(frozen=True, slots=True)
class User:
    """A web UI account."""

    id: int
    name: str
    password: str  # the scrypt hash
    role: str


@dataclass(frozen=True, slots=True)
class WebSession:
    """A logged-in browser."""

    user: User
    csrf: str
    expires: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    token_id: int
    site: str
    host: str
    role: str
    created: int
    revoked: int | None


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Enrollment:
    """An enrollment code as `enroll list` shows it (never the code itself)."""

    id: int
    site: str
    role: str
    expires: int
    uses: int
    used: int
    last_host: str | None


def _used_up(uses: int, last_host: str | None) -> str:
    if uses == 1:
        return f"enrollment code already used (by {last_host})"
    return f"enrollment code used up ({uses} of {uses} uses, last by {last_host})"


class Repository:
    """Tokens and, later, the rest of the relational state."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create_token(self, site: str, host: str, role: str, now: int) -> str:
        """Create a token and return it; only its hash is kept."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO token (hash, site, host, role, created) VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), site, host, role, now),
        )
        return token

    def identify(self, token: str) -> Identity | None:
        """The identity of a valid, unrevoked token."""
        digest = hash_token(token)
        row = self._conn.execute(
            "SELECT id, hash, site, host, role FROM token WHERE hash=? AND revoked IS NULL",
            (digest,),
        ).fetchone()
        # The lookup is by hash (an index), so timing reveals nothing about the token itself;
        # the constant-time compare is a second guard.
        if row is None or not hmac.compare_digest(row[1], digest):
            return None
        return Identity(int(row[0]), row[2], row[3], row[4])

    def list_tokens(self) -> list[TokenInfo]:
        """Every token, newest last."""
        rows = self._conn.execute(
            "SELECT id, site, host, role, created, revoked FROM token ORDER BY id"
        ).fetchall()
        return [TokenInfo(*row) for row in rows]

    def save_inventory(
        self,
        site: str,
        host: str,
        document: dict[str, Any],
        received: int,
        batch_key: str | None = None,
    ) -> list[Change] | None:
        """Keep the latest document of a host and record what changed since the previous one;
        None for a replayed batch (same `X-Vigie-Batch`), which changes nothing."""
        text = json.dumps(document, ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if batch_key is not None:
                seen = self._conn.execute(
                    "SELECT 1 FROM batch_key WHERE key=?", (batch_key,)
                ).fetchone()
                if seen:
                    self._conn.execute("ROLLBACK")
                    return None
                # log_id 0: an inventory, kept in its own table rather than in ingest_log.
                self._conn.execute("INSERT INTO batch_key VALUES (?, 0, ?)", (batch_key, received))
            row = self._conn.execute(
                "SELECT hash, document FROM inventory WHERE site=? AND host=?", (site, host)
            ).fetchone()
            changes = diff_inventories(json.loads(row[1]), document) if row else []
            self._conn.execute(
                "INSERT OR REPLACE INTO inventory VALUES (?, ?, ?, ?, ?, ?)",
                (site, host, document.get("itemtype", "Computer"), received, digest, text),
            )
            self._conn.executemany(
                "INSERT INTO inventory_change "
                "(site, host, received, section, change, item, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (site, host, received, c.section, c.change, c.item, c.before, c.after)
                    for c in changes
                ],
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return changes

    def inventory(self, site: str, host: str) -> tuple[int, dict[str, Any]] | None:
        """(received, document) of a host's latest inventory."""
        row = self._conn.execute(
            "SELECT received, document FROM inventory WHERE site=? AND host=?", (site, host)
        ).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def inventory_changes(self, site: str, host: str, limit: int = 200) -> list[dict[str, Any]]:
        """A host's inventory history, newest first."""
        rows = self._conn.execute(
            "SELECT received, section, change, item, before, after FROM inventory_change "
            "WHERE site=? AND host=? ORDER BY received DESC, id LIMIT ?",
            (site, host, limit),
        ).fetchall()
        keys = ("received", "section", "change", "item", "before", "after")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def revoke_token(self, token_id: int, now: int) -> bool:
        """Revoke a token by id; False when there is no such active token."""
        cursor = self._conn.execute(
            "UPDATE token SET revoked=? WHERE id=? AND revoked IS NULL", (now, token_id)
        )
        return cursor.rowcount == 1

    # --- alerts ------------------------------------------------------------------------

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
            "value, eta, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key, rule, severity, labels.get("site", ""), labels.get("host", ""),
                json.dumps(labels, sort_keys=True, ensure_ascii=False), state, since,
                now if state == "firing" else None, value, eta, now,
            ),
        )  # fmt: skip
        self._event(int(cursor.lastrowid or 0), now, state, value)

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

    def acknowledge(self, alert_id: int, author: str, now: int) -> bool:
        """Mark a firing alert as seen: no repeat mails while it lasts."""
        cursor = self._conn.execute(
            "UPDATE alert SET acked_by=?, acked_at=? WHERE id=? AND state='firing'",
            (author, now, alert_id),
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

    # --- silences ----------------------------------------------------------------------

    def add_silence(self, silence: NewSilence, author: str, now: int) -> int:
        """A silence (from now) or a maintenance window (planned), checked by
        muting.new_silence; returns its id."""
        cursor = self._conn.execute(
            "INSERT INTO silence (site, host, rule, starts, ends, author, comment, kind, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        return int(cursor.lastrowid or 0)

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

    # --- the mail queue ------------------------------------------------------------------

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

    def due_mail(self, now: int, limit: int = 50) -> list[Mail]:
        """Queued mail whose time has come, oldest first."""
        rows = self._conn.execute(
            "SELECT id, recipient, subject, body, state, attempts FROM mail "
            "WHERE state='queued' AND next_attempt <= ? ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [Mail(*r) for r in rows]

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

    # --- web users and sessions -----------------------------------------------------------

    def add_user(self, name: str, password_hash: str, role: str, now: int) -> None:
        """A new account; ValueError when the name is taken."""
        try:
            self._conn.execute(
                "INSERT INTO user (name, password, role, created) VALUES (?, ?, ?, ?)",
                (name, password_hash, role, now),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"user {name!r} already exists") from None

    def user(self, name: str) -> User | None:
        """An account by name."""
        row = self._conn.execute(
            "SELECT id, name, password, role FROM user WHERE name=?", (name,)
        ).fetchone()
        return None if row is None else User(*row)

    def users(self) -> list[User]:
        """Every account."""
        rows = self._conn.execute("SELECT id, name, password, role FROM user ORDER BY name")
        return [User(*r) for r in rows.fetchall()]

    def set_password(self, name: str, password_hash: str) -> bool:
        """Change a password; its sessions end."""
        user = self.user(name)
        if user is None:
            return False
        self._conn.execute("UPDATE user SET password=? WHERE id=?", (password_hash, user.id))
        self._conn.execute("DELETE FROM session WHERE user_id=?", (user.id,))
        return True

    def remove_user(self, name: str) -> bool:
        """Delete an account and its sessions."""
        user = self.user(name)
        if user is None:
            return False
        self._conn.execute("DELETE FROM session WHERE user_id=?", (user.id,))
        self._conn.execute("DELETE FROM user WHERE id=?", (user.id,))
        return True

    def open_session(self, user: User, cookie: str, csrf: str, now: int, ttl: int) -> None:
        """Remember a login (the cookie value itself is not stored)."""
        self._conn.execute("DELETE FROM session WHERE expires < ?", (now,))
        self._conn.execute(
            "INSERT INTO session VALUES (?, ?, ?, ?, ?)",
            (hash_token(cookie), user.id, csrf, now, now + ttl),
        )

    def web_session(self, cookie: str, now: int) -> WebSession | None:
        """The live session of a cookie."""
        row = self._conn.execute(
            "SELECT u.id, u.name, u.password, u.role, s.csrf, s.expires FROM session s "
            "JOIN user u ON u.id = s.user_id WHERE s.id=? AND s.expires > ?",
            (hash_token(cookie), now),
        ).fetchone()
        return None if row is None else WebSession(User(*row[:4]), row[4], row[5])

    def close_session(self, cookie: str) -> None:
        """Log out."""
        self._conn.execute("DELETE FROM session WHERE id=?", (hash_token(cookie),))

    def search_inventory(self, text: str, limit: int = 1000) -> list[tuple[str, str, str, str]]:
        """(site, host, itemtype, document) of the hosts whose latest inventory mentions `text`
        (OS, model, serial, software…), case-insensitive."""
        rows = self._conn.execute(
            "SELECT site, host, itemtype, document FROM inventory "
            "WHERE instr(lower(document), lower(?)) > 0 ORDER BY site, host LIMIT ?",
            (text, limit),
        ).fetchall()
        return [(str(s), str(h), str(i), str(d)) for s, h, i, d in rows]

    def all_inventories(self, limit: int = 100000) -> list[tuple[str, str, str, str]]:
        """Every latest inventory."""
        rows = self._conn.execute(
            "SELECT site, host, itemtype, document FROM inventory ORDER BY site, host LIMIT ?",
            (limit,),
        ).fetchall()
        return [(str(s), str(h), str(i), str(d)) for s, h, i, d in rows]

    # --- enrollment ------------------------------------------------------------------------

    def create_enrollment(self, site: str, role: str, expires: int, now: int, uses: int = 1) -> str:
        """A new code for `site`, usable `uses` times (printed once, stored hashed)."""
        code = ENROLL_PREFIX + secrets.token_urlsafe(24)
        self._conn.execute(
            "INSERT INTO enrollment (code, site, role, created, expires, uses) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (hash_token(code), site, role, now, expires, uses),
        )
        return code

    def redeem_enrollment(
        self, code: str, host: str, now: int, client: str = "?"
    ) -> tuple[str, str, str]:
        """Trade a code for a new token: (token, site, role). ValueError says why it is refused
        (unknown, used up, expired); each use is counted atomically and logged."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            token, site, role = self._redeem(code, host, now, client)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return token, site, role

    def _redeem(self, code: str, host: str, now: int, client: str) -> tuple[str, str, str]:
        row = self._conn.execute(
            "SELECT id, site, role, expires, uses, used, used_by FROM enrollment WHERE code=?",
            (hash_token(code),),
        ).fetchone()
        if row is None:
            raise ValueError("unknown enrollment code")
        code_id, site, role, expires, uses, used, used_by = row
        if used >= uses:
            raise ValueError(_used_up(uses, used_by))
        if expires <= now:
            raise ValueError("enrollment code expired")
        self._conn.execute(
            "UPDATE enrollment SET used = used + 1, used_at=?, used_by=? WHERE id=?",
            (now, host, code_id),
        )
        self._conn.execute(
            "INSERT INTO enrollment_use VALUES (?, ?, ?, ?)", (code_id, now, host, client)
        )
        return self.create_token(site, host, role, now), str(site), str(role)

    def enrollments(self) -> list[Enrollment]:
        """Every code, oldest first."""
        rows = self._conn.execute(
            "SELECT id, site, role, expires, uses, used, used_by FROM enrollment ORDER BY id"
        ).fetchall()
        return [Enrollment(*row) for row in rows]

    def enrollment_uses(self, code_id: int) -> list[tuple[int, str, str]]:
        """(time, host, client address) of each use of a code."""
        rows = self._conn.execute(
            "SELECT at, host, client FROM enrollment_use WHERE enrollment_id=? ORDER BY rowid",
            (code_id,),
        ).fetchall()
        return [(int(a), str(h), str(c)) for a, h, c in rows]
