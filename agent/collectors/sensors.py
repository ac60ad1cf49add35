"""`temp` (Telegraf names), `fan` and `battery` (charge, plugged, and wear where readable)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from agent.collectors.base import LogOnce, percent, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)


def sensor_name(chip: str, label: str, index: int) -> str:
    """Telegraf's sensor tag: chip and label, lower case, spaces as underscores."""
    text = f"{chip}_{label or index}".lower()
    return re.sub(r"[^a-z0-9_.-]+", "_", text).strip("_")


class SensorsCollector:
    """Temperatures, fan speeds and the battery; each sensor family fails alone."""

    name = "sensors"

    def __init__(self, psutil: Any, sys_root: Path = Path("/sys")) -> None:
        self._psutil = psutil
        self._power = sys_root / "class" / "power_supply"
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """`temp` and `fan` points per sensor, one `battery` point per battery."""
        return self._temperatures(now) + self._fans(now) + self._battery(now)

    def _temperatures(self, now: int) -> list[Point]:
        reader = getattr(self._psutil, "sensors_temperatures", None)
        if reader is None:
            return []
        try:
            chips = reader()
        except self._errors as err:
            self._log.warn("temp", "cannot read temperatures: %s", err)
            return []
        return [
            Point(
                "temp", {"sensor": sensor_name(chip, s.label, i)}, {"temp": float(s.current)}, now
            )
            for chip, sensors in sorted(chips.items())
            for i, s in enumerate(sensors)
            if s.current is not None
        ]

    def _fans(self, now: int) -> list[Point]:
        reader = getattr(self._psutil, "sensors_fans", None)
        if reader is None:
            return []
        try:
            chips = reader()
        except self._errors as err:
            self._log.warn("fan", "cannot read fans: %s", err)
            return []
        return [
            Point("fan", {"sensor": sensor_name(chip, f.label, i)}, {"rpm": int(f.current)}, now)
            for chip, fans in sorted(chips.items())
            for i, f in enumerate(fans)
        ]

    def _battery(self, now: int) -> list[Point]:
        reader = getattr(self._psutil, "sensors_battery", None)
        try:
            battery = reader() if reader else None
        except self._errors as err:
            self._log.warn("battery", "cannot read the battery: %s", err)
            return []
        if battery is None:
            return []
        fields: dict[str, int | float] = {
            "charge_percent": round(float(battery.percent), 1),
            "plugged": int(bool(battery.power_plugged)),
        }
        if isinstance(battery.secsleft, int) and battery.secsleft >= 0:
            fields["seconds_left"] = battery.secsleft
        fields.update(self._wear())
        return [Point("battery", {"battery": "BAT0"}, fields, now)]

    def _wear(self) -> dict[str, int | float]:
        """Full vs design capacity from Linux sysfs (energy in µWh or charge in µAh)."""
        try:
            batteries = sorted(self._power.glob("BAT*"))
        except OSError:
            return {}
        for bat in batteries:
            for kind in ("energy", "charge"):
                try:
                    full = int((bat / f"{kind}_full").read_text())
                    design = int((bat / f"{kind}_full_design").read_text())
                except (OSError, ValueError):
                    continue
                if design > 0:
                    return {
                        "capacity_full": full,
                        "capacity_design": design,
                        "health_percent": round(percent(full, design), 1),
                    }
        return {}
