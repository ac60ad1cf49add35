"""The collector's own health counters, rendered as Prometheus text for GET /metrics."""

from __future__ import annotations

import socket
import threading
from collections import Counter

# Where the collector files its own health as a series, for its rules (not mirrored to
# InfluxDB; forwarded to the shared targets when several collectors share a state).
OWN_SITE, OWN_HOST = "_vigie", "collector"


def own_host(shared: bool, port: int) -> str:
    """The host the collector files its own health under: OWN_HOST alone; with a shared
    state, this machine and port, so that each collector's health is its own series and
    alert (stable across restarts: a restarted collector resolves its own alert)."""
    return f"{socket.gethostname()}:{port}" if shared else OWN_HOST


class Telemetry:
    """Thread-safe counters and latency sums."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.query_seconds = 0.0
        self.query_count = 0

    def count_request(self, status: int) -> None:
        """One write request answered with `status`."""
        with self._lock:
            self.requests[str(status)] += 1

    def count_rejection(self, reason: str) -> None:
        """One refused write request, by bounded reason (auth, identity, syntax, limit...)."""
        with self._lock:
            self.rejected[reason] += 1

    def observe_query(self, seconds: float) -> None:
        """One query and how long it took."""
        with self._lock:
            self.query_seconds += seconds
            self.query_count += 1

    def render(
        self,
        gauges: dict[str, tuple[str, float]],
        counters: dict[str, tuple[str, float]] | None = None,
        labelled: dict[str, tuple[str, str, Counter[str]]] | None = None,
    ) -> str:
        """Prometheus text format: the counters here, then those given (name: (help, value)),
        counters by label (name: (help, label, counts)) and gauges."""
        out = [
            "# HELP vigie_write_requests_total Write requests by HTTP status.",
            "# TYPE vigie_write_requests_total counter",
        ]
        with self._lock:
            out += [
                f'vigie_write_requests_total{{status="{s}"}} {n}'
                for s, n in sorted(self.requests.items())
            ]
            out += [
                "# HELP vigie_rejected_batches_total Refused write requests by reason.",
                "# TYPE vigie_rejected_batches_total counter",
            ]
            out += [
                f'vigie_rejected_batches_total{{reason="{r}"}} {n}'
                for r, n in sorted(self.rejected.items())
            ]
            out += [
                "# HELP vigie_query_seconds Time spent answering /api/v1/query.",
                "# TYPE vigie_query_seconds summary",
                f"vigie_query_seconds_sum {self.query_seconds:.6f}",
                f"vigie_query_seconds_count {self.query_count}",
            ]
        for name, (text, label, counts) in sorted((labelled or {}).items()):
            out += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            out += [f'{name}{{{label}="{k}"}} {n}' for k, n in sorted(counts.items())]
        for kind, given in (("counter", counters or {}), ("gauge", gauges)):
            for name, (text, value) in sorted(given.items()):
                out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
        return "\n".join(out) + "\n"
