"""The agent's store-and-forward: order, bounds, persistence, backoff, 4xx vs 5xx."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from agent.config import CollectorLink
from agent.sender import Forwarder, Outcome, Sender, TokenFile, fix_for
from agent.spool import MAX_LINES_PER_BATCH, Spool


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lines(n: int, start: int = 0) -> list[str]:
    return [f"cpu,host=pc usage_idle={i}i {1_800_000_000 + i}" for i in range(start, start + n)]


def test_batches_are_split_kept_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    assert spool.put(lines(MAX_LINES_PER_BATCH + 10)) == 2
    spool.put(lines(3, start=100))
    agent_id = spool.agent_id
    spool.close()
    reopened = Spool(tmp_path / "spool.db")
    assert reopened.agent_id == agent_id
    batches = list(reopened.pending())
    assert [b.lines for b in batches] == [MAX_LINES_PER_BATCH, 10, 3]
    assert [b.seq for b in batches] == sorted(b.seq for b in batches)
    first = gzip.decompress(batches[0].body).decode().splitlines()
    assert first[0] == lines(1)[0]


def test_age_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path / "spool.db", max_age_seconds=3600, clock=clock)
    spool.put(lines(5))
    clock.now += 1800
    spool.put(lines(7))
    clock.now += 2000  # the first batch is now 3800 s old
    spool.put(lines(1))
    stats = spool.stats()
    assert stats.batches == 2 and stats.dropped_batches == 1 and stats.dropped_lines == 5
    assert stats.oldest_age == 2000


def test_size_bound_drops_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10_000)
    import random

    rng = random.Random(1)
    for i in range(30):  # incompressible-ish lines so the size grows
        spool.put([f"m,host=pc v={rng.random()} {i}" for _ in range(100)])
    stats = spool.stats()
    assert stats.bytes <= 10_000
    assert stats.dropped_batches > 0
    remaining = [b.seq for b in spool.pending(limit=1000)]
    assert remaining == list(range(31 - len(remaining), 31))  # the newest ones stayed


class Recorder(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.statuses.pop(0) if self.statuses else 204
        self.received.append((self.path, self.headers.get("X-Vigie-Batch", ""), body))
        self.send_response(status)
        self.end_headers()
        if status != 204:
            self.wfile.write(b'{"error": "test"}')

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A collector stand-in on loopback answering with `handler`; its URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()


def spool_of_five(tmp_path: Path) -> Spool:
    """A spool holding five batches, sequence numbers 1 to 5."""
    spool = Spool(tmp_path / "spool.db")
    for i in range(5):
        spool.put(lines(2, start=i * 10))
    return spool


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("H", (Recorder,), {"statuses": [], "received": []})
    with serving(handler) as url:
        yield url, handler


def test_forwarder_retries_5xx_with_backoff_and_drops_4xx(
    tmp_path: Path, server: tuple[str, type[Recorder]]
) -> None:
    url, handler = server
    clock = Clock(0)
    spool = Spool(tmp_path / "spool.db")
    for i in range(3):
        spool.put(lines(2, start=i * 10))
    forwarder = Forwarder(spool, Sender(CollectorLink(url=url), "tok"), clock=clock)
    handler.statuses[:] = [503]
    assert forwarder.drain() == 0  # 503: stop and back off
    assert spool.stats().batches == 3 and forwarder.send_errors == 1
    assert forwarder.drain() == 0 and len(handler.received) == 1  # still backing off
    clock.now += 301
    handler.statuses[:] = [400]
    assert forwarder.drain() == 2  # first batch refused for good, the other two stored
    assert spool.stats().batches == 0 and spool.counter("rejected_batches") == 1
    keys = [key for _, key, _ in handler.received]
    assert keys[0] == keys[1]  # the retried batch kept its idempotency key
    assert [int(k.split(":")[1]) for k in keys[1:]] == [1, 2, 3]


def test_plain_http_to_a_remote_collector_is_refused() -> None:
    with pytest.raises(ValueError, match="refusing plain HTTP"):
        Sender(CollectorLink(url="http://vigie.example.org"), "tok")
    Sender(CollectorLink(url="http://vigie.example.org", allow_insecure_http=True), "tok")
    Sender(CollectorLink(url="http://127.0.0.1:8080"), "tok")


def test_unreachable_collector_is_a_retry(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spool = Spool(tmp_path / "spool.db")
    spool.put(lines(1))
    sender = Sender(CollectorLink(url=f"http://127.0.0.1:{port}", timeout=2), "tok")
    result = sender.send(next(iter(spool.pending())), spool.agent_id)
    assert result.outcome is Outcome.RETRY


def test_hours_of_outage_back_off_then_drain_in_order(
    tmp_path: Path, server: tuple[str, type[Recorder]]
) -> None:
    """Six simulated hours of 503s: retries slow down to one every few minutes (no storm, no
    giving up); once the collector answers, everything drains in order within one retry."""
    url, handler = server
    clock = Clock(0)
    spool = Spool(tmp_path / "spool.db", clock=clock)
    forwarder = Forwarder(spool, Sender(CollectorLink(url=url), "tok"), clock=clock)
    handler.statuses[:] = [503] * 10_000
    for tick in range(6 * 3600 // 5):  # the agent's send tick, every 5 s
        clock.now = tick * 5
        if tick % 12 == 0:
            spool.put(lines(1, start=tick))
        forwarder.drain()
    attempts = len(handler.received)
    assert 6 * 3600 / 450 <= attempts <= 6 * 3600 / 150 + 20, attempts
    assert spool.stats().batches == 360
    handler.statuses[:] = []
    handler.received[:] = []
    back = clock.now
    while spool.stats().batches and clock.now < back + 450:
        clock.now += 5
        forwarder.drain()
    assert spool.stats().batches == 0, "the spool did not drain within one retry period"
    seqs = [int(key.split(":")[1]) for _, key, _ in handler.received]
    assert seqs == list(range(1, 361))


@pytest.mark.parametrize("server_drops_kept_connections", [False, True])
def test_a_drain_sends_over_one_connection_and_survives_one_dropped_by_the_collector(
    tmp_path: Path, server_drops_kept_connections: bool
) -> None:
    peers: list[int] = []

    class KeepAlive(Recorder):
        protocol_version = "HTTP/1.1"
        statuses: ClassVar[list[int]] = []
        received: ClassVar[list[tuple[str, str, bytes]]] = []

        def setup(self) -> None:
            super().setup()
            peers.append(self.client_address[1])

        def do_POST(self) -> None:
            super().do_POST()
            # Closed without a "Connection: close": what a collector restarting, or timing
            # an idle connection out, looks like from the agent's side.
            self.close_connection = server_drops_kept_connections

    spool = spool_of_five(tmp_path)
    with serving(KeepAlive) as url:
        forwarder = Forwarder(spool, Sender(CollectorLink(url=url), "tok"))
        assert forwarder.drain() == 5
    assert forwarder.send_errors == 0 and spool.stats().batches == 0
    keys = [int(key.split(":")[1]) for _, key, _ in KeepAlive.received]
    assert keys == [1, 2, 3, 4, 5]  # each batch once, in order
    assert len(peers) == (5 if server_drops_kept_connections else 1)


def test_a_drain_stops_between_batches_when_the_agent_stops(tmp_path: Path) -> None:
    stop = threading.Event()

    class StopsTheAgent(Recorder):
        statuses: ClassVar[list[int]] = []
        received: ClassVar[list[tuple[str, str, bytes]]] = []

        def do_POST(self) -> None:
            super().do_POST()
            stop.set()  # SIGTERM arrives while the first batch is being sent

    spool = spool_of_five(tmp_path)
    with serving(StopsTheAgent) as url:
        assert Forwarder(spool, Sender(CollectorLink(url=url), "tok")).drain(stop=stop) == 1
    assert [b.seq for b in spool.pending()] == [2, 3, 4, 5]  # kept for the next start


def test_a_spool_that_cannot_be_opened_says_what_to_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"cannot open the spool .*file/spool\.db.*check spool\.path"):
        Spool(tmp_path / "file" / "spool.db")
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(OSError, match=r"cannot open the spool .*garbage\.db"):
        Spool(tmp_path / "garbage.db")


def test_configuration_errors_keep_every_batch_and_back_off_to_an_hour(
    tmp_path: Path, server: tuple[str, type[Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = server
    clock = Clock(0)
    spool = Spool(tmp_path / "spool.db", clock=clock)
    token = tmp_path / "agent.token"
    token.write_text("vgt_wrong\n")
    link = CollectorLink(url=url, token_file=token)
    forwarder = Forwarder(spool, Sender(link, TokenFile(token)), clock=clock)
    handler.statuses[:] = [401] * 10_000
    for tick in range(24 * 3600 // 5):  # a day of send ticks with a revoked token
        clock.now = tick * 5
        if tick % 12 == 0:
            spool.put(lines(1, start=tick))
        forwarder.drain()
    assert spool.stats().batches == 24 * 3600 // 60  # every batch kept
    # Doubling from 2 s to an hour (11 tries), then hourly: never a storm, never giving up.
    assert 24 <= len(handler.received) <= 11 + 27, len(handler.received)
    refusals = [r for r in caplog.records if "refuses this agent" in r.getMessage()]
    assert 20 <= len(refusals) <= 30  # about one line an hour, not one per retry
    assert url in refusals[0].getMessage() and str(token) in refusals[0].getMessage()
    handler.statuses[:] = []
    token.write_text("vgt_fixed\n")  # the fix: the next tick tries at once
    clock.now += 5
    forwarder.drain(budget_seconds=1e9)
    assert spool.stats().batches == 0
    assert handler.received[-1][0].startswith("/write")


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (401, "vigie-agent enroll"),
        (403, "agent.site and agent.host"),
        (404, "ending before /write"),
        (407, "connects directly"),
    ],
)
def test_each_refusal_says_what_to_fix(status: int, fix: str) -> None:
    link = CollectorLink(url="https://vigie:8443/write", token_file=Path("/etc/vigie/agent.token"))
    assert fix in fix_for(status, link)


def test_a_batch_too_large_is_split_and_a_bad_line_dropped(
    tmp_path: Path, server: tuple[str, type[Recorder]]
) -> None:
    url, handler = server
    spool = Spool(tmp_path / "spool.db")
    spool.put(lines(4))
    spool.put(lines(1, start=100))
    handler.statuses[:] = [413]
    forwarder = Forwarder(spool, Sender(CollectorLink(url=url), "tok"))
    assert forwarder.drain() == 3
    sizes = [len(gzip.decompress(body).splitlines()) for _, _, body in handler.received]
    assert sizes == [4, 1, 2, 2]  # refused whole, the next batch, then the two halves
    handler.statuses[:] = [400]
    spool.put(lines(1, start=200))
    assert forwarder.drain() == 0
    assert spool.stats().batches == 0 and spool.counter("rejected_batches") == 1
