"""The Windows registry as the inventory reads it: installed programs from the Uninstall keys
(64-bit, 32-bit under WOW6432Node, and each loaded user hive), the OS's release names, and the
machine's GUID. The registry is injected, so Linux tests feed recorded keys."""

from __future__ import annotations

import importlib
import re
from typing import Any, Protocol

UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
UNINSTALL_32 = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
CURRENT_VERSION = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"
PROFILES = CURRENT_VERSION + r"\ProfileList"
_USER_SID = re.compile(r"^S-1-5-21-[\d-]+$")  # local and domain accounts, not _Classes hives
_GUID = re.compile(r"^\{[0-9A-Fa-f-]{36}\}$")


class Registry(Protocol):
    """Read access to the registry; hives are "HKLM" and "HKU". Missing keys raise OSError."""

    def subkeys(self, hive: str, path: str) -> list[str]: ...
    def values(self, hive: str, path: str) -> dict[str, Any]: ...


class WinRegistry:
    """The live registry through winreg, always in its 64-bit view."""

    def __init__(self) -> None:
        # Imported by name: mypy checks this module on Linux, where winreg has no attributes.
        self._winreg: Any = importlib.import_module("winreg")

    def _open(self, hive: str, path: str) -> Any:
        reg = self._winreg
        root = {"HKLM": reg.HKEY_LOCAL_MACHINE, "HKU": reg.HKEY_USERS}[hive]
        return reg.OpenKey(root, path, 0, reg.KEY_READ | reg.KEY_WOW64_64KEY)

    def subkeys(self, hive: str, path: str) -> list[str]:
        """Names of the key's subkeys."""
        with self._open(hive, path) as key:
            count = self._winreg.QueryInfoKey(key)[0]
            return [self._winreg.EnumKey(key, i) for i in range(count)]

    def values(self, hive: str, path: str) -> dict[str, Any]:
        """The key's values by name."""
        with self._open(hive, path) as key:
            count = self._winreg.QueryInfoKey(key)[1]
            entries = (self._winreg.EnumValue(key, i) for i in range(count))
            return {name: data for name, data, _ in entries}


def _text(values: dict[str, Any], name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def software_entry(values: dict[str, Any], key: str, arch: str) -> dict[str, Any] | None:
    """One program in GLPI's form, or None for what Programs and Features hides too
    (no DisplayName, a system component, an update listed under its parent)."""
    name = _text(values, "DisplayName")
    if not name or values.get("SystemComponent") == 1 or values.get("ParentKeyName"):
        return None
    date = _text(values, "InstallDate")
    size = values.get("EstimatedSize")
    return {
        "name": name,
        "version": _text(values, "DisplayVersion"),
        "publisher": _text(values, "Publisher"),
        "install_date": f"{date[:4]}-{date[4:6]}-{date[6:8]}"
        if re.match(r"^\d{8}$", date)
        else None,
        "guid": key if _GUID.match(key) else None,
        "uninstall_string": _text(values, "UninstallString"),
        "url_info_about": _text(values, "URLInfoAbout"),
        "helplink": _text(values, "HelpLink"),
        "comments": _text(values, "Comments"),
        "folder": _text(values, "InstallLocation"),
        "filesize": size * 1024 if isinstance(size, int) and size > 0 else None,
        "no_remove": values.get("NoRemove") == 1 or None,
        "arch": arch,
        "from": "registry",
    }


def _uninstall_keys(registry: Registry) -> list[tuple[str, str, str, dict[str, str]]]:
    """(hive, path, arch, user fields) of every Uninstall key to read."""
    keys: list[tuple[str, str, str, dict[str, str]]] = [
        ("HKLM", UNINSTALL, "x86_64", {}),
        ("HKLM", UNINSTALL_32, "i586", {}),
    ]
    try:
        sids = [s for s in registry.subkeys("HKU", "") if _USER_SID.match(s)]
    except OSError:
        sids = []
    for sid in sids:
        user = {"userid": sid, "username": user_name(registry, sid)}
        keys.append(("HKU", sid + "\\" + UNINSTALL, "x86_64", user))
        keys.append(("HKU", sid + "\\" + UNINSTALL_32, "i586", user))
    return keys


def installed_software(registry: Registry) -> list[dict[str, Any]]:
    """Every program of the machine and of its loaded user hives, by name; one unreadable
    key (access denied, removed while read) costs that key only."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for hive, path, arch, user in _uninstall_keys(registry):
        try:
            names = registry.subkeys(hive, path)
        except OSError:
            continue
        for name in names:
            try:
                entry = software_entry(registry.values(hive, path + "\\" + name), name, arch)
            except OSError:
                continue
            if entry is not None:
                found.setdefault((entry["name"], entry["version"], arch), {**entry, **user})
    return sorted(found.values(), key=lambda s: (s["name"].casefold(), s["version"]))


def user_name(registry: Registry, sid: str) -> str:
    """The account name of a profile's SID, from its folder (C:\\Users\\Émilie -> Émilie)."""
    try:
        folder = _text(registry.values("HKLM", PROFILES + "\\" + sid), "ProfileImagePath")
    except OSError:
        return ""
    return folder.rstrip("\\").rpartition("\\")[2]


def windows_release(registry: Registry) -> dict[str, str]:
    """What WMI does not give: the release (22H2), the update build (UBR), the owner."""
    try:
        values = registry.values("HKLM", CURRENT_VERSION)
    except OSError:
        return {}
    return {
        "display_version": _text(values, "DisplayVersion") or _text(values, "ReleaseId"),
        "product_id": _text(values, "ProductId"),
        "owner": _text(values, "RegisteredOwner"),
        "organization": _text(values, "RegisteredOrganization"),
        "ubr": _text(values, "UBR"),
    }


def machine_guid(registry: Registry) -> str:
    """Windows' own installation identifier (set at setup, kept across upgrades)."""
    try:
        return _text(registry.values("HKLM", r"SOFTWARE\Microsoft\Cryptography"), "MachineGuid")
    except OSError:
        return ""
