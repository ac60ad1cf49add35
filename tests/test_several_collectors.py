"""Two identical collectors behind HAProxy, sharing their state in one PostgreSQL and both
forwarding to one VictoriaMetrics: a real agent keeps reporting through the loss of one collector
(SIGKILL) and its return, every reading it took is in VictoriaMetrics exactly once, and the
alerting lease passes to the survivor."""

from __future__ import annotations

import contextlib
import itertools
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.services import (
    CollectorProcess,
    agent_config,
    free_port,
    get_json,
    run_haproxy,
    run_postgres,
    run_victoriametrics,
    start_agent,
    wait_for,
)  # fmt: skip

pytestmark = pytest.mark.services  # HAProxy, VictoriaMetrics, collectors and an agent, for real


def outbox(collector_url: str, node_url: str) -> int:
    """What a collector has not yet forwarded to the node."""
    health = get_json(f"{collector_url}/healthz", "")
    return int(health["victoriametrics"][node_url]["outbox_requests"])


def spooled(folder: Path) -> int:
    """Batches the agent has not had acknowledged yet."""
    with contextlib.closing(sqlite3.connect(folder / "spool.db", timeout=10)) as spool:
        return int(spool.execute("SELECT count(*) FROM batch").fetchone()[0])


def lease(collector_url: str) -> str:
    """ "held" or "standby": whether this collector evaluates the rules."""
    return str(get_json(f"{collector_url}/healthz", "")["alerting"]["lease"])


def collector(folder: Path, port: int, node: str, state: str) -> CollectorProcess:
    """A collector on the shared `state`, forwarding to the VictoriaMetrics `node` (if any)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "collector.toml"
    series = (
        f'[series]\nbackend = "victoriametrics"\nurls = ["{node}"]\nretry_max_seconds = 1\n'
        if node
        else ""
    )
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n[storage]\npath = "{folder}/collector.db"\n'
        f'{series}[state]\nurl = "{state}"\n'
    )
    return CollectorProcess(config, f"http://127.0.0.1:{port}")


def test_an_agent_keeps_reporting_through_the_loss_of_a_collector(tmp_path: Path) -> None:
    with run_victoriametrics(tmp_path / "vm") as node, run_postgres() as postgres:
        state = postgres.create_database("vigie")
        first = collector(tmp_path / "c1", free_port(), node.url, state)
        second = collector(tmp_path / "c2", free_port(), node.url, state)
        first.start()
        wait_for(lambda: lease(first.url) == "held", 30, "the first collector leading", own=True)
        second.start()
        token = second.token("Tournon", "pc-1")  # one state: valid on both
        try:
            backends = [c.url.removeprefix("http://") for c in (first, second)]
            with run_haproxy(tmp_path / "haproxy", backends) as url:
                (tmp_path / "agent").mkdir()
                config = agent_config(tmp_path / "agent", url, token, "Tournon", "pc-1")
                agent = start_agent(config, log=tmp_path / "agent.log")
                started = time.monotonic()
                time.sleep(6)
                # Both receive data: c1 led alone, but c2 may have taken the lease from it in
                # the moment c1 had received nothing yet (an idle holder yields). One leads.
                held = [c for c in (first, second) if lease(c.url) == "held"]
                assert len(held) == 1
                holder, survivor = held[0], second if held[0] is first else first
                holder.stop(signal.SIGKILL)  # acknowledged batches stay in its log
                # the lease runs out (30 s) and the survivor takes over the rules and mails
                wait_for(lambda: lease(survivor.url) == "held", 40, "the survivor", own=True)
                holder.start()
                time.sleep(4)
                assert lease(holder.url) == "standby"
                # everything spooled through the outage is acknowledged: the spool drains while
                # the agent runs (the batch of its last cycle, at the stop, waits for its restart)
                wait_for(lambda: spooled(tmp_path / "agent") == 0, 30, "the spool drained")
                agent.send_signal(signal.SIGTERM)
                agent.wait(30)
                ran = time.monotonic() - started
            for each in (first, second):
                wait_for(lambda: outbox(each.url, node.url) == 0, 30, "forwarded")  # noqa: B023
            # both read the series from VictoriaMetrics: the same answer, whoever received what
            reader = first.token("", "", role="reader")
            asked = "/api/v1/query?measurement=vigie_agent&field=cycle_seconds&host=pc-1&start="
            answers = [get_json(f"{c.url}{asked}{int(time.time()) - 600}", reader)["series"]
                       for c in (first, second)]  # fmt: skip
        finally:
            for each in (first, second):
                if each.proc is not None and each.proc.poll() is None:
                    each.stop()
        (series,) = node.export('vigie_agent_cycle_seconds{host="pc-1"}')
        times = [ts // 1000 for ts in series["timestamps"]]
        assert times == sorted(set(times)), "a reading stored twice"
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # no cycle lost (one a second): the readings span the agent's run (less its ~2 s start) and
        # fill it; how long the run lasts depends on when the lease changed hands
        span = times[-1] - times[0] + 1
        assert span >= ran - 5 and len(times) >= 0.9 * span and max(gaps) <= 5, (ran, times, gaps)
        assert answers[0] == answers[1]
        assert [ts for ts, _ in answers[0][0]["points"]] == times
        # both collectors took writes (round robin), and the killed one forwarded its log
        for each in (first, second):
            lines = (
                sqlite3.connect(each.config.parent / "collector.db")
                .execute("SELECT count(*) FROM series WHERE host = 'pc-1'")
                .fetchone()[0]
            )
            assert lines > 0


def test_active_and_backup_collectors_the_alerting_lease_follows_the_data(
    tmp_path: Path,
) -> None:
    """HAProxy sends everything to c1, c2 being its backup: c1 evaluates; c1 dies, the agents
    go to c2, which takes the lease once c1's runs out; c1 comes back and gets the traffic
    again, and c2, receiving nothing for a minute, hands the lease back."""
    with run_postgres() as postgres:
        state = postgres.create_database("vigie")
        first = collector(tmp_path / "c1", free_port(), "", state)
        second = collector(tmp_path / "c2", free_port(), "", state)
        first.start()
        wait_for(lambda: lease(first.url) == "held", 30, "c1 leading", own=True)
        second.start()
        token = first.token("Tournon", "pc-1")
        try:
            backends = [c.url.removeprefix("http://") for c in (first, second)]
            with run_haproxy(tmp_path / "haproxy", backends, backup=True) as url:
                (tmp_path / "agent").mkdir()
                config = agent_config(tmp_path / "agent", url, token, "Tournon", "pc-1")
                agent = start_agent(config, log=tmp_path / "agent.log")
                try:
                    time.sleep(4)
                    assert lease(second.url) == "standby"
                    first.stop(signal.SIGKILL)
                    wait_for(lambda: lease(second.url) == "held", 45, "c2 leading", own=True)
                    first.start()
                    wait_for(lambda: lease(first.url) == "held", 90, "c1 leading again", own=True)
                    # c2 learns it at its next renewal (every second)
                    wait_for(lambda: lease(second.url) == "standby", 5, "c2 standing by", own=True)
                    wait_for(lambda: spooled(tmp_path / "agent") == 0, 30, "the spool drained")
                finally:
                    agent.terminate()
                    agent.wait(30)
        finally:
            for each in (first, second):
                if each.proc is not None and each.proc.poll() is None:
                    each.stop()
