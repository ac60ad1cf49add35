"""SIGKILL, again and again: the collector under many senders, the agent mid-send and the
spool mid-write. Every acknowledged batch is stored exactly once; no spool is corrupted."""

from __future__ import annotations

import gzip
import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from agent.config import CollectorLink
from agent.sender import Forwarder, Sender
from agent.spool import Spool
from tests.services import (
    agent_config,
    get_json,
    indexer_pids,
    none_alive,
    run_collector,
    spool_depth,
    start_agent,
    stored_batches,
    wait_for,
)

AGENTS = 20
KILLS = 5

pytestmark = pytest.mark.services  # every test here starts real processes

BASE = int(time.time()) - 86400  # points a day old: inside the collector's window


class SimulatedAgent(threading.Thread):
    """The agent's own spool and forwarder, fed with numbered points of one host."""

    def __init__(self, spool: Path, url: str, token: str, host: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.host = host
        self.spool = Spool(spool)
        self.forwarder = Forwarder(
            self.spool, Sender(CollectorLink(url, timeout=5), token), base_delay=0.2, max_delay=1
        )
        self.stop = stop
        self.points = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                start = self.points
                self.points += 50
                self.spool.put(
                    [f"load,host={self.host} n={i}i {BASE + i}" for i in range(start, start + 50)]
                )
                self.forwarder.drain(budget_seconds=1)
                time.sleep(0.05)
            while self.spool.stats().batches:  # drain what is left
                self.forwarder.drain(budget_seconds=1)
                time.sleep(0.1)
        except BaseException as err:  # reported by the test, not lost in a thread
            self.error = err


def test_collector_killed_repeatedly_under_many_agents_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "poller", role="poller")
        stop = threading.Event()
        agents = [
            SimulatedAgent(tmp_path / f"spool{i}.db", collector.url, token, f"pc{i}", stop)
            for i in range(AGENTS)
        ]
        for agent in agents:
            agent.start()
        rng = random.Random(7)
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.5, 3))
            assert collector.proc is not None
            indexers = indexer_pids(collector.proc.pid)
            assert indexers, "the collector runs its index process"
            assert collector.stop(signal.SIGKILL) == -signal.SIGKILL
            # A loop left behind would index alongside the next collector's.
            wait_for(partial(none_alive, indexers), 10, "the index process to die too")
            time.sleep(rng.uniform(0.2, 1.5))
            collector.start()
        time.sleep(2)
        stop.set()
        for agent in agents:
            agent.join(120)
            assert agent.error is None, agent.error
            assert not agent.is_alive(), f"{agent.host} did not drain its spool"
        wait_for(
            lambda: get_json(collector.url + "/healthz", "")["index_backlog"] == 0, 60, "indexing"
        )
        db = sqlite3.connect(f"file:{tmp_path}/collector/collector.db?mode=ro", uri=True)
        keys = db.execute("SELECT key FROM batch_key").fetchall()
        logged = db.execute("SELECT count(*) FROM ingest_log WHERE site='Privas'").fetchone()[0]
        db.close()
        assert len(keys) == logged, "a batch was stored twice"
        for agent in agents:
            seqs = sorted(
                int(k.rsplit(":", 1)[1])
                for (k,) in keys  # scoped to the sender: site/host/batch
                if k.startswith(f"Privas/poller/{agent.spool.agent_id}:")
            )
            assert seqs == list(range(1, agent.points // 50 + 1)), f"{agent.host} lost a batch"
        db = sqlite3.connect(f"file:{tmp_path}/collector/collector.db?mode=ro", uri=True)
        for agent in agents:
            values = [
                json.loads(fields)["n"]
                for (fields,) in db.execute(
                    "SELECT fields FROM sample JOIN series ON series.id = sample.series_id "
                    "WHERE series.host = ? AND series.measurement = 'load' ORDER BY ts",
                    (agent.host,),
                )
            ]
            assert values == list(range(agent.points)), f"{agent.host}: points lost"
        db.close()


SPOOL_WRITER = """
import sys
from pathlib import Path
from agent.spool import Spool

spool = Spool(Path(sys.argv[1]))
n = int(sys.argv[2])
while True:
    spool.put([f"m v={i}i {i}" for i in range(n, n + 3000)])
    n += 3000
    print(n, flush=True)
"""


def spooled_lines(path: Path) -> list[int]:
    spool = Spool(path)
    try:
        values: list[int] = []
        for batch in spool.pending(limit=100_000):
            lines = gzip.decompress(batch.body).decode().splitlines()
            assert len(lines) == batch.lines
            values.extend(int(line.split("=")[1].split("i")[0]) for line in lines)
        return values
    finally:
        spool.close()


def test_spool_killed_mid_write_keeps_every_committed_batch_whole(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    rng = random.Random(3)
    committed = 0
    for _ in range(10):
        writer = subprocess.Popen(
            [sys.executable, "-c", SPOOL_WRITER, str(path), str(committed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        reported = int(writer.stdout.readline())  # at least one batch is in
        time.sleep(rng.uniform(0.05, 0.4))
        writer.send_signal(signal.SIGKILL)
        rest = writer.communicate()[0].split()
        reported = int(rest[-1]) if rest else reported
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        values = spooled_lines(path)
        # Whole batches, in order, with no hole and no duplicate; nothing reported is missing.
        assert values == list(range(len(values)))
        assert len(values) % 3000 == 0 and len(values) >= reported
        committed = len(values)
    assert committed >= 10 * 3000


def test_agent_killed_mid_send_stores_every_batch_once(tmp_path: Path) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "pc")
        config = agent_config(tmp_path, collector.url, token, "Privas", "pc")
        rng = random.Random(5)
        for _ in range(6):
            agent = start_agent(config)
            time.sleep(rng.uniform(1.5, 4))
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
        agent = start_agent(config)
        try:
            time.sleep(3)
            wait_for(lambda: spool_depth(tmp_path / "spool.db") == 0, 60, "the drain", own=True)
        finally:
            agent.terminate()
            agent.wait(15)
        spool = sqlite3.connect(tmp_path / "spool.db")
        assert spool.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        spool.close()
        seqs, logged = stored_batches(tmp_path / "collector" / "collector.db")
        assert len(seqs) >= 7
        assert seqs == list(range(1, len(seqs) + 1)), "a batch is missing"
        assert logged == len(seqs), "a batch was stored twice"
