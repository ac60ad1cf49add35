"""The link between an agent and the collector cut for real, in a network namespace the test
creates: the agent's side down, then a half-open link (the collector's replies vanish while the
agent's packets still arrive). The agent resumes on its own; every batch is stored once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import (
    agent_config,
    assert_stored_once_without_gaps,
    run_collector,
    spool_depth,
    start_agent,
    stored_batches,
    unavailable,
    wait_for,
)

pytestmark = pytest.mark.services  # every test here starts real processes

# A /30 of the test's own, only ever between the root namespace and the one it creates.
COLLECTOR_ADDRESS = "10.231.7.1"
AGENT_ADDRESS = "10.231.7.2"


@dataclass(frozen=True)
class Namespace:
    name: str
    root_link: str  # the veth end in the root namespace
    link: str  # the end inside the namespace

    def run(self, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, *args], check=True)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def agent_namespace() -> Iterator[Namespace]:
    """A namespace joined to the root one by a veth pair: collector side 10.231.7.1."""
    tag = f"{os.getpid() % 100000}"
    ns = Namespace(f"vigie-agent-{tag}", f"vgc{tag}", f"vga{tag}")
    created = subprocess.run(["ip", "netns", "add", ns.name], capture_output=True, text=True)
    if created.returncode != 0:
        unavailable(f"cannot create a network namespace (root needed): {created.stderr.strip()}")
    try:
        ip("link", "add", ns.root_link, "type", "veth", "peer", "name", ns.link)
        ip("link", "set", ns.link, "netns", ns.name)
        ip("addr", "add", f"{COLLECTOR_ADDRESS}/30", "dev", ns.root_link)
        ip("link", "set", ns.root_link, "up")
        ip("-n", ns.name, "addr", "add", f"{AGENT_ADDRESS}/30", "dev", ns.link)
        ip("-n", ns.name, "link", "set", ns.link, "up")
        ip("-n", ns.name, "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", ns.root_link], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)


def batches_stored(db: Path) -> int:
    return len(stored_batches(db)[0]) if db.exists() else 0


def test_agent_resumes_after_real_cuts_and_a_half_open_link(tmp_path: Path) -> None:
    with (
        agent_namespace() as ns,
        run_collector(tmp_path / "collector", address=COLLECTOR_ADDRESS) as collector,
    ):
        token = collector.token("Privas", "pc")
        config = agent_config(
            tmp_path,
            collector.url,
            token,
            "Privas",
            "pc",
            link="allow_insecure_http = true",
        )
        agent = start_agent(config, prefix=("ip", "netns", "exec", ns.name))
        db = tmp_path / "collector" / "collector.db"
        try:
            wait_for(lambda: batches_stored(db) >= 3, 60, "first batches", agent, own=True)

            # 1. The agent's link goes down: sends fail at once (no route).
            ip("-n", ns.name, "link", "set", ns.link, "down")
            time.sleep(6)
            ip("-n", ns.name, "link", "set", ns.link, "up")
            before = batches_stored(db)
            wait_for(
                lambda: batches_stored(db) > before + 2,
                90,
                "sending after the link came up",
                own=True,
            )

            # 2. Half-open: the agent's packets reach the collector, its answers are dropped.
            ip("route", "add", "blackhole", f"{AGENT_ADDRESS}/32")
            time.sleep(8)
            ip("route", "del", "blackhole", f"{AGENT_ADDRESS}/32")

            wait_for(lambda: spool_depth(tmp_path / "spool.db") <= 1, 90, "the drain", own=True)
            assert agent.poll() is None
        finally:
            subprocess.run(
                ["ip", "route", "del", "blackhole", f"{AGENT_ADDRESS}/32"],
                capture_output=True,
                check=False,
            )
            agent.terminate()
            out, _ = agent.communicate(timeout=15)
        assert "Network is unreachable" in out, out  # the link-down cut was seen as such
        assert "timed out" in out, out  # the half-open link hit the agent's timeout
        assert_stored_once_without_gaps(collector, "pc")
