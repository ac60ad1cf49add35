"""Rendering alerts into mail text: summaries with forecasts in plain words, local dates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from collector.notify.facts import NO_FACTS, Device
from collector.notify.messages import MESSAGES
from collector.rules.model import Rule
from collector.state import AlertRow

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}  # the most urgent first


class _Labels(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


class Words:
    """The messages of one language and the local time zone."""

    def __init__(self, language: str, timezone: str) -> None:
        self.text = MESSAGES[language]
        self.zone = ZoneInfo(timezone)
        self.language = language

    def local(self, ts: int) -> datetime:
        """A Unix time in the local zone."""
        return datetime.fromtimestamp(ts, self.zone)

    def clock(self, ts: int) -> str:
        """ "14 h 05" / "14:05"."""
        moment = self.local(ts)
        return self.text["time"].format(hour=moment.hour, minute=moment.minute)

    def day(self, ts: int) -> str:
        """ "3 décembre" / "3 December"."""
        moment = self.local(ts)
        month = self.text["months"].split()[moment.month - 1]
        return self.text["date_short"].format(day=moment.day, month=month)

    def date(self, ts: int) -> str:
        """ "3 décembre 2026 à 14 h 05"."""
        moment = self.local(ts)
        month = self.text["months"].split()[moment.month - 1]
        return self.text["date"].format(
            day=moment.day, month=month, year=moment.year, time=self.clock(ts)
        )

    def eta(self, eta: int | None, now: int) -> str:
        """A forecast in plain words: "vers le 3 décembre, dans 5 jours"."""
        if eta is None or eta <= now:
            return self.text["eta_past"]
        hours = (eta - now) / 3600
        if hours < 36:
            return self.counted("eta_hours", max(1, round(hours)), time=self.clock(eta))
        return self.counted("eta_days", round(hours / 24), date=self.day(eta))

    def counted(self, key: str, n: int, **values: object) -> str:
        """A message whose words agree with `n` ("1 heure", "2 heures"; French singular up to
        1, English for 1 only): its text holds the singular and the plural, split by |."""
        one, many = self.text[key].split("|")
        singular = n <= 1 if self.language == "fr" else n == 1
        return (one if singular else many).format(n=n, **values)

    def number(self, value: float) -> str:
        """A reading as people of the language write it: "95", "1,5" / "1.5"."""
        return localized(value, self.language)

    def duration(self, seconds: float) -> str:
        """ "27 min", "3 h 05", "2 j 4 h" / "2 d 4 h"."""
        minutes = max(1, round(seconds / 60)) if seconds > 0 else 0
        if minutes < 60:
            return f"{minutes} min"
        hours, minutes = divmod(minutes, 60)
        if hours < 48:
            return f"{hours} h {minutes:02d}" if minutes else f"{hours} h"
        days, hours = divmod(hours, 24)
        day = self.text["day_unit"]
        return f"{days} {day} {hours} h" if hours else f"{days} {day}"

    def value(self, alert: AlertRow, rule: Rule | None) -> str:
        """The alert's value in words: a state ("sur batterie"), a silence ("silencieux depuis
        27 min"), or a number with its unit ("95 %")."""
        if rule is not None and rule.kind == "absence":
            return self.text["silent_for"].format(duration=self.duration(alert.value * 60))
        text = self.number(alert.value)
        if rule is None:
            return text
        state = rule.states.get(self.language, {}).get(number(alert.value))
        if state is not None:
            return self.text["state"].format(state=state, code=text)
        if rule.unit == "s":
            return self.reading(alert.value, rule)
        return f"{text} {rule.unit}" if rule.unit else text

    def reading(self, value: float, rule: Rule) -> str:
        """A rule's value as its summary says it: a time left in seconds (a certificate's
        expiry) in days and hours, anything else as a number."""
        return self.duration(value) if rule.unit == "s" else self.number(value)


def number(value: float) -> str:
    """A reading as people write it: no ".0", one decimal otherwise."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def localized(value: float, language: str) -> str:
    """`number` with the language's decimal mark: "1,5" in French, "1.5" in English."""
    text = number(value)
    return text.replace(".", ",") if language == "fr" else text


def summary(alert: AlertRow, rule: Rule | None, words: Words, now: int) -> str:
    """The alert's one-line text from its rule's template."""
    if rule is None:  # the rule was removed since the alert fired
        return f"{alert.rule} ({alert.host or alert.site})"
    template = rule.summary.get(words.language) or next(iter(rule.summary.values()))
    labels = _Labels(alert.labels)
    labels.update(value=words.reading(alert.value, rule), eta=words.eta(alert.eta, now))
    return template.format_map(labels)


