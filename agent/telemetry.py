"""`vigie_agent`: the agent's own health (spool depth, oldest unsent age, errors, cost)."""

from __future__ import annotations

import os
from typing import Any

from agent import __version__
from agent.spool import Spool
from protocol.lineproto import Point


def rss_bytes(psutil: Any) -> int:
    """Resident memory of this process."""
    return int(psutil.Process(os.getpid()).memory_info().rss)


def agent_point(
    spool: Spool, send_errors: int, cycle_seconds: float, psutil: Any, now: int
) -> Point:
    """One `vigie_agent` point describing the agent itself."""
    stats = spool.stats()
    return Point(
        "vigie_agent",
        {"version": __version__},
        {
            "spool_batches": stats.batches,
            "spool_bytes": stats.bytes,
            "spool_held_batches": stats.held_batches,
            "spool_writable": not stats.write_error,
            "oldest_unsent_seconds": stats.oldest_age,
            "dropped_batches": stats.dropped_batches,
            "dropped_lines": stats.dropped_lines,
            "rejected_batches": spool.counter("rejected_batches"),
            "send_errors": send_errors,
            "cycle_seconds": round(cycle_seconds, 4),
            "rss_bytes": rss_bytes(psutil),
        },
        now,
    )
