"""The platform reader and the installation identifier of this machine."""

from __future__ import annotations

import socket
import sys
from typing import Any

from agent.inventory.glpi import PlatformReader


def platform_reader(psutil: Any) -> PlatformReader:
    """LinuxReader or WindowsReader (live WMI and registry), by platform."""
    if sys.platform == "win32":
        from agent.inventory.registry import WinRegistry
        from agent.inventory.windows import WindowsReader
        from agent.inventory.wmi import ComWmi

        return WindowsReader(psutil, ComWmi(), WinRegistry())
    from agent.inventory.linux import LinuxReader

    return LinuxReader(psutil)


def machine_id() -> str:
    """A stable identifier of this installation: Windows' MachineGuid, systemd's machine-id,
    else the host name."""
    if sys.platform == "win32":
        from agent.inventory.registry import WinRegistry, machine_guid

        return machine_guid(WinRegistry()) or socket.gethostname()
    from agent.inventory.linux import machine_id as linux_machine_id

    return linux_machine_id()
