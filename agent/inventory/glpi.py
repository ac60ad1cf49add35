"""The GLPI inventory document, assembled from a platform reader."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from agent import __version__

log = logging.getLogger(__name__)


class PlatformReader(Protocol):
    """What a platform (linux.py, windows.py) provides; each method may raise OSError."""

    def hardware(self) -> dict[str, Any]: ...
    def bios(self) -> dict[str, Any]: ...
    def operatingsystem(self) -> dict[str, Any]: ...
    def cpus(self) -> list[dict[str, Any]]: ...
    def memories(self) -> list[dict[str, Any]]: ...
    def storages(self) -> list[dict[str, Any]]: ...
    def drives(self) -> list[dict[str, Any]]: ...
    def networks(self) -> list[dict[str, Any]]: ...
    def softwares(self) -> list[dict[str, Any]]: ...
    def batteries(self) -> list[dict[str, Any]]: ...


SECTIONS = (
    "hardware",
    "bios",
    "operatingsystem",
    "cpus",
    "memories",
    "storages",
    "drives",
    "networks",
    "softwares",
    "batteries",
)


def clean(value: Any) -> Any:
    """Drop empty values: GLPI's schema rejects nulls and empty strings are noise."""
    if isinstance(value, dict):
        return {k: c for k, v in value.items() if (c := clean(v)) not in (None, "", [], {})}
    if isinstance(value, list):
        return [c for v in value if (c := clean(v)) not in (None, "", [], {})]
    return value


def build_inventory(reader: PlatformReader, deviceid: str, logdate: str) -> dict[str, Any]:
    """The whole document; a section that cannot be read is left out and logged."""
    content: dict[str, Any] = {"versionclient": f"vigie-agent-{__version__}"}
    for section in SECTIONS:
        method: Callable[[], Any] = getattr(reader, section)
        try:
            value = clean(method())
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            # RuntimeError: psutil on a Windows whose performance counters are disabled.
            log.warning("inventory: cannot read %s: %s", section, err)
            continue
        if value:
            content[section] = value
    content["accesslog"] = {"logdate": logdate}
    return {"action": "inventory", "deviceid": deviceid, "itemtype": "Computer", "content": content}
