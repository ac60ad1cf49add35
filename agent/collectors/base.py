"""What collectors share: the one-method protocol and log-once reporting of failed readings."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from protocol.lineproto import Point


class Collector(Protocol):
    """A source of points; `collect` never raises for one failed reading."""

    name: str

    def collect(self, now: int) -> list[Point]:
        """Read the source once and return points stamped `now` (Unix seconds)."""
        ...


class LogOnce:
    """Logs a failing reading the first time only, so a broken sensor does not flood the journal."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()

    def warn(self, key: str, message: str, *args: object) -> None:
        """Log `message` unless `key` already failed before."""
        if key not in self._seen:
            self._seen.add(key)
            self._logger.warning(message + " (logged once)", *args)


def reading_errors(psutil: Any) -> tuple[type[Exception], ...]:
    """What one psutil reading may raise: OSError, psutil.Error (access denied, vanished) and
    RuntimeError, which Windows raises when its performance counters are disabled or broken
    ("PdhAddEnglishCounterW failed": load average, swap, disk I/O)."""
    return (OSError, RuntimeError, psutil.Error)


def percent(part: float, whole: float) -> float:
    """part/whole in percent, 0 for an empty whole."""
    return 100.0 * part / whole if whole else 0.0
