"""`system` (load, uptime, users, CPUs), `kernel` (boot time, so reboots show) and `processes`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from agent.collectors.base import LogOnce, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)


class SystemCollector:
    """Load averages, uptime, logged-in users, CPU count and boot time."""

    name = "system"

    def __init__(self, psutil: Any) -> None:
        self._psutil = psutil
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)
        # psutil without getloadavg (older than 5.6.2) raises AttributeError.
        self._load_errors: tuple[type[Exception], ...] = (*self._errors, AttributeError)

    def collect(self, now: int) -> list[Point]:
        """A `system` point and a `kernel` point."""
        ps = self._psutil
        fields: dict[str, int | float] = {"n_cpus": int(ps.cpu_count() or 0)}
        try:
            boot = int(ps.boot_time())
        except self._errors as err:
            self._log.warn("boot", "cannot read boot time: %s", err)
            boot = 0
        if boot:
            fields["uptime"] = max(0, now - boot)
        try:
            load1, load5, load15 = ps.getloadavg()
            fields.update(load1=round(load1, 2), load5=round(load5, 2), load15=round(load15, 2))
        except self._load_errors as err:
            self._log.warn("load", "cannot read load average: %s", err)
        try:
            fields["n_users"] = len({u.name for u in ps.users()})
        except self._errors as err:
            self._log.warn("users", "cannot read logged-in users: %s", err)
        points = [Point("system", {}, fields, now)]
        kernel: dict[str, int] = {"boot_time": boot} if boot else {}
        try:
            stats = ps.cpu_stats()
            kernel.update(
                context_switches=int(stats.ctx_switches), interrupts=int(stats.interrupts)
            )
        except self._errors as err:
            self._log.warn("cpu_stats", "cannot read CPU statistics: %s", err)
        if kernel:
            points.append(Point("kernel", {}, kernel, now))
        return points


class ProcessesCollector:
    """Process counts without a per-process scan: on Linux from /proc/stat, /proc/loadavg and
    the /proc listing; elsewhere the PID count only."""

    name = "processes"

    def __init__(self, psutil: Any, proc_root: Path = Path("/proc")) -> None:
        self._psutil = psutil
        self._proc = proc_root
        self._linux = (proc_root / "stat").exists()
        self._log = LogOnce(log)
        self._count_errors: tuple[type[Exception], ...] = (
            *reading_errors(psutil),
            ValueError,
            IndexError,
        )

    def collect(self, now: int) -> list[Point]:
        """One `processes` point."""
        fields: dict[str, int] = {}
        try:
            if self._linux:
                fields["total"] = sum(1 for name in os.listdir(self._proc) if name.isdigit())
                for line in (self._proc / "stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "procs_running":
                        fields["running"] = int(value)
                    elif key == "procs_blocked":
                        fields["blocked"] = int(value)
                entities = (self._proc / "loadavg").read_text().split()[3]
                fields["total_threads"] = int(entities.split("/")[1])
            else:
                fields["total"] = len(self._psutil.pids())
        except self._count_errors as err:
            self._log.warn("processes", "cannot count processes: %s", err)
        return [Point("processes", {}, fields, now)] if fields else []
