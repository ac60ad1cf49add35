"""GLPI inventories, the latest per host and the history of their changes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from collector.inventory import Change, diff_inventories
from collector.schema import Part

TABLES = ("inventory", "inventory_change", "inventory_batch")
# How long a replayed inventory (same X-Vigie-Batch) is recognised, as for series batches.
BATCH_DAYS = 7
# Each from version i to i+1 of this part (collector.schema).
MIGRATIONS = (
    """
    -- The latest GLPI inventory of each host, and what changed between two of them.
    CREATE TABLE inventory (
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        itemtype TEXT NOT NULL,
        received INTEGER NOT NULL,
        hash TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (site, host)
    );
    CREATE TABLE inventory_change (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        host TEXT NOT NULL,
        received INTEGER NOT NULL,
        section TEXT NOT NULL,       -- softwares, memories, storages...
        change TEXT NOT NULL,        -- added | removed | changed
        item TEXT NOT NULL,          -- what the item is (software name, memory slot...)
        before TEXT,
        after TEXT
    );
    CREATE INDEX inventory_change_by_host ON inventory_change (site, host, received);
    """,
    """
    -- The batch keys of inventories taken, in the state's own database (the store's
    -- batch_key table is each collector's own, the state may be shared by several).
    CREATE TABLE inventory_batch (key TEXT PRIMARY KEY, received INTEGER NOT NULL);
    CREATE INDEX inventory_batch_by_age ON inventory_batch (received);
    """,
)
PART = Part("inventory", TABLES, MIGRATIONS)


class Inventories:
    """Inventory documents and their changes."""

    _conn: sqlite3.Connection

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
                    "SELECT 1 FROM inventory_batch WHERE key=?", (batch_key,)
                ).fetchone()
                if seen:
                    self._conn.execute("ROLLBACK")
                    return None
                self._conn.execute(
                    "DELETE FROM inventory_batch WHERE received < ?",
                    (received - BATCH_DAYS * 86400,),
                )
                self._conn.execute(
                    "INSERT INTO inventory_batch VALUES (?, ?)", (batch_key, received)
                )
            row = self._conn.execute(
                "SELECT hash, document FROM inventory WHERE site=? AND host=?", (site, host)
            ).fetchone()
            changes = diff_inventories(json.loads(row[1]), document) if row else []
            self._conn.execute(
                "INSERT INTO inventory VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, host) DO "
                "UPDATE SET itemtype=excluded.itemtype, received=excluded.received, "
                "hash=excluded.hash, document=excluded.document",
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
