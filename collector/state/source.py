"""Where each thread's state connection comes from: the store's own SQLite file (the
connection the thread already holds) or the PostgreSQL database several collectors share."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from collector.config import StateConfig
from collector.state import PARTS, Repository
from collector.state.postgres import PgConnection, PgState

Connection = sqlite3.Connection | PgConnection


class StateSource:
    """The state database of one collector process (open it once, then share it)."""

    def __init__(self, config: StateConfig) -> None:
        self.shared = bool(config.url)
        self._pg = PgState(config.url, config.pool_size) if config.url else None

    def open(self) -> None:
        """Connect and migrate PostgreSQL (the SQLite state is migrated with the store)."""
        if self._pg is not None:
            self._pg.open(PARTS)

    def connection(self, store: sqlite3.Connection | None = None) -> Connection:
        """The calling thread's state connection; `store` is its store connection, which is
        the state's too when there is no PostgreSQL (and must then be given)."""
        if self._pg is not None:
            return self._pg.connection()
        if store is None:
            raise ValueError("the state is the store's file: give its connection")
        return store

    def bind(self, store: sqlite3.Connection) -> Callable[[], Connection]:
        """`connection` for a component that keeps one store connection."""
        return lambda: self.connection(store)

    def close(self) -> None:
        """Close PostgreSQL's connections."""
        if self._pg is not None:
            self._pg.close()


@contextlib.contextmanager
def state_repository(config: StateConfig, store: Path) -> Iterator[Repository]:
    """The state for a one-off command (`vigie-collector token|enroll|user`)."""
    from collector.store.db import open_store

    source = StateSource(config)
    conn = open_store(store)
    try:
        source.open()
        yield Repository(source.connection(conn))
    finally:
        source.close()
        conn.close()
