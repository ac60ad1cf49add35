"""Deciding which mails to send: per site, after the group wait, repeating at the severity's
interval, quiet while silenced, acknowledged or inhibited, warnings in a daily digest."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from collector import muting
from collector.config import AlertsConfig
from collector.notify.compose import Words, digest_mail, site_mail, summary
from collector.notify.facts import Device, device_facts
from collector.rules.model import Rule
from collector.state import AlertRow, Repository, Silence

if TYPE_CHECKING:
    from collector.lease import Lease
    from collector.state.source import Connection

log = logging.getLogger(__name__)


class Notifier:
    """Turns alert states into queued mails; one instance per thread (`state` gives that
    thread's connection); with a `lease`, mails are planned only while it is held."""

    def __init__(
        self,
        state: Callable[[], Connection],
        config: AlertsConfig,
        rules: Mapping[str, Rule],
        clock: Callable[[], float] = time.time,
        lease: Lease | None = None,
    ) -> None:
        self._state = state
        self._lease = lease
        self._config = config
        self._rules = rules
        self._clock = clock
        self._words = Words(config.language, config.timezone)
        self._warned = False

    def describe(self, alert: AlertRow, now: int) -> str:
        """The alert's one-line text in the configured language."""
        return summary(alert, self._rules.get(alert.rule), self._words, now)

    def annotate(
        self, repo: Repository, alerts: list[AlertRow], now: int
    ) -> list[tuple[AlertRow, str, str]]:
        """Each alert with its text and why it is quiet ("" when it is not), for the API and the
        pages; the silences and the sites cut off are read once."""
        silences = repo.silences(now)
        inhibited = self.inhibited_sites(repo.alerts(("firing",)))
        return [(a, self.describe(a, now), self.quiet(a, silences, inhibited, now)) for a in alerts]

    @staticmethod
    def facts(repo: Repository, alerts: list[AlertRow]) -> dict[tuple[str, str], Device]:
        """The inventory facts (address, disks) of the alerts' devices, each read once."""
        found: dict[tuple[str, str], Device] = {}
        for alert in alerts:
            key = (alert.site, alert.host)
            if key not in found:
                inventory = repo.inventory(*key)
                found[key] = device_facts(inventory[1] if inventory else None)
        return found

    def value(self, alert: AlertRow) -> str:
        """The alert's value in words and units, for the pages."""
        return self._words.value(alert, self._rules.get(alert.rule))

    def action(self, alert: AlertRow) -> str:
        """What to do about the alert, in the configured language ("" when the rule says
        nothing)."""
        rule = self._rules.get(alert.rule)
        return rule.action.get(self._words.language, "") if rule else ""

    def recipients(self, site: str | None) -> list[str]:
        """The site's own recipients, then the default ones."""
        own = self._config.site_recipients.get(site, ()) if site else ()
        return list(dict.fromkeys((*own, *self._config.recipients)))

    def _repeat(self, severity: str) -> int:
        if severity == "critical":
            return self._config.repeat_critical
        return self._config.repeat_warning

    def next_digest(self, now: int) -> int:
        """When the next daily digest goes out (local `digest_hour`, after `now`)."""
        local = self._words.local(now)
        at = local.replace(hour=self._config.digest_hour, minute=0, second=0, microsecond=0)
        if at <= local:
            at = (at + timedelta(days=1)).replace(hour=self._config.digest_hour)
        return int(at.timestamp())

    def urgent(self, alert: AlertRow, now: int) -> bool:
        """Whether a warning cannot wait for the digest: its forecast crossing comes before the
        digest plus `urgent_margin` (time to act), or it has fired for `urgent_after`."""
        if alert.severity == "critical":
            return True
        if alert.eta is not None and alert.eta < self.next_digest(now) + self._config.urgent_margin:
            return True
        return alert.state == "firing" and now - alert.since >= self._config.urgent_after

    def _digested(self, alert: AlertRow, now: int) -> bool:
        """Whether the alert is the digest's: a warning that can wait, never mailed on its own
        (one that was keeps its own mails, its resolution included)."""
        if not self._config.digest or alert.severity == "critical":
            return False
        if alert.notified_state == "firing":
            return False
        if alert.state == "resolved":
            return True
        return not self.urgent(alert, now)

    def quiet(self, alert: AlertRow, silences: list[Silence], inhibited: set[str], now: int) -> str:
        """Why an alert sends no mail now ("" when it may): see collector.muting."""
        return muting.quiet(alert, silences, inhibited, self._rules, now)

    def inhibited_sites(self, alerts: list[AlertRow]) -> set[str]:
        """Sites cut off: see collector.muting."""
        return muting.inhibited_sites(alerts, self._rules)

    def plan(self) -> int:
        """Queue what is due; returns the number of mails queued."""
        now = int(self._clock())
        state = self._state()
        repo = Repository(state)
        state.execute("BEGIN IMMEDIATE")
        try:
            queued = 0
            if self._lease is None or self._lease.held(repo):
                repo.release_held(now)
                queued = self._plan(repo, now)
            state.execute("COMMIT")
        except BaseException:
            state.execute("ROLLBACK")
            raise
        return queued

    def _plan(self, repo: Repository, now: int) -> int:
        alerts = repo.to_notify()
        silences = repo.silences(now)
        inhibited = self.inhibited_sites(alerts)
        queued = 0
        for site in sorted({a.site for a in alerts}):
            firing: list[tuple[AlertRow, bool]] = []
            resolved: list[AlertRow] = []
            fresh_since = now
            for alert in (a for a in alerts if a.site == site):
                if alert.state == "resolved":
                    if not self._digested(alert, now):
                        resolved.append(alert)
                    continue
                if self._digested(alert, now) or self.quiet(alert, silences, inhibited, now):
                    continue
                if alert.notified_state != "firing" or alert.notified_at is None:
                    firing.append((alert, False))
                    fresh_since = min(fresh_since, alert.fired_at or now)
                elif now - alert.notified_at >= self._repeat(alert.severity):
                    firing.append((alert, True))
            # Wait a little after the first new alert so that its neighbours join the mail.
            if any(not r for _, r in firing) and now - fresh_since < self._config.group_wait:
                continue
            if not firing and not resolved:
                continue
            facts = self.facts(repo, [a for a, _ in firing])
            subject, body = site_mail(
                site, firing, resolved, self._rules, self._words, self._config.public_url, now,
                facts,
            )  # fmt: skip
            queued += self._queue(repo, self.recipients(site), subject, body, now)
            repo.mark_notified([a.id for a, _ in firing], "firing", now)
            repo.mark_notified([a.id for a in resolved], "resolved", now)
        return queued + self._digest(repo, alerts, silences, inhibited, now)

    def _digest(
        self,
        repo: Repository,
        alerts: list[AlertRow],
        silences: list[Silence],
        inhibited: set[str],
        now: int,
    ) -> int:
        """Once a day at `digest_hour` (local time): every warning in progress, one mail."""
        if not self._config.digest:
            return 0
        local = self._words.local(now)
        today = int(local.strftime("%Y%m%d"))
        last = repo.alert_mark("digest_day")
        due = local.hour >= self._config.digest_hour
        if last is None:  # first start: the first digest is the next one due, not one now
            repo.set_alert_mark("digest_day", today if due else 0)
            return 0
        if not due or last >= today:
            return 0
        repo.set_alert_mark("digest_day", today)
        firing = [
            a
            for a in alerts
            if a.state == "firing"
            and self._digested(a, now)
            and not self.quiet(a, silences, inhibited, now)
        ]
        resolved = [a for a in alerts if a.state == "resolved" and self._digested(a, now)]
        if not firing and not resolved:
            return 0
        subject, body = digest_mail(
            firing, resolved, self._rules, self._words, self._config.public_url, now
        )
        queued = self._queue(repo, self.recipients(None), subject, body, now)
        repo.mark_notified([a.id for a in firing], "digest", now)
        repo.mark_notified([a.id for a in resolved], "resolved", now)
        return queued

    def _queue(
        self, repo: Repository, recipients: list[str], subject: str, body: str, now: int
    ) -> int:
        if not recipients:
            if not self._warned:
                log.warning("alerts to send but no recipients configured ([alerts] recipients)")
                self._warned = True
            return 0
        summary = self._words.text["subject_summary"]
        for recipient in recipients:
            repo.enqueue_mail(
                recipient, subject, body, now, self._config.max_mails_per_hour, summary
            )
        return len(recipients)
