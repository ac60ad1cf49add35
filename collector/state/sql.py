"""SQL pieces the state's modules share, spelled the same for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator

CHUNK = 500  # values per `IN (...)`: under every server's limit of parameters


def in_lists(values: Collection[str]) -> Iterator[tuple[list[str], str]]:
    """The values sorted, CHUNK at a time, each with its `?, ?, …` placeholders."""
    names = sorted(values)
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        yield chunk, ", ".join("?" * len(chunk))
