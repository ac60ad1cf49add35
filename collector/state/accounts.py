"""Web UI accounts and their sessions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from collector.schema import Part
from collector.state.tokens import hash_token

TABLES = ("user", "session")
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- Web UI accounts (passwords hashed with scrypt) and their sessions (ids stored hashed).
    CREATE TABLE user (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password TEXT NOT NULL,
        role TEXT NOT NULL,                -- reader | technician
        created INTEGER NOT NULL
    );
    CREATE TABLE session (
        id TEXT PRIMARY KEY,               -- sha256 of the cookie value
        user_id INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
    );
    """,
)
PART = Part("accounts", TABLES, MIGRATIONS)


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


class Accounts:
    """Accounts and sessions."""

    _conn: sqlite3.Connection

    def add_user(self, name: str, password_hash: str, role: str, now: int) -> None:
        """A new account; ValueError when the name is taken."""
        try:
            self._conn.execute(
                'INSERT INTO "user" (name, password, role, created) VALUES (?, ?, ?, ?)',
                (name, password_hash, role, now),
            )
        except sqlite3.IntegrityError:
            raise ValueError(f"user {name!r} already exists") from None

    def user(self, name: str) -> User | None:
        """An account by name."""
        row = self._conn.execute(
            'SELECT id, name, password, role FROM "user" WHERE name=?', (name,)
        ).fetchone()
        return None if row is None else User(*row)

    def users(self) -> list[User]:
        """Every account."""
        rows = self._conn.execute('SELECT id, name, password, role FROM "user" ORDER BY name')
        return [User(*r) for r in rows.fetchall()]

    def set_password(self, name: str, password_hash: str) -> bool:
        """Change a password; its sessions end."""
        user = self.user(name)
        if user is None:
            return False
        self._conn.execute('UPDATE "user" SET password=? WHERE id=?', (password_hash, user.id))
        self._conn.execute("DELETE FROM session WHERE user_id=?", (user.id,))
        return True

    def remove_user(self, name: str) -> bool:
        """Delete an account and its sessions."""
        user = self.user(name)
        if user is None:
            return False
        self._conn.execute("DELETE FROM session WHERE user_id=?", (user.id,))
        self._conn.execute('DELETE FROM "user" WHERE id=?', (user.id,))
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
            'JOIN "user" u ON u.id = s.user_id WHERE s.id=? AND s.expires > ?',
            (hash_token(cookie), now),
        ).fetchone()
        return None if row is None else WebSession(User(*row[:4]), row[4], row[5])

    def close_session(self, cookie: str) -> None:
        """Log out."""
        self._conn.execute("DELETE FROM session WHERE id=?", (hash_token(cookie),))
