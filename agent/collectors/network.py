"""`net` per interface (Telegraf names): raw byte, packet, error and drop counters."""

from __future__ import annotations

import logging
from typing import Any

from agent.collectors.base import LogOnce, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)

SKIP_INTERFACE_PREFIXES = ("lo", "veth", "docker", "virbr", "br-")


class NetCollector:
    """Counters of each physical-looking interface (loopback and container links left out)."""

    name = "net"

    def __init__(self, psutil: Any) -> None:
        self._psutil = psutil
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """One `net` point per interface."""
        try:
            counters = self._psutil.net_io_counters(pernic=True)
        except self._errors as err:
            self._log.warn("net", "cannot read network counters: %s", err)
            return []
        return [
            Point(
                "net",
                {"interface": name},
                {
                    "bytes_sent": int(c.bytes_sent),
                    "bytes_recv": int(c.bytes_recv),
                    "packets_sent": int(c.packets_sent),
                    "packets_recv": int(c.packets_recv),
                    "err_in": int(c.errin),
                    "err_out": int(c.errout),
                    "drop_in": int(c.dropin),
                    "drop_out": int(c.dropout),
                },
                now,
            )
            for name, c in sorted(counters.items())
            if not name.startswith(SKIP_INTERFACE_PREFIXES)
            and name != "Loopback Pseudo-Interface 1"
        ]
