"""The time range a page shows: one of the usual spans up to now (the page refreshes itself),
or a custom range (from a drag on a chart, or two dates picked in the page's zone)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400,
          "1y": 365 * 86400}  # fmt: skip
DEFAULT = "24h"
LONGEST = 2 * 365 * 86400
SHORTEST = 300


class Span(NamedTuple):
    """What a page shows: [start, end], the usual range's name ("" for a custom one), and why
    a custom range was refused ("" when it was not)."""

    start: int
    end: int
    name: str
    problem: str = ""

    @property
    def live(self) -> bool:
        """Whether the range ends now (the page refreshes itself)."""
        return bool(self.name)


def picked_time(text: str, zone: ZoneInfo) -> int:
    """Seconds since the epoch of a local date and time as a date picker sends it
    ("2026-12-01T14:00", in the page's zone); ValueError when it is not one."""
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())


def _moment(text: str, zone: ZoneInfo) -> int:
    """Seconds since the epoch (a drag on a chart), or a date picker's value."""
    return int(text) if text.isdigit() else picked_time(text, zone)


def span_of(name: str, start: str, end: str, now: int, zone: ZoneInfo) -> Span:
    """The range asked: a custom one when both ends are given and make sense, else the usual
    range `name` (24 h when unknown)."""
    usual = Span(now - RANGES.get(name, RANGES[DEFAULT]), now,
                 name if name in RANGES else DEFAULT)  # fmt: skip
    if not start and not end:
        return usual
    try:
        low, high = _moment(start, zone), _moment(end, zone)
    except ValueError:
        return usual._replace(problem="range_unreadable")
    high = min(high, now + 86400)
    if not SHORTEST <= high - low <= LONGEST:
        return usual._replace(problem="range_bad")
    return Span(low, high, "")


def picker(ts: int, zone: ZoneInfo) -> str:
    """A time as an <input type="datetime-local"> holds it."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%dT%H:%M")
