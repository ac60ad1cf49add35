"""WMI over COM (comtypes), in process: no PowerShell start per query (100+ MB, 1-2 s, and
blocked by some execution policies).

Properties are read one by one by name (`row.Properties_[name].Value`): real Windows also
answers `row.Name`, but Wine's WMI objects answer only the indexed form, and a property that
a Windows version lacks must cost that field, not the row.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class WmiSource(Protocol):
    """Instances of a WMI class as dicts holding the asked properties that have a value."""

    def query(self, class_name: str, properties: tuple[str, ...]) -> list[dict[str, Any]]:
        """Raises OSError when WMI cannot be reached or the class cannot be queried."""
        ...


class ComWmi:
    """root\\cimv2 through comtypes; connected on first use, in the calling thread."""

    def __init__(self, moniker: str = "winmgmts:") -> None:
        self._moniker = moniker
        self._service: Any = None

    def _connect(self) -> Any:
        if self._service is None:
            try:
                client: Any = importlib.import_module("comtypes.client")
                importlib.import_module("comtypes").CoInitialize()
                self._service = client.CoGetObject(self._moniker, dynamic=True)
            except Exception as err:  # ImportError, comtypes' COMError: no common base
                raise OSError(f"WMI is unavailable ({self._moniker}): {err}") from None
        return self._service

    def query(self, class_name: str, properties: tuple[str, ...]) -> list[dict[str, Any]]:
        """Each instance with the properties that exist and are not null."""
        service = self._connect()
        try:
            # WQL over class names of this module's own code, never outside input.
            rows = list(service.ExecQuery(f"SELECT * FROM {class_name}"))  # noqa: S608
        except Exception as err:  # COMError: an unknown class, access denied
            raise OSError(f"WMI query of {class_name} failed: {err}") from None
        return [_properties(row, properties) for row in rows]


def _properties(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        try:
            value = row.Properties_[name].Value
        except Exception:  # noqa: S112 - a property this Windows (or Wine) lacks
            continue
        if value is not None:
            values[name] = list(value) if isinstance(value, tuple) else value
    return values


class RecordedWmi:
    """WMI answers recorded on a real machine (tests, and what Wine cannot give)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self._answers = answers

    def query(self, class_name: str, properties: tuple[str, ...]) -> list[dict[str, Any]]:
        """The recorded instances, cut to the asked properties; OSError for an unknown class."""
        if class_name not in self._answers:
            raise OSError(f"WMI query of {class_name} failed: no such class")
        return [
            {k: v for k, v in row.items() if k in properties and v is not None}
            for row in self._answers[class_name]
        ]
