"""Alerting in the running collector: the rule engine and the notifier on one thread (woken
by newly indexed data, and a full pass every `evaluation_interval`), the SMTP sender on another
so that a slow mail server never delays evaluation."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from collector.config import CollectorConfig, StateConfig
from collector.lease import Lease, SiteLeases, holder_name
from collector.mirror.forwarder import Forwarder
from collector.notify.notifier import Notifier
from collector.notify.smtp import MailSender
from collector.rules.engine import Engine, Pass
from collector.rules.model import RuleSet
from collector.rules.reads import LocalRuleReads, RuleReads, VictoriaRuleReads
from collector.state import Repository
from collector.state.source import StateSource
from collector.store.db import connect, read_mark
from collector.store.reads import Flushed, Nodes
from collector.store.writer import Append, Writer
from collector.telemetry import OWN_SITE, own_host

log = logging.getLogger(__name__)

# Hosts with new data are evaluated together once a second: often enough for mail within
# seconds, rarely enough that a busy ingest is not slowed by evaluating every batch apart.
TOUCHED_EVERY = 1.0
# A collector that accepted no write for this long hands the alerting lease to one that does.
IDLE_AFTER = 60.0
# Hosts another collector received are looked for this long before the last look (seconds):
# the nodes may get a batch a little after the state says it arrived.
OVERLAP = 2.0
# A host whose newest data a look could not read yet is looked at again at each look, for
# this long at most (seconds; the full passes read it anyway).
AGAIN_FOR = 60.0


class Replays:
    """Hosts whose history is being replayed, and when their forecasts may be re-read: once
    the replay has paused for SETTLE seconds (its hours arrive in a burst of batches; reading
    the forecasts at each would re-read the same window many times and slow ingest), and at
    least every CATCH_UP seconds while a long replay goes on."""

    SETTLE, CATCH_UP = 2.0, 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, float]] = {}  # host: (first, last)

    def settled(self, replayed: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Note hosts given replayed history now; return those whose forecasts are due."""
        now = self._clock()
        for host in replayed:
            first, _ = self._seen.get(host, (now, now))
            self._seen[host] = (first, now)
        due = {
            host
            for host, (first, last) in self._seen.items()
            if now - last >= self.SETTLE or now - first >= self.CATCH_UP
        }
        for host in due:
            del self._seen[host]
        return due


