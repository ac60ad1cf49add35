"""The platform reader for this machine."""

from __future__ import annotations

import sys
from typing import Any

from agent.inventory.glpi import PlatformReader


def platform_reader(psutil: Any) -> PlatformReader:
    """LinuxReader or WindowsReader, by platform."""
    if sys.platform == "win32":
        from agent.inventory.windows import WindowsReader

        return WindowsReader(psutil)
    from agent.inventory.linux import LinuxReader

    return LinuxReader(psutil)
