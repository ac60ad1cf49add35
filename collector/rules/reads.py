"""Where the rules read series. By default the embedded store, which holds every series this
collector received. When several collectors share a PostgreSQL state and forward the series to
VictoriaMetrics, each receives only part of the fleet's data: the rules then read the windows
and trends from the nodes and the newest values and last contacts from the state's `latest`,
the whole fleet's whichever collector received it."""

from __future__ import annotations

import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from collector.mirror.forwarder import Forwarder
from collector.state import Repository
from collector.store.query import (
    Recent,
    SeriesQuery,
    as_number,
    last_seen,
    recent_means,
    recent_samples,
    series_where_latest,
    sites_seen,
)
from collector.store.reads import Nodes, caught_up
from collector.store.victoria import Labels, alternatives, quoted

if TYPE_CHECKING:
    from collector.state.source import Connection

STALE = 7 * 86400  # series silent for longer are no longer evaluated
# More hosts (a fleet replaying after an outage) or sites than this are filtered here, not in
# the URL (a node reads a list of literal alternatives as a set; the URL stays under 64 kB).
MAX_HOSTS_IN_URL = 200
MAX_SITES_IN_URL = 2000  # a collector's share of the communes
Hosts = set[tuple[str, str]]
Exported = dict[tuple[str, Labels], list[tuple[int, float]]]  # (name, labels): points
Where = Mapping[str, tuple[str, ...]]


class RuleReads(Protocol):
    """What the rule engine reads (collector.store.query's functions, as they answer)."""

    def windows(self, measurement: str, fields: tuple[str, ...], lookback: int, now: int,
                hosts: Hosts | None = None, series_ids: set[int] | None = None,
                where: Where | None = None) -> Iterable[Recent]:  # fmt: skip
        """Each fresh series' samples over its last `lookback` seconds (`fields` at least)."""

    def means(self, measurement: str, field: str, lookback: int, now: int, hosts: Hosts | None,
              res: int, where: Where | None) -> list[Recent]:  # fmt: skip
        """Each fresh series' `res`-second means over its last `lookback` seconds."""

    def where_latest(self, measurement: str, field: str, op: str, value: float, now: int,
                     hosts: Hosts, where: Where | None) -> set[int]:  # fmt: skip
        """The series (ids `windows` takes) whose newest sample has `field op value`."""

    def last_seen(self, measurement: str, now: int) -> list[tuple[str, str, int]]:
        """(site, host, newest sample time) of every host that sent `measurement` lately."""

    def sites(self, now: int) -> set[str]:
        """The sites with a fresh series (what the collectors share out)."""

    def received_since(self, since: float, sites: Iterable[str], me: str) -> Hosts:
        """The hosts of `sites` whose data collectors other than `me` received since `since`
        (this collector's own writer says what it received)."""

    def unread(self, hosts: Hosts) -> Hosts:
        """Those of `hosts` whose newest data the reads since the last call may have missed
        (shared data that had not caught up): to read again at the next look."""


@dataclass(frozen=True, slots=True)
class LocalRuleReads:
    """RuleReads from the embedded store."""

    conn: sqlite3.Connection

    def windows(self, measurement: str, fields: tuple[str, ...], lookback: int, now: int,
                hosts: Hosts | None = None, series_ids: set[int] | None = None,
                where: Where | None = None) -> Iterable[Recent]:  # fmt: skip
        """See RuleReads (every field: the store reads whole samples)."""
        return recent_samples(self.conn, measurement, lookback, now - STALE, hosts, series_ids,
                              where)  # fmt: skip

    def means(self, measurement: str, field: str, lookback: int, now: int, hosts: Hosts | None,
              res: int, where: Where | None) -> list[Recent]:  # fmt: skip
        """See RuleReads."""
        return recent_means(self.conn, measurement, field, lookback, now - STALE, hosts, res,
                            where)  # fmt: skip

    def where_latest(self, measurement: str, field: str, op: str, value: float, now: int,
                     hosts: Hosts, where: Where | None) -> set[int]:  # fmt: skip
        """See RuleReads."""
        return series_where_latest(self.conn, measurement, field, op, value, now - STALE, hosts,
                                   where)  # fmt: skip

    def last_seen(self, measurement: str, now: int) -> list[tuple[str, str, int]]:
        """See RuleReads."""
        return last_seen(self.conn, measurement, now - STALE)

    def sites(self, now: int) -> set[str]:
        """See RuleReads."""
        return sites_seen(self.conn, now - STALE)

    def received_since(self, since: float, sites: Iterable[str], me: str) -> Hosts:
        """See RuleReads: the store holds only what this collector received."""
        return set()

    def unread(self, hosts: Hosts) -> Hosts:
        """See RuleReads: the store has indexed what it was asked for (the writer's sync)."""
        return set()


