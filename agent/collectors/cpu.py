"""`cpu` (Telegraf names): usage percentages of the whole machine between two readings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agent.collectors.base import LogOnce, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)

# Telegraf's field for each psutil cpu_times attribute.
_FIELDS = {
    "user": "usage_user",
    "system": "usage_system",
    "idle": "usage_idle",
    "nice": "usage_nice",
    "iowait": "usage_iowait",
    "irq": "usage_irq",
    "softirq": "usage_softirq",
    "steal": "usage_steal",
    "guest": "usage_guest",
    "guest_nice": "usage_guest_nice",
    "interrupt": "usage_irq",  # Windows
    "dpc": "usage_softirq",  # Windows: deferred procedure calls are its soft interrupts
}


class CpuCollector:
    """CPU usage since the previous call; the first call measures over a short window."""

    name = "cpu"

    def __init__(
        self, psutil: Any, sleep: Callable[[float], None] = time.sleep, window: float = 0.25
    ) -> None:
        self._psutil = psutil
        self._sleep = sleep
        self._window = window
        self._previous: Any = None
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """One `cpu` point tagged cpu=cpu-total."""
        try:
            if self._previous is None:
                self._previous = self._psutil.cpu_times()
                self._sleep(self._window)
            current = self._psutil.cpu_times()
        except self._errors as err:
            self._log.warn("cpu_times", "cannot read CPU times: %s", err)
            return []
        before, self._previous = self._previous, current
        deltas = {
            name: max(0.0, getattr(current, name) - getattr(before, name))
            for name in current._fields
        }
        # Linux counts guest time inside user time too; do not count it twice in the total.
        total = sum(deltas.values()) - deltas.get("guest", 0.0) - deltas.get("guest_nice", 0.0)
        if total <= 0:
            return []
        fields: dict[str, float] = {}
        for name, delta in deltas.items():
            key = _FIELDS.get(name)
            if key:
                fields[key] = fields.get(key, 0.0) + round(100.0 * delta / total, 3)
        return [Point("cpu", {"cpu": "cpu-total"}, fields, now)]
