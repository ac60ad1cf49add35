"""The rule engine: reads recent data from the store, applies each rule's evaluator to each
series, and moves alerts along pending -> firing -> resolved in the repository."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector.rules.evaluate import (
    FIRING,
    OK,
    PENDING,
    Points,
    Verdict,
    absence,
    change,
    forecast,
    threshold,
)
from collector.rules.load import effective
from collector.rules.model import Rule, RuleSet
from collector.rules.reads import LocalRuleReads, RuleReads, Where
from collector.state import AlertRow, Repository
from collector.store.query import Recent, as_number
from collector.store.victoria import NodeError

if TYPE_CHECKING:
    from collector.lease import SiteLeases
    from collector.state.source import Connection

log = logging.getLogger(__name__)

SLOW_KINDS = ("prediction", "consumption")
SLOW_EVERY = 600  # forecasts read days of data: every 10 min is enough
MARGIN = 600  # extra history read before a rule's window or `for`


# What evaluation decided for one alert key, applied afterwards under the write lock.
Judged = tuple[Rule, str, dict[str, str], "Verdict | None", "AlertRow | None"]


@dataclass(frozen=True, slots=True)
class Pass:
    """What one evaluation did."""

    rules: int
    series: int
    changes: int
    seconds: float


def alert_key(rule: str, labels: dict[str, str]) -> str:
    """What deduplicates alerts: the rule and the labels."""
    return rule + json.dumps(labels, sort_keys=True, ensure_ascii=False)


def points_for(rule: Rule, samples: list[tuple[int, dict[str, object]]]) -> Points:
    """(ts, value) of the rule's field; None where a `require`d field has another value."""
    out: list[tuple[int, float | None]] = []
    for ts, fields in samples:
        value = as_number(fields.get(rule.field))
        if value is None:
            continue
        if any(as_number(fields.get(name)) != wanted for name, wanted in rule.require.items()):
            out.append((ts, None))
        else:
            out.append((ts, value))
    return out


def within(where: Where | None, sites: set[str] | None) -> Where | None:
    """A rule's tag filter narrowed to these sites (None: every site)."""
    if sites is None:
        return where
    allowed = set((where or {}).get("site", sites)) & sites
    return {**(where or {}), "site": tuple(sorted(allowed))}


