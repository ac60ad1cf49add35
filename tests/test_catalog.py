"""docs/metrics.md is generated from agent/catalog.py, and lists what Vigie really emits."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from agent.catalog import COMMON_TAGS, by_name, render
from agent.collectors.smart import parse_smartctl
from agent.poller.ssh import linux_points, openwrt_points
from agent.service import collect_all, workstation_collectors
from protocol.lineproto import Point
from tests.services import TEST_DATA

ROOT = Path(__file__).parent.parent


def unlisted(points: list[Point]) -> set[str]:
    """measurement.field or measurement#tag names missing from the catalog."""
    catalog = by_name()
    missing = set()
    for point in points:
        entry = catalog.get(point.measurement)
        if entry is None:
            missing.add(point.measurement)
            continue
        missing |= {f"{point.measurement}.{f}" for f in point.fields if f not in entry.fields}
        missing |= {
            f"{point.measurement}#{t}"
            for t in point.tags
            if t not in entry.tags and t not in COMMON_TAGS
        }
    return missing


def test_metrics_reference_is_generated() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == render(), (
        "docs/metrics.md is stale: run `python -m agent.catalog > docs/metrics.md`"
    )


def test_workstation_and_ssh_points_are_listed() -> None:
    points = collect_all(workstation_collectors(psutil), 1_800_000_000)
    report = json.loads((TEST_DATA / "smart" / "ata-failing.json").read_text())
    points += parse_smartctl(report, 0)
    points += openwrt_points((TEST_DATA / "ssh" / "openwrt-23.05.txt").read_text(), 0)
    meminfo = Path("/proc/meminfo").read_text()
    points += linux_points(f"@@vigie@@meminfo\n{meminfo}", 0)
    assert unlisted(points) == set()
