"""Collector down, agent keeps collecting, collector back: every batch stored exactly once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.services import (
    agent_config,
    assert_stored_once_without_gaps,
    run_collector,
    spool_depth,
    start_agent,
    stored_batches,
    wait_for,
)


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
            assert spool_depth(tmp_path / "spool.db") >= 4, "the agent did not spool"
            collector.start()
            wait_for(lambda: spool_depth(tmp_path / "spool.db") == 0, 60, "the drain", own=True)
        finally:
            agent.terminate()
            agent.wait(15)
        assert_stored_once_without_gaps(collector, "ecole-pc2")
