"""The rule kinds as pure functions of a series' recent points: no clock, no I/O. Times are
the data's own timestamps, so history that arrives late is judged as if it came on time."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from collector.rules.model import Rule

# (timestamp, value); None where the rule's `require` does not hold for that sample.
Points = Sequence[tuple[int, float | None]]

OK, PENDING, FIRING = "ok", "pending", "firing"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule says about one series now."""

    state: str  # ok | pending | firing
    value: float  # the value shown in the alert
    since: int  # when the condition began (data time)
    at: int  # the newest data looked at
    eta: int | None = None  # forecast: when the level will be crossed


def threshold(rule: Rule, points: Points, firing: bool) -> Verdict:
    """Condition held for `for` seconds of data; a firing alert ends only past `clear`."""
    at, latest = points[-1]
    if firing:
        still = latest is not None and not rule.cleared(latest)
        return Verdict(FIRING if still else OK, latest or 0.0, at, at)
    start = None
    for ts, value in reversed(points):
        if value is None or not rule.condition(value):
            break
        start = ts
    if start is None:
        return Verdict(OK, latest or 0.0, at, at)
    return Verdict(FIRING if at - start >= rule.for_ else PENDING, latest or 0.0, start, at)


class Fit(NamedTuple):
    """A least-squares line: slope (per second), the fitted value at the last timestamp, and
    the slope's standard error (0 for points exactly on the line)."""

    slope: float
    current: float
    error: float

    def clear(self) -> bool:
        """Whether the slope stands out of the noise (t > 3): a flat but noisy series has a
        small slope of either sign that must not turn into a forecast."""
        return abs(self.slope) > 3 * self.error


def least_squares(points: Sequence[tuple[int, float]]) -> Fit:
    """The least-squares line through the points, at the last timestamp."""
    origin = points[-1][0]
    xs = [float(ts - origin) for ts, _ in points]
    ys = [v for _, v in points]
    n = len(points)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return Fit(0.0, mean_y, 0.0)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    current = mean_y - slope * mean_x  # at x = 0, the last timestamp
    if n < 3:
        return Fit(slope, current, 0.0)
    residues = sum((y - current - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, current, math.sqrt(residues / (n - 2) / sxx))


def _after_refill(points: list[tuple[int, float]], jump: float) -> list[tuple[int, float]]:
    for index in range(len(points) - 1, 0, -1):
        if points[index][1] - points[index - 1][1] >= jump:
            return points[index:]
    return points


def forecast(rule: Rule, points: Points) -> Verdict:
    """Prediction (rising towards `value`) or consumption (falling to `value`, 0 by default;
    a refill restarts the history): fire when the least-squares line crosses the level within
    `horizon`. A prediction is gated by the current level, so a noisy but safe series stays
    quiet; the slope must stand out of the noise; and the history must cover a quarter of the
    window, or half the time left before the crossing when that is shorter (a disk filling
    in hours is told after hours of history, not after a day)."""
    at = points[-1][0]
    known = [(ts, v) for ts, v in points if v is not None and ts >= at - rule.window]
    if rule.kind == "consumption":
        known = _after_refill(known, rule.refill)
    latest = known[-1][1] if known else 0.0
    quiet = Verdict(OK, latest, at, at)
    if len(known) < 6:
        return quiet
    fit = least_squares(known)
    rising = rule.kind == "prediction"
    if rising and rule.gate is not None and latest < rule.gate:
        return quiet
    if (rising and fit.slope <= 0) or (not rising and fit.slope >= 0) or not fit.clear():
        return quiet
    seconds = max(0.0, (rule.value - fit.current) / fit.slope)
    history = known[-1][0] - known[0][0]
    if seconds > rule.horizon or history < min(rule.window / 4, seconds / 2):
        return quiet
    return Verdict(FIRING, latest, at, at, eta=at + int(seconds))


def change(rule: Rule, points: Points) -> Verdict:
    """Within `window`: a counter that must not rise rose by `count` (rise), a value went down
    `count` times (reset: reboots), or changed `count` times (flap)."""
    at = points[-1][0]
    recent = [(ts, v) for ts, v in points if v is not None and ts >= at - rule.window]
    rise = resets = flaps = 0.0
    first: int | None = None
    for (_, before), (ts, after) in itertools.pairwise(recent):
        if after > before:
            rise += after - before
        elif after < before:
            resets += 1
        if after != before:
            flaps += 1
            first = ts if first is None else first
    measure = {"rise": rise, "reset": resets, "flap": flaps}[rule.mode]
    if measure >= rule.count and measure > 0:
        return Verdict(FIRING, measure, first or at, at)
    return Verdict(OK, measure, at, at)


def absence(rule: Rule, last_seen: int, now: int) -> Verdict:
    """Silent for `for` seconds of wall-clock time; the value is the silence in minutes."""
    silent = now - last_seen
    state = FIRING if silent >= rule.for_ else OK
    return Verdict(state, round(silent / 60), last_seen, now)
