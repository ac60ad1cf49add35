"""What the benchmarks share: realistic agent batches and a keep-alive HTTP load generator."""

from __future__ import annotations

import gzip
import http.client
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# Five minutes ago: the bench's batches (a few minutes of each agent) are current data, as a
# running fleet sends it, inside the collector's window (not replayed history, not ahead).
T0 = int(time.time()) // 60 * 60 - 300


def agent_batch(site: int, host: int, minute: int, rng: random.Random) -> str:
    """About 150 lines: what one workstation agent sends per minute."""
    ts = T0 + 60 * minute
    tags = f"host=pc{host:05d},site=commune{site:03d}"
    lines = [
        f"cpu,cpu=cpu-total,{tags} usage_user={rng.uniform(0, 30):.3f},usage_system="
        f"{rng.uniform(0, 10):.3f},usage_idle={rng.uniform(60, 100):.3f},usage_iowait=0.5 {ts}",
        f"mem,{tags} total=8589934592i,available={rng.randint(10**9, 8 * 10**9)}i,"
        f"used_percent={rng.uniform(10, 90):.2f} {ts}",
        f"system,{tags} load1={rng.random():.2f},load5=0.4,load15=0.3,uptime={ts - T0}i {ts}",
    ]
    for d in range(4):
        lines.append(
            f"disk,{tags},path=/d{d},device=sda{d},fstype=ext4 total=500000000000i,"
            f"used={rng.randint(10**9, 4 * 10**11)}i,used_percent={rng.uniform(5, 95):.2f} {ts}"
        )
    for n in range(3):
        lines.append(
            f"net,{tags},interface=eth{n} bytes_recv={rng.randint(0, 10**12)}i,"
            f"bytes_sent={rng.randint(0, 10**12)}i,err_in=0i,err_out=0i {ts}"
        )
    while len(lines) < 150:
        i = len(lines)
        lines.append(
            f"smart_attribute,{tags},device=sda,id={i},name=Attr_{i} raw_value={i}i,"
            f"value=100i,worst=100i,threshold=10i {ts}"
        )
    return "\n".join(lines) + "\n"


def make_batches(count: int, hosts: int = 5000, seed: int = 1) -> list[bytes]:
    """`count` gzip batches from `hosts` hosts in 500 sites, in time order."""
    rng = random.Random(seed)
    return [
        gzip.compress(agent_batch(i % hosts % 500, i % hosts, i // hosts, rng).encode(), 1)
        for i in range(count)
    ]


@dataclass
class LoadResult:
    """What a load run measured."""

    requests: int
    lines: int
    seconds: float
    errors: int
    latencies: list[float]

    @property
    def lines_per_second(self) -> float:
        """Acknowledged lines per second."""
        return self.lines / self.seconds

    def percentile(self, p: float) -> float:
        """A latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def post_all(
    url: str, path: str, bodies: Sequence[bytes], headers: dict[str, str], workers: int = 4
) -> LoadResult:
    """POST every body once over `workers` keep-alive connections; count 2xx answers."""
    parts = urlsplit(url)
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": 0}
    latencies: list[float] = []

    def work() -> None:
        address = (parts.hostname or "127.0.0.1", parts.port)
        conn = http.client.HTTPConnection(*address, timeout=60)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(bodies):
                break
            started = time.perf_counter()
            for _ in range(3):  # a connection a proxy closed: counted, sent again on a new one
                try:
                    conn.request("POST", path, body=bodies[i], headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection(*address, timeout=60)
                    status = 0
                    with lock:
                        state["errors"] += 1
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                state["ok" if 200 <= status < 300 else "errors"] += 1
        conn.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return LoadResult(state["ok"], state["ok"] * 150, seconds, state["errors"], latencies)