_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
            "==": operator.eq, "!=": operator.ne}  # fmt: skip


def _wanted(tags: Mapping[str, str], hosts: Hosts | None, where: Where | None) -> bool:
    if hosts is not None and (tags.get("site", ""), tags.get("host", "")) not in hosts:
        return False
    return all(tags.get(tag) in allowed for tag, allowed in (where or {}).items())


@dataclass
class VictoriaRuleReads:
    """RuleReads from the nodes (windows, trends) and the shared state (newest values, last
    contacts). A window ends now, not at the series' own newest sample as in the store: a
    series silent for longer than the window yields nothing (its alert stays as it was, as the
    store's unchanged window would leave it; the absence rules see the silence)."""

    nodes: Nodes
    conn: sqlite3.Connection  # this thread's store connection: the outbox's position
    state: Callable[[], Connection]
    latest: Forwarder | None = None  # what fills `latest` from this collector's outbox
    _ids: dict[Labels, int] = field(default_factory=dict)
    # What where_latest found: each series' host and newest sample time, which its window
    # must show.
    _newest: dict[int, tuple[tuple[str, str], int]] = field(default_factory=dict)
    _behind: bool = False  # `latest` had not caught up at some read since unread()
    _unseen: Hosts = field(default_factory=set)  # hosts whose window lacked a newest sample

    def _latest(self) -> Repository:
        """The state, once `latest` holds what this collector just accepted (a touched pass
        must see the value that crossed its threshold; up to the nodes' wait, once per look:
        `latest` far behind after a burst must not hold each rule of a look for the wait)."""
        if self.latest is not None and not self._behind:
            self._behind = not caught_up(self.conn, [self.latest], self.nodes.wait)
        return Repository(self.state())

    def _id(self, labels: Labels) -> int:
        """A series' id for this engine's life (the nodes have none)."""
        return self._ids.setdefault(labels, len(self._ids) + 1)

    def windows(self, measurement: str, fields: tuple[str, ...], lookback: int, now: int,
                hosts: Hosts | None = None, series_ids: set[int] | None = None,
                where: Where | None = None) -> Iterator[Recent]:  # fmt: skip
        """See RuleReads: only `fields` are read."""
        names = alternatives(f"{measurement}_{f}" for f in fields)
        match = f"{{__name__=~{quoted(names)}"
        names_of_hosts = {h for _, h in hosts or ()}
        if hosts is not None and len(names_of_hosts) <= MAX_HOSTS_IN_URL:
            match += f",host=~{quoted(alternatives(names_of_hosts))}"
        sites = (where or {}).get("site")
        if sites is not None and len(sites) <= MAX_SITES_IN_URL:  # this collector's share
            match += f",site=~{quoted(alternatives(sites))}"
        found = self._export(match, now - lookback, now)
        if series_ids is not None and self._lacking(found, series_ids, now - lookback, now):
            # VictoriaMetrics may answer a selector it answered a moment ago from a cache that
            # /internal/force_flush does not reset: a series created since is missing (for 4
            # to 10 s here). A matcher it has never seen reads its index afresh.
            found = self._export(f'{match},vigie_fresh!="{time.time_ns()}"', now - lookback, now)
            lacking = self._lacking(found, series_ids, now - lookback, now)
            self._unseen |= {self._newest[sid][0] for sid in lacking}
        samples: dict[Labels, dict[int, dict[str, object]]] = {}
        for (name, labels), points in found.items():
            field_name = name[len(measurement) + 1 :]
            series = samples.setdefault(labels, {})
            for ts, value in points:
                series.setdefault(ts, {})[field_name] = value
        for labels, by_time in sorted(samples.items()):
            tags = dict(labels)
            sid = self._id(labels)
            if _wanted(tags, hosts, where) and (series_ids is None or sid in series_ids):
                site, host = tags.get("site", ""), tags.get("host", "")
                yield Recent(site, host, tags, sorted(by_time.items()), sid)

    def _export(self, match: str, start: int, end: int) -> Exported:
        """The raw samples of the series `match` (a selector without its closing brace)
        selects."""
        return self.nodes.read(self.conn, lambda n: n.export_match(match + "}", start, end))

    def _lacking(self, found: Exported, series_ids: set[int], start: int, end: int) -> set[int]:
        """The series of `series_ids` whose newest sample (as where_latest read it) falls in
        [start, end] but is not in `found`."""
        shown: dict[int, int] = {}
        for (_, labels), points in found.items():
            sid = self._id(labels)
            shown[sid] = max([shown.get(sid, 0), *(ts for ts, _ in points)])
        return {
            sid
            for sid in series_ids & self._newest.keys()
            if start <= self._newest[sid][1] <= end and shown.get(sid, -1) < self._newest[sid][1]
        }

    def means(self, measurement: str, field: str, lookback: int, now: int, hosts: Hosts | None,
              res: int, where: Where | None) -> list[Recent]:  # fmt: skip
        """See RuleReads."""
        start = now - lookback
        sites = tuple((where or {}).get("site", ()))  # this collector's share
        asked = SeriesQuery(measurement, field, start, now, step=res,
                            sites=sites if len(sites) <= MAX_SITES_IN_URL else ())  # fmt: skip
        found = self.nodes.read(self.conn, lambda n: n.steps(asked, start, now))
        out = []
        for labels, points in sorted(found.items()):
            tags = dict(labels)
            if points and _wanted(tags, hosts, where):
                samples: list[tuple[int, dict[str, object]]] = []
                samples += [(ts, {field: value}) for ts, value in points]
                out.append(Recent(tags.get("site", ""), tags.get("host", ""), tags, samples,
                                  self._id(labels)))  # fmt: skip
        return out

    def where_latest(self, measurement: str, field: str, op: str, value: float, now: int,
                     hosts: Hosts, where: Where | None) -> set[int]:  # fmt: skip
        """See RuleReads, from the state's newest samples."""
        compare = _COMPARE[op]
        ids = set()
        for tags, ts, fields in self._latest().newest_of(measurement, now - STALE, hosts):
            number = as_number(fields.get(field))
            if number is not None and compare(number, value) and _wanted(tags, None, where):
                sid = self._id(tuple(sorted(tags.items())))
                self._newest[sid] = ((tags.get("site", ""), tags.get("host", "")), ts)
                ids.add(sid)
        return ids

    def last_seen(self, measurement: str, now: int) -> list[tuple[str, str, int]]:
        """See RuleReads, from the state's newest samples."""
        return self._latest().last_contacts(measurement, now - STALE)

    def sites(self, now: int) -> set[str]:
        """See RuleReads, from the state's newest samples."""
        return self._latest().sites_seen(now - STALE)

    def received_since(self, since: float, sites: Iterable[str], me: str) -> Hosts:
        """See RuleReads, from when the state's newest samples changed."""
        return Repository(self.state()).received_since(int(since * 1000), set(sites), me)

    def unread(self, hosts: Hosts) -> Hosts:
        """See RuleReads: every host when `latest` had not caught up (its forwarder waits for
        PostgreSQL, or for the store's write lock to note its progress), else those whose
        window lacked the newest sample `latest` has (a node not caught up)."""
        missed = set(hosts) if self._behind else hosts & self._unseen
        self._behind, self._unseen = False, set()
        self._newest.clear()
        return missed
