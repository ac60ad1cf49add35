"""Device credentials from the agent config, validated without loading pysnmp or paramiko
(the workstation path stays light)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

AUTH_NAMES = ("MD5", "SHA", "SHA256", "SHA512")
PRIV_NAMES = ("DES", "AES", "AES256")
_SNMP_TYPES: dict[str, type | tuple[type, ...]] = {
    "port": int,
    "retries": int,
    "timeout": (int, float),
}


class SnmpCredentials(NamedTuple):
    """v2c community or v3 user, as given in a device's `snmp` table."""

    version: str
    community: str = ""
    user: str = ""
    auth_protocol: str = "SHA"
    auth_key: str = ""
    priv_protocol: str = "AES"
    priv_key: str = ""
    context: str = ""
    port: int = 161
    timeout: float = 2.0
    retries: int = 1

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> SnmpCredentials:
        """Build from the config table; ValueError names the bad key."""
        known = set(cls._fields)
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        for key, value in table.items():
            expected = _SNMP_TYPES.get(key, str)
            if not isinstance(value, expected) or isinstance(value, bool):
                wanted = expected.__name__ if isinstance(expected, type) else "a number"
                raise ValueError(f"{key} must be {wanted}")
        version = str(table.get("version", "2c"))
        if version not in ("2c", "3"):
            raise ValueError(f'version must be "2c" or "3", got {version!r}')
        creds = cls(**{k: v for k, v in table.items() if k != "version"}, version=version)
        if not 0 < creds.port < 65536 or not 0 < creds.timeout <= 60 or not 0 <= creds.retries <= 5:
            raise ValueError("port, timeout (s, up to 60) or retries (0-5) out of range")
        if version == "2c" and not creds.community:
            raise ValueError("community is required for SNMP v2c")
        if version == "3":
            if not creds.user:
                raise ValueError("user is required for SNMP v3")
            if creds.auth_protocol.upper() not in AUTH_NAMES:
                raise ValueError(f"auth_protocol must be one of {sorted(AUTH_NAMES)}")
            if creds.priv_protocol.upper() not in PRIV_NAMES:
                raise ValueError(f"priv_protocol must be one of {sorted(PRIV_NAMES)}")
            if creds.priv_key and not creds.auth_key:
                raise ValueError("priv_key needs an auth_key (authPriv)")
        return creds

    def __repr__(self) -> str:  # secrets never reach a log line
        return f"SnmpCredentials(version={self.version!r}, user={self.user!r})"


class SshCredentials(NamedTuple):
    """A device's `ssh` table: user, private key file, pinned host key ("type base64")."""

    user: str
    key_file: Path
    host_key: str
    port: int = 22
    timeout: float = 10.0
    command_timeout: float = 20.0

    @classmethod
    def from_config(cls, table: Mapping[str, Any], base: Path) -> SshCredentials:
        """Build from the config table; ValueError names the bad key."""
        unknown = sorted(set(table) - set(cls._fields))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        for key in ("user", "key_file", "host_key"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise ValueError(f"{key} is required (a non-empty string)")
        parts = table["host_key"].split()
        if len(parts) < 2:
            raise ValueError('host_key must read "TYPE BASE64", as in known_hosts')
        key_file = Path(table["key_file"])
        return cls(
            user=table["user"],
            key_file=key_file if key_file.is_absolute() else base / key_file,
            host_key=" ".join(parts[:2]),
            port=int(table.get("port", 22)),
            timeout=float(table.get("timeout", 10.0)),
            command_timeout=float(table.get("command_timeout", 20.0)),
        )

    def __repr__(self) -> str:
        return f"SshCredentials(user={self.user!r}, key_file={str(self.key_file)!r})"
