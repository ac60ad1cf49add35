"""Tokens (hashed at rest) and enrollment codes: who may send and read."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from collector.schema import Part

ROLES = ("workstation", "poller", "reader", "technician")
TOKEN_PREFIX = "vgt_"  # noqa: S105 - a prefix that makes leaked tokens easy to grep for
ENROLL_PREFIX = "vge_"
TABLES = ("token", "enrollment", "enrollment_use")
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    CREATE TABLE token (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,   -- sha256 of the token: tokens are never stored in clear
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        role TEXT NOT NULL,
        created INTEGER NOT NULL,
        revoked INTEGER
    );
    """,
    """
    -- One-time enrollment codes (stored hashed): an agent trades one for its own token.
    CREATE TABLE enrollment (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,         -- sha256 of the code
        site TEXT NOT NULL,
        role TEXT NOT NULL,                -- workstation | poller
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL,
        used_at INTEGER,
        used_by TEXT                       -- the host that redeemed it
    );
    """,
    """
    -- Enrollment codes usable N times (a mass roll-out on one site), each use logged.
    ALTER TABLE enrollment ADD COLUMN uses INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE enrollment ADD COLUMN used INTEGER NOT NULL DEFAULT 0;
    UPDATE enrollment SET used = 1 WHERE used_at IS NOT NULL;
    CREATE TABLE enrollment_use (
        enrollment_id INTEGER NOT NULL REFERENCES enrollment (id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        host TEXT NOT NULL,
        client TEXT NOT NULL               -- the address the agent enrolled from
    );
    INSERT INTO enrollment_use SELECT id, used_at, used_by, '?' FROM enrollment
        WHERE used_at IS NOT NULL;
    """,
)
PART = Part("tokens", TABLES, MIGRATIONS)


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


class Tokens:
    """Tokens and enrollment codes."""

    _conn: sqlite3.Connection

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

    def revoke_token(self, token_id: int, now: int) -> bool:
        """Revoke a token by id; False when there is no such active token."""
        cursor = self._conn.execute(
            "UPDATE token SET revoked=? WHERE id=? AND revoked IS NULL", (now, token_id)
        )
        return cursor.rowcount == 1

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
        # The count is checked again as the row is written: another collector on the same
        # PostgreSQL may have taken the last use since the read above.
        taken = self._conn.execute(
            "UPDATE enrollment SET used = used + 1, used_at=?, used_by=? "
            "WHERE id=? AND used < uses",
            (now, host, code_id),
        )
        if taken.rowcount != 1:
            raise ValueError(_used_up(uses, used_by))
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
            "SELECT at, host, client FROM enrollment_use WHERE enrollment_id=? ORDER BY at",
            (code_id,),
        ).fetchall()
        return [(int(a), str(h), str(c)) for a, h, c in rows]
