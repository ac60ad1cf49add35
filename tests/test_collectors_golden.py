"""Golden files for the workstation collectors, as Telegraf keeps `testdata/`: psutil's answers
and the /proc files recorded on a real machine in, the exact line protocol out. A change in
what the agent sends shows here as a diff to review; VIGIE_REGOLD=1 rewrites expected.lp."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from agent.service import collect_all, workstation_collectors
from protocol.lineproto import format_points
from tests.psutil_replay import Replay
from tests.psutil_replay import collectors as psutil_collectors

CASES = Path(__file__).parent / "data" / "collectors"
NOW = 1_796_250_000  # a day after the recorded machine's boot


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_recorded_machine_gives_the_expected_lines(case: str) -> None:
    folder = CASES / case
    replay = Replay(folder / "psutil.json")
    collectors = psutil_collectors(replay, folder / "proc", folder / "sys")
    # the same collectors, in the same order, as the agent runs
    assert [type(c) for c in collectors] == [type(c) for c in workstation_collectors(psutil)]
    lines = [
        line for n in range(2) for line in format_points(collect_all(collectors, NOW + 60 * n))
    ]
    text = "\n".join(lines) + "\n"
    expected = folder / "expected.lp"
    if os.environ.get("VIGIE_REGOLD"):
        expected.write_text(text)
    assert text == expected.read_text()
