"""Relational state (tokens for now; users, inventory, alerts and silences as they come) behind
one module, so that another SQL database can replace SQLite for large installations."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from collector.inventory import Change, diff_inventories

ROLES = ("workstation", "poller", "reader")
TOKEN_PREFIX = "vgt_"  # noqa: S105 - a prefix that makes leaked tokens easy to grep for


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


class Repository:
    """Tokens and, later, the rest of the relational state."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create_token(self, site: str, host: str, role: str) -> str:
        """Create a token and return it; only its hash is kept."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._conn.execute(
            "INSERT INTO token (hash, site, host, role, created) VALUES (?, ?, ?, ?, ?)",
            (hash_token(token), site, host, role, int(time.time())),
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

    def revoke_token(self, token_id: int) -> bool:
        """Revoke a token by id; False when there is no such active token."""
        cursor = self._conn.execute(
            "UPDATE token SET revoked=? WHERE id=? AND revoked IS NULL",
            (int(time.time()), token_id),
        )
        return cursor.rowcount == 1
