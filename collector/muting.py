"""Why an alert sends no mail: silences and maintenance windows, inhibition by a site cut off,
acknowledgement. One place for the notifier, the API and the pages alike, and the one
validation of a new silence (each caller turns SilenceError into its own 400)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collector.rules.model import Rule
from collector.state import AlertRow, NewSilence, Silence

MAX_COMMENT = 500


class SilenceError(ValueError):
    """A silence that cannot be set as asked; the message says what to change."""


def new_silence(
    scope: Mapping[str, object], starts: int, ends: int, comment: str, now: int
) -> NewSilence:
    """Check a silence asked for by `scope` (site, host, rule: None or "" for any)."""
    named: list[str | None] = []
    for key in ("site", "host", "rule"):
        value = scope.get(key) or None
        if value is not None and not isinstance(value, str):
            raise SilenceError("site, host and rule must be strings")
        named.append(value)
    if not any(named):
        raise SilenceError("a silence needs at least one of site, host, rule")
    if ends <= starts:
        raise SilenceError("a silence must end after it starts")
    kind = "maintenance" if starts > now else "silence"
    site, host, rule = named
    return NewSilence(site, host, rule, starts, ends, comment[:MAX_COMMENT], kind)


def inhibited_sites(alerts: Iterable[AlertRow], rules: Mapping[str, Rule]) -> set[str]:
    """Sites cut off: an alert of an inhibiting rule is firing there."""
    return {
        a.site
        for a in alerts
        if a.state == "firing" and (rule := rules.get(a.rule)) and rule.inhibits == "site"
    }


def quiet(
    alert: AlertRow,
    silences: list[Silence],
    inhibited: set[str],
    rules: Mapping[str, Rule],
    now: int,
) -> str:
    """Why an alert sends no mail now ("" when it may): silenced, inhibited, acknowledged."""
    if any(s.covers(alert, now) for s in silences):
        return "silenced"
    rule = rules.get(alert.rule)
    if alert.site in inhibited and not (rule and rule.inhibits):
        return "inhibited"
    if alert.acked_at is not None:
        return "acknowledged"
    return ""
