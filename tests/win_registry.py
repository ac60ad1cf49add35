"""Run by the Windows Python under Wine: `write` sets registry keys given as JSON on stdin
({"HKLM\\\\path": {"Name": "text" | 123}}), so tests can set up installed programs, user
profiles and hives exactly as Windows installers leave them; `read KEY` prints a key's values
as JSON (binary values in hex)."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def write(keys: dict[str, dict[str, Any]]) -> None:
    """Create each key and set its values (str as REG_SZ, int as REG_DWORD)."""
    reg: Any = importlib.import_module("winreg")
    hives = {"HKLM": reg.HKEY_LOCAL_MACHINE, "HKU": reg.HKEY_USERS}
    for full, values in keys.items():
        hive, _, path = full.partition("\\")
        access = reg.KEY_WRITE | reg.KEY_WOW64_64KEY
        with reg.CreateKeyEx(hives[hive], path, 0, access) as key:
            for name, value in values.items():
                kind = reg.REG_DWORD if isinstance(value, int) else reg.REG_SZ
                reg.SetValueEx(key, name, 0, kind, value)


def read(full: str) -> dict[str, Any]:
    """The values of one key."""
    from agent.inventory.registry import WinRegistry

    hive, _, path = full.partition("\\")
    values = WinRegistry().values(hive, path)
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in values.items()}


if __name__ == "__main__":
    if sys.argv[1] == "read":
        sys.stdout.buffer.write(json.dumps(read(sys.argv[2])).encode())
    else:
        write(json.loads(sys.stdin.buffer.read().decode()))