def details(alert: AlertRow, rule: Rule | None, device: Device, words: Words) -> list[str]:
    """The lines under an alert's summary: since when (data time: the last data of a silent
    site), the value in words, the device's address and disk, and what to do."""
    t = words.text
    line = [t["since"].format(date=words.date(alert.since)), words.value(alert, rule)]
    where = [t["ip"].format(ip=device.ip)] if device.ip else []
    disk = device.disk_for(alert.labels)
    if disk is not None and (disk.model or disk.serial):
        where.append(t["disk"].format(model=disk.model or "?", serial=disk.serial or "?"))
    lines = [" — ".join(line)]
    if where:
        lines.append(" — ".join(where))
    action = rule.action.get(words.language, "") if rule else ""
    if action:
        lines.append(t["action"].format(action=action))
    return lines


def device_url(public_url: str, alert: AlertRow) -> str:
    """Where the technician sees the device (or the site)."""
    base = public_url.rstrip("/")
    if not base:
        return ""
    site = quote(alert.site, safe="")
    if alert.host:
        return f"{base}/sites/{site}/hosts/{quote(alert.host, safe='')}"
    return f"{base}/sites/{site}"


def site_mail(
    site: str,
    firing: Sequence[tuple[AlertRow, bool]],
    resolved: Sequence[AlertRow],
    rules: Mapping[str, Rule],
    words: Words,
    public_url: str,
    now: int,
    facts: Mapping[tuple[str, str], Device],
) -> tuple[str, str]:
    """(subject, body) of one site's mail: alerts firing (flagged when a reminder) with their
    details, then the ones that ended (their end only: the action is done)."""
    t = words.text
    lines = [t["intro"].format(site=site), ""]
    for alert, reminder in sorted(firing, key=lambda item: SEVERITY_ORDER.get(item[0].severity, 3)):
        rule = rules.get(alert.rule)
        text = summary(alert, rule, words, now)
        reminder_mark = f" {t['repeat']}" if reminder else ""
        lines.append(f"• [{t.get(alert.severity, alert.severity)}] {text}{reminder_mark}")
        device = facts.get((alert.site, alert.host), NO_FACTS)
        lines += ["  " + line for line in details(alert, rule, device, words)]
        url = device_url(public_url, alert)
        if url:
            lines.append("  " + t["link"].format(url=url))
    if resolved:
        lines += ["", t["ended"]]
        for alert in resolved:
            text = summary(alert, rules.get(alert.rule), words, now)
            ended = t["ended_at"].format(date=words.date(alert.resolved_at or now))
            lines.append(f"• {text} — {ended}")
    lines += ["", t["footer"]]
    if firing:
        severities = sorted({a.severity for a, _ in firing}, key=lambda s: SEVERITY_ORDER.get(s, 3))
        severity = t.get(severities[0], severities[0])
        if len(firing) == 1:
            what = summary(firing[0][0], rules.get(firing[0][0].rule), words, now)
            subject = t["subject_one"].format(severity=severity, site=site, what=what)
        else:
            subject = t["subject_many"].format(severity=severity, site=site, count=len(firing))
    else:
        subject = words.counted("subject_resolved", len(resolved), site=site)
    return subject, "\n".join(lines) + "\n"


def _soonest(alert: AlertRow) -> tuple[float, int]:
    """Forecasts by their crossing, the soonest first; then the oldest alerts."""
    return (alert.eta if alert.eta is not None else float("inf"), alert.since)


def _urgency(alerts: Sequence[AlertRow], site: str) -> tuple[float, int, str]:
    """A commune's place in the digest: its soonest crossing, then its count of alerts."""
    mine = [a for a in alerts if a.site == site]
    return (min(_soonest(a)[0] for a in mine), -len(mine), site)


def digest_mail(
    alerts: Sequence[AlertRow],
    resolved: Sequence[AlertRow],
    rules: Mapping[str, Rule],
    words: Words,
    public_url: str,
    now: int,
) -> tuple[str, str]:
    """(subject, body) of the daily digest of warnings, grouped by commune, the most urgent
    commune first (the soonest forecast crossing, then the most alerts)."""
    t = words.text
    lines = [t["intro_digest"], ""]
    for site in sorted({a.site for a in alerts}, key=lambda s: _urgency(alerts, s)):
        lines.append(f"{site} :" if words.language == "fr" else f"{site}:")
        for alert in sorted((a for a in alerts if a.site == site), key=_soonest):
            rule = rules.get(alert.rule)
            text = summary(alert, rule, words, now)
            since = t["since"].format(date=words.date(alert.since))
            lines.append(f"  • {text} — {since} — {words.value(alert, rule)}")
            url = device_url(public_url, alert)
            if url:
                lines.append("    " + t["link"].format(url=url))
        lines.append("")
    if resolved:
        lines.append(t["ended"])
        for alert in resolved:
            lines.append(f"  • {alert.site} — {summary(alert, rules.get(alert.rule), words, now)}")
        lines.append("")
    lines.append(t["footer"])
    subject = words.counted("subject_digest", len(alerts), date=words.day(now))
    return subject, "\n".join(lines) + "\n"
