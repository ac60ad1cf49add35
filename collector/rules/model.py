"""Rules as frozen records, and the durations they are written with ("30m", "7d")."""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

KINDS = ("threshold", "absence", "prediction", "consumption", "change")
SEVERITIES = ("critical", "warning", "info")
CHANGE_MODES = ("rise", "reset", "flap")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: object) -> int:
    """Seconds from "90s", "30m", "6h", "7d", "2w" or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30m"')
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        found = _DURATION.match(value.strip())
        if found:
            return int(float(found.group(1)) * _UNITS[found.group(2)])
    raise ValueError(f'expected a duration such as "30m" or "7d", got {value!r}')


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule. Which parameters matter depends on `kind` (see docs/alerts.md)."""

    name: str
    kind: str
    severity: str
    measurement: str
    field: str = ""
    where: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict
    )  # tag -> allowed values
    require: Mapping[str, float] = dataclasses.field(
        default_factory=dict
    )  # other field -> value it must have
    op: str = ">"
    value: float = 0.0  # threshold: the level; prediction: the level whose crossing is forecast
    clear: float | None = None  # hysteresis: the level that ends a firing threshold alert
    for_: int = 0  # seconds the condition must hold (on the data's timestamps)
    keep_firing_for: int = 0  # hold-down after the condition ends, against flapping
    window: int = 3600  # prediction/consumption/change: how far back to look
    horizon: int = 0  # prediction/consumption: fire when the crossing is nearer than this
    gate: float | None = None  # prediction: only when the current value is past this level
    mode: str = "rise"  # change: rise | reset | flap
    count: int = 1  # change: resets or flaps needed; rise: minimum increase
    scope: str = "host"  # absence: host | site
    inhibits: str = ""  # "site": while firing, other alerts of the site stay quiet
    refill: float = 10.0  # consumption: a jump up by this much is a refill (history restarts)
    summary: Mapping[str, str] = dataclasses.field(default_factory=dict)  # language -> template
    unit: str = ""  # of the value: "%", "°C", "min", "V"
    # language -> value -> word, for fields that hold a state code (5 -> "sur batterie")
    states: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    action: Mapping[str, str] = dataclasses.field(default_factory=dict)  # language -> what to do
    line: int = 0  # where the rule starts in its file, for error messages

    def condition(self, value: float) -> bool:
        """Whether a value meets the rule's condition."""
        return OPERATORS[self.op](value, self.value)

    def cleared(self, value: float) -> bool:
        """Whether a value ends a firing alert (past the clear level, or no longer meeting the
        condition when no clear level is set)."""
        if self.clear is None:
            return not self.condition(value)
        if self.op in (">", ">="):
            return value < self.clear
        if self.op in ("<", "<="):
            return value > self.clear
        return not self.condition(value)

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Whether a series' tags pass the rule's `where` filter."""
        return all(tags.get(k) in allowed for k, allowed in self.where.items())


@dataclass(frozen=True, slots=True)
class Override:
    """A site's or host's change to one rule: disable it or change parameters."""

    rule: str
    site: str | None = None
    host: str | None = None
    enabled: bool = True
    changes: Mapping[str, object] = dataclasses.field(default_factory=dict)
    line: int = 0

    def applies(self, site: str, host: str) -> bool:
        """Whether this override covers the host."""
        return self.site in (None, site) and self.host in (None, host)

    @property
    def specificity(self) -> int:
        """Host overrides win over site overrides, which win over global ones."""
        return (self.site is not None) + 2 * (self.host is not None)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules in force and their overrides."""

    rules: tuple[Rule, ...]
    overrides: tuple[Override, ...] = ()
