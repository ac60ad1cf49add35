"""The relational state, one module per kind (tokens and enrollment, inventory, alerts,
silences, the mail queue, accounts and sessions), each naming the tables it owns; `Repository`
puts them together over one connection, to SQLite (the embedded default, the store's file) or
to PostgreSQL (`[state] url`, shared by several collectors: state.postgres)."""

from __future__ import annotations

import sqlite3

from collector.schema import Part
from collector.state import accounts, alerts, inventory, latest, mail, silences, tokens
from collector.state.accounts import Accounts, User, WebSession
from collector.state.alerts import AlertRow, Alerts
from collector.state.inventory import Inventories
from collector.state.latest import LatestValues
from collector.state.mail import Mail, MailQueue
from collector.state.postgres import PgConnection
from collector.state.silences import NewSilence, Silence, Silences
from collector.state.tokens import (
    ENROLL_PREFIX,
    ROLES,
    TOKEN_PREFIX,
    Enrollment,
    Identity,
    TokenInfo,
    Tokens,
    hash_token,
)

# Migrated in this order; no part's migration reads another part's tables.
PARTS: tuple[Part, ...] = tuple(
    m.PART for m in (tokens, inventory, alerts, silences, mail, accounts, latest)
)


class Repository(Tokens, Inventories, Alerts, Silences, MailQueue, Accounts, LatestValues):
    """Every kind of relational state, over one connection (one per thread): SQLite's, or
    PostgreSQL's through state.postgres.PgConnection."""

    def __init__(self, conn: sqlite3.Connection | PgConnection) -> None:
        self._conn = conn  # type: ignore[assignment]  # PgConnection has the methods used
        self._shared = isinstance(conn, PgConnection)


__all__ = [
    "ENROLL_PREFIX", "PARTS", "ROLES", "TOKEN_PREFIX", "AlertRow", "Enrollment", "Identity",
    "Mail", "NewSilence", "Repository", "Silence", "TokenInfo", "User", "WebSession",
    "hash_token",
]  # fmt: skip
