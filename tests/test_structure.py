"""The architecture, checked: who may import whom, no import circle, functions that fit on a
screen (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = ("agent", "collector", "protocol", "dashboards")
LONGEST = 80


def modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, ast.parse(path.read_text(), str(path))


def imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every module a module imports, wherever the import is (inside functions and
    TYPE_CHECKING blocks too): `from package import module` names the module."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found


def test_each_side_imports_only_what_it_may() -> None:
    allowed = {"agent": {"protocol"}, "collector": {"protocol"}, "protocol": set()}
    known = dict(modules())
    for name, tree in known.items():
        package = name.split(".")[0]
        if package not in allowed:
            continue
        ours = {i.split(".")[0] for i in imports(tree, set(known))} & set(PACKAGES)
        assert ours <= allowed[package] | {package}, f"{name} imports {ours - {package}}"


def test_no_import_circle() -> None:
    known = dict(modules())
    graph = {
        name: {i for i in imports(tree, set(known)) if i in known and i != name}
        for name, tree in known.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            assert state.get(target) != 1, " -> ".join([*path, name, target])
            if target not in state:
                visit(target, [*path, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_functions_fit_on_a_screen() -> None:
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST
    ]
    assert long == []


def test_every_table_has_one_owner(tmp_path: Path) -> None:
    """Each table belongs to exactly one part (the store or one state module), and that part's
    own migrations, run alone, create exactly its tables."""
    import sqlite3

    from collector import schema
    from collector.state import PARTS
    from collector.store.db import PART, open_store

    def tables(conn: sqlite3.Connection) -> set[str]:
        query = "SELECT name FROM sqlite_schema WHERE type = 'table'"
        return {str(name) for (name,) in conn.execute(query)}

    owners = [set(schema.TABLES)] + [set(part.tables) for part in (PART, *PARTS)]
    everything = tables(open_store(tmp_path / "collector.db"))
    assert set().union(*owners) == everything
    assert sum(len(o) for o in owners) == len(everything)  # no table owned twice
    for part in (PART, *PARTS):
        alone = sqlite3.connect(":memory:", isolation_level=None)
        for script in part.migrations:
            alone.executescript(script)
        assert tables(alone) == set(part.tables), part.name
