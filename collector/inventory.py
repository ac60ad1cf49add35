"""GLPI inventory documents on the collector: what changed between two of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ITEMTYPES = ("Computer", "NetworkEquipment", "Printer", "Phone", "Unmanaged")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two inventories of a host."""

    section: str
    change: str  # added | removed | changed
    item: str
    before: str | None = None
    after: str | None = None


def _describe_memory(m: dict[str, Any]) -> str:
    return f"{m.get('capacity', '?')} MB"


def _describe_storage(s: dict[str, Any]) -> str:
    return f"{s.get('model', '')} {s.get('disksize', '?')} MB".strip()


# Per list section: how an item is identified, and what is compared (as text) once matched.
_LIST_SECTIONS: dict[
    str, tuple[Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], str]]
] = {
    "softwares": (lambda s: str(s.get("name", "")), lambda s: str(s.get("version", ""))),
    "memories": (
        lambda m: str(m.get("caption") or m.get("numslots") or "?"),
        _describe_memory,
    ),
    "storages": (lambda s: str(s.get("serial") or s.get("name", "")), _describe_storage),
    "cpus": (lambda c: str(c.get("name", "")), lambda c: f"{c.get('core')}c/{c.get('thread')}t"),
    "networks": (
        lambda n: f"{n.get('description', '')} {n.get('mac', '')}".strip(),
        lambda n: str(n.get("ipaddress", "")),
    ),
    "batteries": (
        lambda b: str(b.get("serial") or b.get("name", "")),
        lambda b: str(b.get("real_capacity", "")),
    ),
}
# Single values worth a line in the history.
_VALUES = (
    ("hardware", "memory"),
    ("operatingsystem", "full_name"),
    ("operatingsystem", "kernel_version"),
    ("bios", "bversion"),
    ("bios", "ssn"),
)


def diff_inventories(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Hardware, software and network changes from `old` to `new` (GLPI documents)."""
    before, after = old.get("content", {}), new.get("content", {})
    changes: list[Change] = []
    for section, (key_of, text_of) in _LIST_SECTIONS.items():
        # Several network entries share an interface (one per address): keep the first.
        a: dict[str, str] = {}
        for item in before.get(section, []):
            a.setdefault(key_of(item), text_of(item))
        b: dict[str, str] = {}
        for item in after.get(section, []):
            b.setdefault(key_of(item), text_of(item))
        for key in sorted(b.keys() - a.keys()):
            changes.append(Change(section, "added", key, None, b[key]))
        for key in sorted(a.keys() - b.keys()):
            changes.append(Change(section, "removed", key, a[key], None))
        for key in sorted(a.keys() & b.keys()):
            if a[key] != b[key]:
                changes.append(Change(section, "changed", key, a[key], b[key]))
    for section, name in _VALUES:
        x = before.get(section, {}).get(name)
        y = after.get(section, {}).get(name)
        if x != y and before:
            changes.append(Change(section, "changed", name, _text(x), _text(y)))
    return changes


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def validate_document(document: Any) -> str | None:
    """Why a document is not a usable GLPI inventory, or None."""
    if not isinstance(document, dict):
        return "expected a JSON object"
    if not isinstance(document.get("content"), dict):
        return "missing 'content' object"
    if not isinstance(document.get("deviceid"), str):
        return "missing 'deviceid' string"
    itemtype = document.get("itemtype", "Computer")
    if itemtype not in ITEMTYPES:
        return f"unknown itemtype {itemtype!r}"
    for section in _LIST_SECTIONS:
        value = document["content"].get(section, [])
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            return f"content.{section} must be a list of objects"
    return None
