"""Collector down, agent keeps collecting, collector back: every batch stored exactly once."""

from __future__ import annotations

import itertools
import sqlite3
import time
from pathlib import Path

from tests.services import agent_config, get_json, run_collector, start_agent, stored_batches


def test_outage_then_recovery_stores_every_batch_once(tmp_path: Path) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "ecole-pc2")
        config = agent_config(tmp_path, collector.url, token, "Privas", "ecole-pc2")
        agent = start_agent(config)
        try:
            db = tmp_path / "collector" / "collector.db"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(stored_batches(db)[0]) < 3:
                time.sleep(0.3)
            assert collector.stop() == 0
            time.sleep(6)  # the agent keeps collecting into its spool
            spool = sqlite3.connect(tmp_path / "spool.db")
            waiting = spool.execute("SELECT count(*) FROM batch").fetchone()[0]
            spool.close()
            assert waiting >= 4, "the agent did not spool during the outage"
            collector.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                spool = sqlite3.connect(tmp_path / "spool.db")
                left = spool.execute("SELECT count(*) FROM batch").fetchone()[0]
                spool.close()
                if left == 0:
                    break
                time.sleep(0.5)
            assert left == 0, "the spool did not drain after the collector came back"
        finally:
            agent.terminate()
            agent.wait(15)
        seqs, logged = stored_batches(db)
        assert seqs == list(range(1, len(seqs) + 1)), "a batch is missing"
        assert logged == len(seqs), "a batch was stored twice"
        reader = collector.token("", "", role="reader")
        series = get_json(
            f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle&host=ecole-pc2"
            f"&start={int(time.time()) - 300}",
            reader,
        )["series"]
        stamps = [ts for ts, _ in series[0]["points"]]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert max(gaps) <= 3, f"points lost during the outage: gaps {gaps}"