class Alerting:
    """Owns the engine, the notifier and the mail sender; `tick` runs one pass synchronously
    (tests drive it with their own clock), `start` runs them on threads."""

    def __init__(
        self,
        config: CollectorConfig,
        ruleset: RuleSet,
        writer: Writer | None = None,
        clock: Callable[[], float] = time.time,
        outbox_marks: tuple[str, ...] = (),
        state: StateSource | None = None,
        nodes: Sequence[Forwarder] = (),
        latest: Forwarder | None = None,
        name: str | None = None,
    ) -> None:
        self._config = config
        self._writer = writer
        self._clock = clock
        self._outbox_marks = outbox_marks
        self._conn = connect(config.storage.path)
        source = state or StateSource(StateConfig())
        self._state = source.bind(self._conn)
        # Several collectors, each receiving part of the data: the rules read shared data.
        self._reads: RuleReads = (
            VictoriaRuleReads(Nodes(list(nodes), Flushed()), self._conn, self._state, latest)
            if source.shared and nodes
            else LocalRuleReads(self._conn)
        )
        # Several collectors share a PostgreSQL state: they share the sites out, and one plans
        # the mails at a time.
        name = name or holder_name()  # as `latest` names this collector's data
        self.lease = Lease(self._state, clock, holder=name) if source.shared else None
        self.sites = (
            SiteLeases(self._state, clock, self._reads.sites, holder=name)
            if source.shared
            else None
        )
        self._own_host = own_host(source.shared, config.server.port)
        self.engine = Engine(self._conn, ruleset, clock, self._state, self.sites, self._reads)
        self.notifier = Notifier(
            self._state, config.alerts, {r.name: r for r in ruleset.rules}, clock, self.lease
        )
        self.sender = MailSender(source.bind(connect(config.storage.path)), config.smtp, clock)
        self.last_pass: Pass | None = None
        self._looked = clock()
        self._again: dict[tuple[str, str], float] = {}  # host: since when (see _unread)
        self._replays = Replays()
        self._stop = threading.Event()
        self._mail_wake = threading.Event()
        self._threads = [
            threading.Thread(target=self._evaluate_loop, name="alert-engine", daemon=True),
            threading.Thread(target=self._mail_loop, name="mail-sender", daemon=True),
        ]

    def tick(self, full: bool = True, slow: bool | None = None) -> Pass:
        """Evaluate (every rule, or the hosts with new data) and queue what is due."""
        if not full:
            return self._touched_pass()
        self._record_health()
        if not self._leading():
            return Pass(0, 0, 0, 0.0)
        self.last_pass = self.engine.evaluate(None, slow)
        self._plan()
        return self.last_pass

    def _touched_pass(self) -> Pass:
        """Evaluate the hosts whose data was indexed since the last look (here, or on another
        collector when the rules read shared data)."""
        if self._writer is None:
            return Pass(0, 0, 0, 0.0)
        touched = self._writer.take_touched()
        hosts = self.engine.hosts_of(touched.series) | self._again.keys()
        again, self._again = self._again, {}
        if not self._leading({site for site, _ in hosts}):
            return Pass(0, 0, 0, 0.0)
        hosts |= self._received_elsewhere()
        replayed = self._replays.settled(self.engine.hosts_of(touched.backfilled))
        done = self.engine.evaluate(hosts, slow=False) if hosts else Pass(0, 0, 0, 0.0)
        self._again = self._unread(hosts, again)
        if replayed:
            # Hours of history at once (a spool after an outage): a forecast it makes urgent
            # must not wait for the next 10-minute forecast pass.
            self.engine.evaluate(replayed, slow=True, rules=self.engine.forecasts)
        if hosts or replayed:
            self._plan()
        return done

    def _unread(
        self, hosts: set[tuple[str, str]], again: dict[tuple[str, str], float]
    ) -> dict[tuple[str, str], float]:
        """Hosts the look could not read as they are now, to look at again next time (with
        since when, carried over from `again`, the look's own): those whose shared data had
        not caught up, and those of a site not yet known to the sharing out (its newest
        samples not in the state yet)."""
        if self.sites is None or not hosts:
            return {}
        missed = self._reads.unread(hosts)
        missed |= {(site, host) for site, host in hosts if site not in self.sites.fleet}
        now = self._clock()
        since = {host: again.get(host, now) for host in missed}
        return {host: first for host, first in since.items() if now - first < AGAIN_FOR}

    def _received_elsewhere(self) -> set[tuple[str, str]]:
        """The hosts of this collector's sites that another collector received since the last
        look (with a shared state: nothing otherwise)."""
        if self.sites is None:
            return set()
        now = self._clock()
        since, self._looked = min(self._looked, now) - OVERLAP, now
        return self._reads.received_since(since, self.sites.held, self.sites.holder)

    def _full_pass(self) -> None:
        """Every rule over the whole fleet, one rule at a time, with the hosts that sent data
        in between: a long pass must not delay the mail about a threshold just crossed."""
        self._record_health()
        slow = self.engine.slow_due()
        started = time.perf_counter()
        last_touched = time.monotonic()
        for rule in self.engine.ruleset.rules:
            if self._stop.is_set():
                return
            if time.monotonic() - last_touched >= TOUCHED_EVERY:
                self._touched_pass()
                last_touched = time.monotonic()
            if not self._leading():
                return
            self.engine.evaluate(None, slow, rules=[rule])
            self._plan()
        seconds = time.perf_counter() - started
        if seconds > self._config.alerts.evaluation_interval / 2:
            log.warning("a full alert evaluation took %.1f s", seconds)

    def _leading(self, seen: set[str] | None = None) -> bool:
        """Whether this collector has alerting work now (always, unless the state is shared:
        then while it holds sites or the mail planning); `seen`: sites it just received."""
        if self.lease is None or self.sites is None:
            return True
        last = self._writer.last_ingest if self._writer else 0.0
        idle = time.time() - last > IDLE_AFTER
        mails = self.lease.renew(idle)
        return bool(self.sites.renew(idle, seen or ())) or mails

    def _plan(self) -> None:
        if self.notifier.plan():
            self._mail_wake.set()

    def _record_health(self) -> None:
        """The collector's own health as a series, so rules can watch it like any host."""
        if self._writer is None:
            return
        fields = []
        if self._outbox_marks:  # the forwarder furthest behind
            mark = min(read_mark(self._conn, m) or 0 for m in self._outbox_marks)
            depth = self._conn.execute(
                "SELECT count(*) FROM ingest_log WHERE id > ?", (mark,)
            ).fetchone()[0]
            fields.append(f"outbox_requests={depth}i")
        counts = Repository(self._state()).mail_counts()
        fields += [
            f"mail_queued={counts.get('queued', 0)}i",
            f"mail_failed={counts.get('failed', 0)}i",
        ]
        now = int(self._clock())
        line = f"vigie_collector {','.join(fields)} {now}".encode()
        self._writer.append(Append(now, OWN_SITE, self._own_host, "s", False, 1, line, None))

    def start(self) -> None:
        """Run evaluation and mail delivery in the background."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop both threads (queued mail stays queued for the next start) and hand the
        leases over to the other collectors."""
        self._stop.set()
        self._mail_wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=60)
        try:
            for leases in (self.sites, self.lease):
                if leases is not None:
                    leases.release()
        except sqlite3.Error as err:  # PostgreSQL's too: the leases run out in 30 s instead
            log.warning("could not hand the alerting leases over: %s", err)

    def _evaluate_loop(self) -> None:
        interval = self._config.alerts.evaluation_interval
        next_full = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + interval
                    self._full_pass()
                else:
                    self._touched_pass()
            except Exception:
                log.exception("alert evaluation failed; retrying")
            self._stop.wait(TOUCHED_EVERY)

    def _mail_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sender.send_due()
            except Exception:
                log.exception("mail delivery failed; retrying")
            self._mail_wake.wait(5)
            self._mail_wake.clear()
