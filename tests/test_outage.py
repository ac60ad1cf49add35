"""Collector down, agent keeps collecting, collector back: every batch stored exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.services import (
    agent_config,
    assert_stored_once_without_gaps,
    post,
    run_collector,
    spool_depth,
    start_agent,
    stored_batches,
    wait_for,
)

pytestmark = pytest.mark.services  # every test here starts real processes


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


def test_a_wrong_token_for_three_cycles_then_fixed_loses_nothing(tmp_path: Path) -> None:
    """The technician enrolled the PC with a revoked token; the next day the token file is
    replaced (no restart): every point of the wrong-token cycles is stored, once."""
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "ecole-pc3")
        config = agent_config(tmp_path, collector.url, "vgt_revoked", "Privas", "ecole-pc3")
        agent = start_agent(config)
        try:
            spool = tmp_path / "spool.db"
            wait_for(lambda: spool.exists() and spool_depth(spool) >= 3, 30, "3 cycles", own=True)
            db = tmp_path / "collector" / "collector.db"
            assert stored_batches(db)[0] == [], "a refused batch was stored"
            (tmp_path / "agent.token").write_text(token + "\n")
            wait_for(lambda: spool_depth(tmp_path / "spool.db") == 0, 60, "the drain", own=True)
        finally:
            agent.terminate()
            output = agent.communicate(timeout=15)[0]
        assert_stored_once_without_gaps(collector, "ecole-pc3")
        # One actionable line (not one per retry) naming the URL, the token file and the fix.
        refusals = [line for line in output.splitlines() if "refuses this agent" in line]
        assert len(refusals) == 1, output[-3000:]
        assert collector.url in refusals[0] and "agent.token" in refusals[0]
        assert "vigie-agent enroll" in refusals[0]


def test_a_wrong_collector_path_is_named_with_the_paths_that_exist(tmp_path: Path) -> None:
    with run_collector(tmp_path / "collector") as collector:
        token = collector.token("Privas", "ecole-pc4")
        status, body = post(f"{collector.url}/vigie/write?db=x", b"cpu v=1", token)
        assert status == 404
        assert "/write and /api/v2/write" in body and "ending before /write" in body
