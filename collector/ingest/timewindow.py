"""The time window a point must fall in to be kept, and the senders whose clocks miss it.

InfluxDB's range is checked by the parser (a point outside it refuses the whole request);
this is the narrower window of what Vigie can show: not older than the raw retention (the
next retention pass would delete it unseen), not further ahead than `limits.max_future`.
Points outside are dropped and the rest stored, answered like InfluxDB's partial writes."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import NamedTuple

from collector.ingest.lineproto import Row

log = logging.getLogger(__name__)

LOG_EVERY = 3600  # one log line per sender and hour
REMEMBER = 86400  # a sender stays on the list a day after its last refused point


class Window(NamedTuple):
    """The oldest and newest timestamps (Unix seconds) a point may carry."""

    oldest: int
    newest: int

    def holds(self, time: int) -> bool:
        """Whether a timestamp is inside."""
        return self.oldest <= time <= self.newest

    def why_outside(self, time: int) -> str:
        """Why a timestamp is refused ("" when it is inside)."""
        if time < self.oldest:
            days = (self.newest - self.oldest) // 86400
            return (
                f"timestamp {_iso(time)} is older than the raw retention (about {days} days): "
                "check the sender's clock and the `precision` parameter"
            )
        if time > self.newest:
            return (
                f"timestamp {_iso(time)} is ahead of the collector's clock by more than "
                "limits.max_future: check the sender's clock (NTP) and time zone"
            )
        return ""


class Outside(NamedTuple):
    """The points of a request that fall outside the window."""

    too_old: int
    future: int
    first_line: int
    reason: str  # why the first of them is outside
    kind: str  # too_old | future: the first's

    @property
    def points(self) -> int:
        """How many points are outside."""
        return self.too_old + self.future


def outside(rows: list[Row], window: Window) -> Outside | None:
    """The rows outside the window, or None (the common case: one pass, nothing built)."""
    oldest, newest = window  # inlined: this runs on every line written
    if all(oldest <= row[1] <= newest for row in rows):
        return None
    old = [row for row in rows if row[1] < window.oldest]
    ahead = [row for row in rows if row[1] > window.newest]
    first = min(old + ahead, key=lambda row: row[3])
    kind = "too_old" if first[1] < window.oldest else "future"
    return Outside(len(old), len(ahead), first[3], window.why_outside(first[1]), kind)


def _iso(time: int) -> str:
    try:
        return datetime.fromtimestamp(time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(time)


class SkewedSender(NamedTuple):
    """A sender some of whose points fell outside the window."""

    site: str
    host: str
    last: int  # when the last such point came
    kind: str
    reason: str
    dropped: int  # points dropped since the collector started


class SkewedSenders:
    """Who sends points outside the window (in memory: a wrong clock shows again at its next
    batch), counted for /metrics, listed on the fleet page, logged once an hour each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._senders: dict[tuple[str, str], SkewedSender] = {}
        self._logged: dict[tuple[str, str], int] = {}
        self.dropped: Counter[str] = Counter()

    def record(self, site: str, host: str, found: Outside, now: int) -> None:
        """Note a request's points outside the window; log the sender at most hourly."""
        key = (site, host)
        with self._lock:
            self.dropped["too_old"] += found.too_old
            self.dropped["future"] += found.future
            before = self._senders.get(key)
            total = found.points + (before.dropped if before else 0)
            self._senders[key] = SkewedSender(site, host, now, found.kind, found.reason, total)
            due = now - self._logged.get(key, now - LOG_EVERY) >= LOG_EVERY
            if due:
                self._logged[key] = now
            self._forget(now)
        if due:
            log.warning(
                "site=%s host=%s: %d point(s) dropped, line %d: %s (logged once an hour)",
                site, host, found.points, found.first_line, found.reason,
            )  # fmt: skip

    def _forget(self, now: int) -> None:
        for key in [k for k, s in self._senders.items() if now - s.last > REMEMBER]:
            del self._senders[key]
            self._logged.pop(key, None)

    def recent(self, now: int) -> list[SkewedSender]:
        """Senders with points outside the window in the last day, most recent first."""
        with self._lock:
            self._forget(now)
            return sorted(self._senders.values(), key=lambda s: -s.last)
