"""Databases as collectors before the per-part schema wrote them: one global user_version
over a single list of migrations (collector.schema.LEGACY says what each step was)."""

from __future__ import annotations

import sqlite3
from collections import Counter

from collector.schema import LEGACY
from collector.state import PARTS
from collector.store.db import PART


def legacy_steps() -> list[str]:
    """The single list of migrations as released before the split."""
    parts = {part.name: part for part in (PART, *PARTS)}
    applied: Counter[str] = Counter()
    steps = []
    for step in LEGACY:
        scripts = []
        for name in step:
            scripts.append(parts[name].migrations[applied[name]])
            applied[name] += 1
        steps.append(";".join(scripts))
    return steps


def legacy_store(conn: sqlite3.Connection, *, before: str | None = None) -> int:
    """Migrate `conn` the old way, up to the step that holds `before` (all steps if None);
    the global version reached."""
    steps = legacy_steps()
    stop = len(steps) if before is None else next(i for i, s in enumerate(steps) if before in s)
    for number in range(stop):
        conn.executescript(f"BEGIN; {steps[number]}; PRAGMA user_version={number + 1}; COMMIT;")
    return stop
