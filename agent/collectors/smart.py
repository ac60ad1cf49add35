"""`smart_device` and `smart_attribute` (Telegraf names) from `smartctl --json`.

smartctl's exit code is a bit mask (bit 3: disk failing, bit 4: a prefail attribute at or below
its threshold...), so the JSON is parsed whatever the code, and the code goes out as a field.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable
from typing import Any

from agent.collectors.base import LogOnce
from protocol.lineproto import Point

log = logging.getLogger(__name__)

# (returncode, stdout); raises subprocess.TimeoutExpired or OSError.
Runner = Callable[[list[str], float], tuple[int, str]]

EXIT_OPEN_FAILED = 0x02  # also set by `-n standby` when the disk sleeps
EXIT_DISK_FAILING = 0x08
EXIT_PREFAIL_BELOW_THRESHOLD = 0x10

# NVMe health log fields sent as smart_attribute with Telegraf's names.
_NVME_ATTRIBUTES = {
    "critical_warning": "Critical_Warning",
    "media_errors": "Media_and_Data_Integrity_Errors",
    "percentage_used": "Percentage_Used",
    "available_spare": "Available_Spare",
    "available_spare_threshold": "Available_Spare_Threshold",
    "num_err_log_entries": "Error_Information_Log_Entries",
    "unsafe_shutdowns": "Unsafe_Shutdowns",
    "data_units_written": "Data_Units_Written",
}


def run_command(args: list[str], timeout: float) -> tuple[int, str]:
    """Run a command and return its exit code and standard output."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    return done.returncode, done.stdout


def parse_smartctl(report: dict[str, Any], now: int) -> list[Point]:
    """Points from one `smartctl --json -a` report; [] when it holds no device data."""
    device = report.get("device") or {}
    name = str(device.get("name", "")).removeprefix("/dev/")
    if not name:
        return []
    status = int((report.get("smartctl") or {}).get("exit_status", 0))
    tags = {"device": name}
    for key, tag in (("model_name", "model"), ("serial_number", "serial_no")):
        if report.get(key):
            tags[tag] = str(report[key]).strip()
    fields: dict[str, int | bool] = {"exit_status": status}
    smart_status = report.get("smart_status")
    if isinstance(smart_status, dict) and "passed" in smart_status:
        fields["health_ok"] = bool(smart_status["passed"])
    temperature = (report.get("temperature") or {}).get("current")
    if isinstance(temperature, int):
        fields["temp_c"] = temperature
    hours = (report.get("power_on_time") or {}).get("hours")
    if isinstance(hours, int):
        fields["power_on_hours"] = hours
    if isinstance(report.get("power_cycle_count"), int):
        fields["power_cycle_count"] = report["power_cycle_count"]
    points = [Point("smart_device", tags, fields, now)]

    for attr in (report.get("ata_smart_attributes") or {}).get("table", []):
        raw = (attr.get("raw") or {}).get("value")
        attr_fields: dict[str, int] = {"exit_status": status}
        for key, field in (("value", "value"), ("worst", "worst"), ("thresh", "threshold")):
            if isinstance(attr.get(key), int):
                attr_fields[field] = attr[key]
        if isinstance(raw, int):
            attr_fields["raw_value"] = raw
        attr_tags = dict(tags, id=str(attr.get("id", "")), name=str(attr.get("name", "")))
        # when_failed: "" normally, "now"/"past" once the normalised value crossed its threshold.
        attr_tags["fail"] = str(attr.get("when_failed") or "-")
        points.append(Point("smart_attribute", attr_tags, attr_fields, now))

    health = report.get("nvme_smart_health_information_log") or {}
    for key, attr_name in _NVME_ATTRIBUTES.items():
        if isinstance(health.get(key), int):
            points.append(
                Point(
                    "smart_attribute",
                    dict(tags, name=attr_name),
                    {"raw_value": health[key], "exit_status": status},
                    now,
                )
            )
    return points


def on_path(program: str) -> bool:
    """Whether `program` can be run: a path to an executable, or a name found on PATH (with
    Windows' .exe). Not shutil.which: shutil imports the bz2 and lzma modules, half a MiB
    that the agent would keep for its whole life."""
    if os.path.dirname(program):
        return os.access(program, os.X_OK)
    suffixes = ("", ".exe") if os.name == "nt" else ("",)
    return any(
        os.access(os.path.join(folder, program + suffix), os.X_OK)
        for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if folder
        for suffix in suffixes
    )


class SmartCollector:
    """Every disk that `smartctl --scan` finds, read without waking sleeping disks."""

    name = "smart"

    def __init__(
        self, smartctl: str = "smartctl", runner: Runner = run_command, timeout: float = 30.0
    ) -> None:
        self._smartctl = smartctl
        self._runner = runner
        self._timeout = timeout
        self._log = LogOnce(log)

    def available(self) -> bool:
        """Whether smartctl can be run at all (logged once when not)."""
        if not on_path(self._smartctl):
            self._log.warn("missing", "smartctl not found (%s): no SMART data", self._smartctl)
            return False
        return True

    def _json(self, args: list[str], key: str) -> dict[str, Any] | None:
        try:
            _code, out = self._runner([self._smartctl, "--json", *args], self._timeout)
        except subprocess.TimeoutExpired:
            self._log.warn(f"timeout:{key}", "smartctl %s timed out after %ss", key, self._timeout)
            return None
        except OSError as err:
            self._log.warn(f"run:{key}", "cannot run smartctl %s: %s", key, err)
            return None
        try:
            data = json.loads(out)
        except ValueError:
            self._log.warn(f"json:{key}", "smartctl %s printed no JSON", key)
            return None
        return data if isinstance(data, dict) else None

    def collect(self, now: int) -> list[Point]:
        """SMART points of every disk; a disk that fails is skipped and logged once."""
        if not self.available():
            return []
        scan = self._json(["--scan"], "--scan") or {}
        points: list[Point] = []
        for dev in scan.get("devices", []):
            name, kind = str(dev.get("name", "")), str(dev.get("type", ""))
            if not name:
                continue
            args = ["-a", "-n", "standby", *(["-d", kind] if kind else []), name]
            report = self._json(args, name)
            if report is None:
                continue
            found = parse_smartctl(report, now)
            if not found:
                messages = (report.get("smartctl") or {}).get("messages") or [{}]
                self._log.warn(
                    f"dev:{name}",
                    "no SMART data for %s: %s",
                    name,
                    messages[0].get("string", "no device section"),
                )
            points.extend(found)
        return points
