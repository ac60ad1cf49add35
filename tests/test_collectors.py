"""Workstation collectors against real psutil data, and each reading failing alone."""

from __future__ import annotations

import logging
import time
import types
from collections import namedtuple
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.collectors.cpu import CpuCollector
from agent.collectors.disks import DiskCollector, DiskIOCollector, clean_mountpoint
from agent.collectors.memory import MemoryCollector
from agent.collectors.network import NetCollector
from agent.collectors.sensors import SensorsCollector
from agent.collectors.system import ProcessesCollector, SystemCollector
from agent.service import collect_all, workstation_collectors
from protocol.lineproto import Point, stamp

NOW = 1_800_000_000


# psutil's record shapes, for machines other than this one.
Partition = namedtuple("Partition", "device mountpoint fstype opts")
Usage = namedtuple("Usage", "total used free percent")


class Broken:
    """psutil with some functions raising, as on a machine with unreadable /proc entries."""

    def __init__(self, *failing: str, error: BaseException | None = None) -> None:
        self._failing = set(failing)
        self._error = error or PermissionError(13, "Permission denied")
        self.Error = psutil.Error

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:

            def fail(*_a: object, **_k: object) -> Any:
                raise self._error

            return fail
        return getattr(psutil, name)


def by_name(points: list[Point]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(p.measurement, []).append(p)
    return out


def test_cpu_percentages_add_up_and_use_telegraf_names() -> None:
    collector = CpuCollector(psutil, window=0.05)
    first = collector.collect(NOW)
    time.sleep(0.2)
    second = collector.collect(NOW + 60)
    for points in (first, second):
        (point,) = points
        assert point.tags == {"cpu": "cpu-total"}
        assert {"usage_user", "usage_system", "usage_idle", "usage_iowait"} <= point.fields.keys()
        total = sum(float(v) for v in point.fields.values())
        assert 99.0 <= total <= 101.0 + 100.0 * ("usage_guest" in point.fields)


def test_memory_matches_psutil() -> None:
    points = by_name(MemoryCollector(psutil).collect(NOW))
    mem = points["mem"][0].fields
    assert mem["total"] == psutil.virtual_memory().total
    assert 0 < float(mem["used_percent"]) < 100
    assert points["swap"][0].fields["total"] == psutil.swap_memory().total


def test_system_and_kernel_carry_boot_time_and_uptime() -> None:
    now = int(time.time())
    points = by_name(SystemCollector(psutil).collect(now))
    assert points["kernel"][0].fields["boot_time"] == int(psutil.boot_time())
    assert points["system"][0].fields["n_cpus"] == psutil.cpu_count()
    assert abs(int(points["system"][0].fields["uptime"]) - (now - int(psutil.boot_time()))) <= 1


def test_processes_are_counted_without_a_per_process_scan(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  1 2 3\nprocs_running 3\nprocs_blocked 1\n")
    (tmp_path / "loadavg").write_text("0.10 0.20 0.30 3/412 9999\n")
    for pid in ("1", "22", "333"):
        (tmp_path / pid).mkdir()
    (tmp_path / "self").mkdir()
    (point,) = ProcessesCollector(psutil, proc_root=tmp_path).collect(NOW)
    assert point.fields == {"total": 3, "running": 3, "blocked": 1, "total_threads": 412}
    real = ProcessesCollector(psutil).collect(NOW)[0].fields
    assert abs(int(real["total"]) - len(psutil.pids())) < 20


def test_disks_skip_pseudo_filesystems_and_match_statvfs() -> None:
    points = DiskCollector(psutil).collect(NOW)
    assert points, "no real filesystem found"
    for point in points:
        assert point.tags["fstype"] not in ("tmpfs", "proc", "sysfs", "overlay")
        usage = psutil.disk_usage(point.tags["path"])
        assert point.fields["total"] == usage.total
    assert all(
        p.tags["name"][:4] not in ("loop", "zram") for p in DiskIOCollector(psutil).collect(NOW)
    )


def test_windows_drive_letters_lose_their_backslash() -> None:
    assert clean_mountpoint("C:\\") == "C:"
    assert clean_mountpoint("d:") == "D:"
    assert clean_mountpoint("/home") == "/home"


def test_windows_fixed_drives_only() -> None:
    """psutil's Windows partitions: a CD-ROM, a mapped share and a USB stick are no `disk`."""
    part = Partition
    windows = types.SimpleNamespace(
        Error=psutil.Error,
        disk_partitions=lambda all=False: [
            part("C:\\", "C:\\", "NTFS", "rw,fixed"),
            part("D:\\", "D:\\", "CDFS", "ro,cdrom"),
            part("E:\\", "E:\\", "FAT32", "rw,removable"),
            part("Z:\\", "Z:\\", "NTFS", "rw,remote"),
        ],
        disk_usage=lambda path: Usage(100, 40, 60, 40.0),
    )
    [disk] = DiskCollector(windows).collect(NOW)
    assert disk.tags == {"path": "C:", "device": "C:", "fstype": "NTFS", "mode": "rw"}


def test_performance_counters_disabled_fail_alone() -> None:
    """Windows with its performance counters off: psutil raises RuntimeError (PDH)."""
    pdh = RuntimeError("PdhAddEnglishCounterW failed. Performance counters may be disabled.")
    broken = Broken("getloadavg", "swap_memory", "disk_io_counters", error=pdh)
    points = by_name(collect_all(workstation_collectors(broken), NOW))
    assert "swap" not in points and "diskio" not in points
    assert {"cpu", "mem", "system", "disk", "net"} <= points.keys()
    assert "load1" not in points["system"][0].fields


def test_a_vanished_disk_is_skipped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    gone = Broken("disk_usage", error=FileNotFoundError(2, "No such file or directory"))
    collector = DiskCollector(gone)
    with caplog.at_level(logging.WARNING):
        assert collector.collect(NOW) == []
        assert collector.collect(NOW + 60) == []
    assert sum("cannot read" in r.message for r in caplog.records) == len(
        {p.device for p in psutil.disk_partitions(all=False)}
    )


def test_net_counters_are_raw_and_skip_loopback() -> None:
    points = NetCollector(psutil).collect(NOW)
    names = {p.tags["interface"] for p in points}
    assert "lo" not in names
    counters = psutil.net_io_counters(pernic=True)
    for point in points:
        assert int(point.fields["bytes_recv"]) >= 0
        assert (
            int(point.fields["bytes_recv"]) <= counters[point.tags["interface"]].bytes_recv + 10**9
        )


def test_battery_wear_from_sysfs(tmp_path: Path) -> None:
    bat = tmp_path / "class" / "power_supply" / "BAT0"
    bat.mkdir(parents=True)
    (bat / "energy_full").write_text("42000000\n")
    (bat / "energy_full_design").write_text("57000000\n")
    fake = types.SimpleNamespace(
        Error=psutil.Error,
        sensors_battery=lambda: types.SimpleNamespace(
            percent=81.0, power_plugged=True, secsleft=-2
        ),
        sensors_temperatures=lambda: {
            "coretemp": [types.SimpleNamespace(label="Package id 0", current=55.0)]
        },
        sensors_fans=lambda: {"dell_smm": [types.SimpleNamespace(label="", current=2400)]},
    )
    points = by_name(SensorsCollector(fake, sys_root=tmp_path).collect(NOW))
    assert points["battery"][0].fields == {
        "charge_percent": 81.0,
        "plugged": 1,
        "capacity_full": 42000000,
        "capacity_design": 57000000,
        "health_percent": 73.7,
    }
    assert points["temp"][0].tags == {"sensor": "coretemp_package_id_0"}
    assert points["fan"][0].fields == {"rpm": 2400}


def test_each_reading_fails_alone() -> None:
    broken = Broken("virtual_memory", "sensors_temperatures", "disk_io_counters", "getloadavg")
    points = by_name(collect_all(workstation_collectors(broken), NOW))
    assert "mem" not in points and "diskio" not in points
    assert {"cpu", "swap", "system", "disk", "net"} <= points.keys()
    assert "load1" not in points["system"][0].fields


def test_every_point_carries_site_and_host() -> None:
    points = stamp(collect_all(workstation_collectors(psutil), NOW), "Annonay", "pc1")
    assert all(p.tags["site"] == "Annonay" and p.tags["host"] == "pc1" for p in points)


def test_run_every_keeps_intervals_and_never_bursts() -> None:
    import threading

    from agent.service import run_every

    calls: dict[str, list[float]] = {"fast": [], "slow": [], "overrun": []}

    def job(name: str, cost: float = 0.0) -> Any:
        def run() -> None:
            calls[name].append(time.monotonic())
            time.sleep(cost)

        return run

    stop = threading.Event()
    threading.Timer(1.2, stop.set).start()
    started = time.monotonic()
    run_every([(0.2, job("fast")), (1.0, job("slow")), (0.1, job("overrun", 0.3))], stop)
    assert time.monotonic() - started < 1.6  # stops promptly
    assert len(calls["slow"]) == 2  # at once, then after a second
    assert 4 <= len(calls["fast"]) <= 7
    # A job slower than its interval is not caught up in a burst: one run per pass.
    assert 2 <= len(calls["overrun"]) <= 5
