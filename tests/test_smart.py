"""SMART from recorded real `smartctl --json` outputs (../shared/reference/smartctl)."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest

from agent.collectors.smart import (
    EXIT_DISK_FAILING,
    EXIT_PREFAIL_BELOW_THRESHOLD,
    SmartCollector,
    parse_smartctl,
)
from protocol.lineproto import Point
from tests.services import TEST_DATA, reference

NOW = 1_800_000_000


def recorded(name: str) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(reference("smartctl", name).read_text()))


def attributes(points: list[Point]) -> dict[str, Point]:
    return {p.tags["name"]: p for p in points if p.measurement == "smart_attribute"}


def test_healthy_ata_disk() -> None:
    points = parse_smartctl(recorded("smart-ata.json"), NOW)
    device = points[0]
    assert device.measurement == "smart_device"
    assert device.tags == {
        "device": "sdb",
        "model": "WDC WD140EDFZ-11A0VA0",
        "serial_no": "9RK1XXXX",
    }
    assert device.fields["health_ok"] is True and device.fields["exit_status"] == 0
    assert isinstance(device.fields["temp_c"], int) and isinstance(
        device.fields["power_on_hours"], int
    )
    attrs = attributes(points)
    realloc = attrs["Reallocated_Sector_Ct"]
    assert realloc.tags["id"] == "5" and realloc.fields["raw_value"] == 0
    assert {"value", "worst", "threshold"} <= realloc.fields.keys()


def test_nvme_health_log() -> None:
    attrs = attributes(parse_smartctl(recorded("smart-nvme.json"), NOW))
    assert attrs["Critical_Warning"].fields["raw_value"] == 0
    assert attrs["Available_Spare"].fields["raw_value"] == 100
    assert attrs["Available_Spare_Threshold"].fields["raw_value"] == 10
    assert attrs["Percentage_Used"].fields["raw_value"] == 0
    assert attrs["Media_and_Data_Integrity_Errors"].fields["raw_value"] == 0


def test_sat_report_without_identity() -> None:
    points = parse_smartctl(recorded("smart-sat.json"), NOW)
    assert points[0].tags == {"device": "sdc"}
    assert len(attributes(points)) > 5


def test_failed_call_gives_no_points() -> None:
    assert parse_smartctl(recorded("smart-fail.json"), NOW) == []


def test_failing_ata_disk_is_parsed_despite_the_exit_code() -> None:
    # Written from the smartmontools JSON format: a disk whose reallocated count crossed its
    # threshold, smartctl exit status 0x18 (disk failing + prefail attribute below threshold).
    points = parse_smartctl(json.loads((TEST_DATA / "smart" / "ata-failing.json").read_text()), NOW)
    device = points[0]
    assert device.fields["health_ok"] is False
    assert device.fields["exit_status"] == EXIT_DISK_FAILING | EXIT_PREFAIL_BELOW_THRESHOLD
    realloc = attributes(points)["Reallocated_Sector_Ct"]
    assert realloc.fields["raw_value"] == 1848 and realloc.tags["fail"] == "now"
    assert attributes(points)["Current_Pending_Sector"].fields["raw_value"] == 96


def fake_smartctl(outputs: dict[str, tuple[int, str]]):  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []

    def runner(args: list[str], timeout: float) -> tuple[int, str]:
        calls.append(args)
        key = args[-1]
        if key not in outputs:
            raise subprocess.TimeoutExpired(args, timeout)
        return outputs[key]

    return runner, calls


def test_collector_scans_then_reads_each_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    scan = json.dumps(
        {
            "devices": [
                {"name": "/dev/sdb", "type": "sat"},
                {"name": "/dev/nvme0", "type": "nvme"},
                {"name": "/dev/sdz", "type": "sat"},
            ]
        }
    )
    runner, calls = fake_smartctl(
        {
            "--scan": (0, scan),
            "/dev/sdb": (0, reference("smartctl", "smart-ata.json").read_text()),
            "/dev/nvme0": (0, reference("smartctl", "smart-nvme.json").read_text()),
        }
    )
    collector = SmartCollector("true", runner=runner)  # `true` exists, so smartctl counts as found
    points = collector.collect(NOW)
    devices = [p for p in points if p.measurement == "smart_device"]
    assert len(devices) == 2  # /dev/sdz timed out and was skipped
    assert calls[1] == ["true", "--json", "-a", "-n", "standby", "-d", "sat", "/dev/sdb"]


def test_missing_smartctl_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    collector = SmartCollector("/nonexistent/smartctl")
    with caplog.at_level(logging.WARNING):
        assert collector.collect(NOW) == []
        assert collector.collect(NOW) == []
    assert sum("smartctl not found" in r.message for r in caplog.records) == 1


def test_failing_recording_is_in_the_project() -> None:
    assert (Path(TEST_DATA) / "smart" / "ata-failing.json").exists()