class Engine:
    """Evaluates a rule set against the store; one instance per thread (it owns `conn`). The
    series are read from `reads` (the store itself by default); the alerts live in `state`
    (the store's file itself by default, or a shared PostgreSQL); with `leases`, only the sites
    this collector holds are evaluated, and their changes written only while still held."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        ruleset: RuleSet,
        clock: Callable[[], float] = time.time,
        state: Callable[[], Connection] | None = None,
        leases: SiteLeases | None = None,
        reads: RuleReads | None = None,
    ) -> None:
        self._conn = conn
        self._reads = reads or LocalRuleReads(conn)
        self._state = state or (lambda: conn)
        self._leases = leases
        self.ruleset = ruleset
        self._clock = clock
        self._last_slow = -SLOW_EVERY
        self.unreadable = ""  # why the last pass could not read some rules' series
        self.forecasts = [r for r in ruleset.rules if r.kind in SLOW_KINDS]

    def slow_due(self) -> bool:
        """Whether the forecasts are due (every SLOW_EVERY seconds); counts as done."""
        now = int(self._clock())
        if now - self._last_slow < SLOW_EVERY:
            return False
        self._last_slow = now
        return True

    def hosts_of(self, series_ids: set[int]) -> set[tuple[str, str]]:
        """The (site, host) pairs of these series."""
        if not series_ids:
            return set()
        rows = self._conn.execute(
            "SELECT DISTINCT site, host FROM series WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(series_ids)),),
        ).fetchall()
        return {(str(s), str(h)) for s, h in rows}

    def evaluate(
        self,
        hosts: set[tuple[str, str]] | None = None,
        slow: bool | None = None,
        rules: Sequence[Rule] | None = None,
    ) -> Pass:
        """One pass over every rule (or these rules; or only these hosts' series). Forecasts run
        every SLOW_EVERY seconds unless `slow` says otherwise."""
        started = time.perf_counter()
        now = int(self._clock())
        if slow is None:
            slow = hosts is None and self.slow_due()
        sites = None if self._leases is None else set(self._leases.held)
        if sites and self._leases is not None and self._leases.fleet <= sites:
            sites = None  # every site of the fleet: no list to filter on (the fence still holds)
        if sites is not None and not sites:
            return Pass(0, 0, 0, time.perf_counter() - started)  # another collector's sites
        if sites is not None and hosts is not None:
            hosts = {(site, host) for site, host in hosts if site in sites}
        state = self._state()
        repo = Repository(state)
        active = repo.active_alerts()
        # Read and judge first, without holding the write lock (ingest must not wait on us)...
        judged: list[Judged] = []
        series = evaluated = 0
        unreadable = ""
        for rule in self.ruleset.rules if rules is None else rules:
            if rule.kind in SLOW_KINDS and not slow:
                continue
            evaluated += 1
            if rule.kind == "absence":
                if hosts is None:
                    judged += self._absence(rule, active, now, sites)
                continue
            if hosts is not None and rule.kind == "change":
                continue  # reads a whole window per series: left to the full pass (30 s)
            before = len(judged)
            try:
                for recent in self._recent(rule, now, hosts, active, sites):
                    series += 1
                    found = self._series(rule, recent, active)
                    if found is not None:
                        judged.append(found)
            except NodeError as err:
                # No VictoriaMetrics node answered: this rule's alerts stay as they were, and
                # the others (the absence rules read the state) still run.
                del judged[before:]
                unreadable = str(err)
        self._note_unreadable(unreadable, rules is None)
        # ...then write the changes in one short transaction.
        state.execute("BEGIN IMMEDIATE")
        try:
            if self._leases is not None:
                held = self._leases.fenced(repo, {entry[2].get("site", "") for entry in judged})
                judged = [entry for entry in judged if entry[2].get("site", "") in held]
            changes = sum(self._apply(repo, *entry, now) for entry in judged)
            state.execute("COMMIT")
        except BaseException:
            state.execute("ROLLBACK")
            raise
        return Pass(evaluated, series, changes, time.perf_counter() - started)

    def _recent(
        self,
        rule: Rule,
        now: int,
        hosts: set[tuple[str, str]] | None,
        active: dict[str, AlertRow],
        sites: set[str] | None,
    ) -> Iterable[Recent]:
        reads, fields = self._reads, (rule.field, *rule.require)
        # Hosts given are of this collector's sites already: no list of sites for the node
        # to match on top of them.
        where = within(rule.where, sites) if hosts is None else rule.where
        if rule.kind in SLOW_KINDS and hosts is not None:
            # A few hosts whose history was just replayed: raw samples, since the rollups of
            # that history are recomputed later by the store's maintenance.
            return reads.windows(rule.measurement, fields, rule.window, now, hosts,
                                 where=where)  # fmt: skip
        if rule.kind in SLOW_KINDS:
            # Hour means are plenty for a trend over days, and 12 times fewer points.
            res = 3600 if rule.window >= 2 * 86400 else 300
            return reads.means(rule.measurement, rule.field, rule.window, now, hosts, res,
                               where)  # fmt: skip
        lookback = max(rule.for_, rule.window if rule.kind == "change" else 0) + MARGIN
        if hosts is None:
            return reads.windows(rule.measurement, fields, lookback, now, where=where)
        series_ids, alert_hosts = self._worth_a_window(rule, hosts, active, now)
        found = {}
        if series_ids:
            for recent in reads.windows(rule.measurement, fields, lookback, now, hosts,
                                        series_ids, rule.where):  # fmt: skip
                found[recent.series_id] = recent
        if alert_hosts:
            for recent in reads.windows(rule.measurement, fields, lookback, now, alert_hosts,
                                        where=where):  # fmt: skip
                found[recent.series_id] = recent
        return list(found.values())

    def _note_unreadable(self, error: str, every_rule: bool) -> None:
        """Log when rules start and stop failing to read their series (not at every pass)."""
        if error and not self.unreadable:
            log.warning("rules not evaluated, their alerts left as they were: %s", error)
        elif not error and self.unreadable and every_rule:
            log.info("every rule reads its series again")
        if error or every_rule:
            self.unreadable = error

    def _worth_a_window(
        self,
        rule: Rule,
        hosts: set[tuple[str, str]],
        active: dict[str, AlertRow],
        now: int,
    ) -> tuple[set[int], set[tuple[str, str]]]:
        """What a pass over hosts with new data must read: the series whose newest sample meets
        the threshold (the loosest any override sets), and the hosts with an alert of this rule
        open. Nothing else can change state, so the rest of the windows are not read: under a
        heavy ingest most series are far from their thresholds."""
        alert_hosts = {(a.site, a.host) for a in active.values() if a.rule == rule.name} & hosts
        values = {rule.value} | {
            float(o.changes["value"])  # type: ignore[arg-type]
            for o in self.ruleset.overrides
            if o.rule == rule.name and "value" in o.changes
        }
        if len(values) > 1 and rule.op in ("==", "!="):
            return set(), hosts  # no single comparison covers them all: read every window
        loosest = min(values) if rule.op in (">", ">=") else max(values)
        series_ids = self._reads.where_latest(
            rule.measurement, rule.field, rule.op, loosest, now, hosts, rule.where
        )
        return series_ids, alert_hosts

    def _series(self, base: Rule, recent: Recent, active: dict[str, AlertRow]) -> Judged | None:
        if not base.matches(recent.tags):
            return None
        labels = dict(recent.tags)
        key = alert_key(base.name, labels)
        existing = active.get(key)
        rule = effective(base, self.ruleset.overrides, recent.site, recent.host)
        if rule is None:  # disabled here by an override: an alert in progress ends
            return (base, key, labels, None, existing) if existing else None
        points = points_for(rule, recent.samples)
        if not points:
            return None
        if rule.kind == "threshold":
            firing = existing is not None and existing.state == "firing"
            verdict = threshold(rule, points, firing)
        elif rule.kind == "change":
            verdict = change(rule, points)
        else:
            verdict = forecast(rule, points)
        if verdict.state == OK and existing is None:
            return None
        return (rule, key, labels, verdict, existing)

    def _absence(
        self, base: Rule, active: dict[str, AlertRow], now: int, sites: set[str] | None
    ) -> list[Judged]:
        seen = [s for s in self._reads.last_seen(base.measurement, now)
                if sites is None or s[0] in sites]  # fmt: skip
        if base.scope == "site":
            newest: dict[str, int] = {}
            for site, _, ts in seen:
                newest[site] = max(newest.get(site, 0), ts)
            targets = [(site, "", ts) for site, ts in newest.items()]
        else:
            targets = seen
        judged: list[Judged] = []
        for site, host, ts in targets:
            labels = {"site": site, "host": host} if host else {"site": site}
            key = alert_key(base.name, labels)
            rule = effective(base, self.ruleset.overrides, site, host)
            verdict = absence(rule, ts, now) if rule else None
            existing = active.get(key)
            if existing is not None or (verdict is not None and verdict.state != OK):
                judged.append((rule or base, key, labels, verdict, existing))
        return judged

    def _apply(
        self,
        repo: Repository,
        rule: Rule,
        key: str,
        labels: dict[str, str],
        verdict: Verdict | None,
        existing: AlertRow | None,
        now: int,
    ) -> int:
        """Move the alert for `key` according to the verdict (None: the rule is off here)."""
        state = verdict.state if verdict is not None else OK
        if state == FIRING and verdict is not None:
            if existing is None:
                repo.open_alert(
                    key, rule.name, rule.severity, labels, "firing", verdict.since,
                    verdict.value, verdict.eta, now,
                )  # fmt: skip
            else:
                repo.update_alert(existing, "firing", verdict.value, verdict.eta, now)
            return int(existing is None or existing.state != "firing")
        if state == PENDING and verdict is not None:
            if existing is None:
                repo.open_alert(
                    key, rule.name, rule.severity, labels, "pending", verdict.since,
                    verdict.value, None, now,
                )  # fmt: skip
                return 1
            if existing.state == "pending":
                repo.update_alert(existing, "pending", verdict.value, None, now)
            return 0
        if existing is None:
            return 0
        if existing.state == "pending":
            repo.drop_alert(existing)
            return 1
        # Firing, condition over: resolve after the hold-down, measured on the data's time.
        at = verdict.at if verdict is not None else now
        value = verdict.value if verdict is not None else existing.value
        clear_since = existing.clear_since or at
        if verdict is None or at - clear_since >= rule.keep_firing_for:
            repo.update_alert(existing, "resolved", value, existing.eta, now)
            return 1
        repo.update_alert(existing, "firing", existing.value, existing.eta, now, clear_since)
        return 0
