"""`mem` and `swap` (Telegraf names), in bytes."""

from __future__ import annotations

import logging
from typing import Any

from agent.collectors.base import LogOnce, percent, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)

# psutil attribute -> Telegraf field, for the ones present on the platform.
_MEM_EXTRA = {
    "active": "active",
    "inactive": "inactive",
    "buffers": "buffered",
    "cached": "cached",
    "shared": "shared",
    "slab": "slab",
    "wired": "wired",
}


class MemoryCollector:
    """Physical memory and swap; each of the two readings fails alone."""

    name = "memory"

    def __init__(self, psutil: Any) -> None:
        self._psutil = psutil
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """A `mem` point and a `swap` point."""
        points: list[Point] = []
        try:
            vm = self._psutil.virtual_memory()
        except self._errors as err:
            self._log.warn("mem", "cannot read memory: %s", err)
        else:
            fields: dict[str, int | float] = {
                "total": int(vm.total),
                "available": int(vm.available),
                "used": int(vm.used),
                "free": int(vm.free),
                "available_percent": round(percent(vm.available, vm.total), 3),
                "used_percent": round(percent(vm.total - vm.available, vm.total), 3),
            }
            for attr, key in _MEM_EXTRA.items():
                if hasattr(vm, attr):
                    fields[key] = int(getattr(vm, attr))
            points.append(Point("mem", {}, fields, now))
        try:
            sw = self._psutil.swap_memory()
        except self._errors as err:
            # psutil raises RuntimeError on Windows when the pagefile cannot be read.
            self._log.warn("swap", "cannot read swap: %s", err)
        else:
            points.append(
                Point(
                    "swap",
                    {},
                    {
                        "total": int(sw.total),
                        "used": int(sw.used),
                        "free": int(sw.free),
                        "used_percent": round(percent(sw.used, sw.total), 3),
                        "in": int(sw.sin),
                        "out": int(sw.sout),
                    },
                    now,
                )
            )
        return points
