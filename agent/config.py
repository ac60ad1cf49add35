"""The agent's TOML config (/etc/vigie/agent.toml) as frozen dataclasses, validated at start."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from agent.poller.credentials import SnmpCredentials, SshCredentials
from protocol.tomlconfig import ConfigError, Table, load_toml, path_value

DEFAULT_CONFIG = Path("/etc/vigie/agent.toml")
DEFAULT_SPOOL = Path("/var/lib/vigie/agent-spool.db")
DEVICE_KINDS = ("router", "switch", "printer", "ups", "nas", "linux", "openwrt", "web", "windows")

# Tag values are bounded identifiers: printable, no control characters, reasonably short.
_IDENTIFIER = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


class SpoolConfig(NamedTuple):
    """Where and how much the agent keeps while the collector is out of reach."""

    path: Path = DEFAULT_SPOOL
    max_age_days: float = 7.0
    max_mb: float = 100.0


class CollectorLink(NamedTuple):
    """How to reach the collector."""

    url: str = ""
    token_file: Path | None = None
    timeout: float = 15.0
    ca_file: Path | None = None
    allow_insecure_http: bool = False


REACH_METHODS = ("auto", "icmp", "tcp", "off")


class DeviceConfig(NamedTuple):
    """One device polled by this agent acting as site poller."""

    name: str
    address: str  # host, host:port or [v6]:port; the port is the SNMP (else SSH) port
    kind: str
    interval: int
    snmp: SnmpCredentials | None = None
    ssh: SshCredentials | None = None
    reach: str = "auto"

    @property
    def host(self) -> str:
        """The address without its port (a web check's: its URL's host)."""
        if self.kind == "web":
            return urlsplit(self.address).hostname or ""
        return split_address(self.address)[0]


class AgentConfig(NamedTuple):
    """Everything the agent reads from its config file."""

    site: str = "default"
    host: str = socket.gethostname()
    interval: int = 60
    smart_interval: int = 1800
    inventory_interval: int = 86400
    smartctl: str = "smartctl"
    collector: CollectorLink = CollectorLink()
    spool: SpoolConfig = SpoolConfig()
    devices: tuple[DeviceConfig, ...] = ()
    source: Path | None = None


def _identifier(table: Table, key: str, default: Any) -> Any:
    value = table.string(key, default)
    if value is not None and not _IDENTIFIER.match(value):
        raise table.error(key, "must be 1-64 printable characters")
    return value


def split_address(address: str) -> tuple[str, int | None]:
    """("host", port or None) from "host", "host:port", "[v6]" or "[v6]:port"."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad port {port!r}")
    return host, int(port) if port else None


def _device(table: Table, secrets: dict[str, Any]) -> DeviceConfig:
    name = _identifier(table, "name", ...)
    address = table.string("address")
    kind = table.string("kind", choices=DEVICE_KINDS)
    if kind == "web":
        url = urlsplit(address.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise table.error("address", "a web check needs an http:// or https:// URL")
        port = None
    else:
        try:
            _, port = split_address(address.strip())
        except ValueError as err:
            raise table.error("address", str(err)) from None
    if not address.strip():
        raise table.error("address", "must not be empty")
    interval = table.integer("interval", 120, low=10, high=3600)
    reach = table.string("reach", "auto", choices=REACH_METHODS)
    hidden = secrets.get(name, {})
    tables: dict[str, dict[str, Any]] = {}
    for key in ("snmp", "ssh"):
        tables[key] = {**table.mapping(key), **hidden.get(key, {})}
    if port is not None:
        tables["snmp" if tables["snmp"] else "ssh"].setdefault("port", port)
    try:
        snmp = SnmpCredentials.from_config(tables["snmp"]) if tables["snmp"] else None
    except (ValueError, TypeError) as err:
        raise table.error("snmp", str(err)) from None
    try:
        ssh = (
            SshCredentials.from_config(tables["ssh"], table.path.parent) if tables["ssh"] else None
        )
    except (ValueError, TypeError) as err:
        raise table.error("ssh", str(err)) from None
    if kind == "windows" and ssh is not None:
        raise table.error("ssh", "a windows device is read over snmp (its SNMP service), not ssh")
    if snmp is None and ssh is None and kind not in ("router", "switch", "nas", "web"):
        raise table.error("snmp", f"a {kind} needs snmp or ssh credentials")
    table.done()
    return DeviceConfig(name, address.strip(), kind, interval, snmp, ssh, reach)


def load_secrets(path: Path) -> dict[str, Any]:
    """The secrets file: `[NAME.snmp]`/`[NAME.ssh]` tables merged into the device NAME.
    It must be readable by its owner only, since it holds communities and keys."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise ConfigError(path, "", f"cannot read the secrets file: {err.strerror}") from None
    if mode & 0o077:
        raise ConfigError(
            path, "", f"secrets file is readable by others (mode {mode & 0o777:o}); chmod 600 it"
        )
    data = load_toml(path)
    for name, value in data.items():
        if not isinstance(value, dict) or set(value) - {"snmp", "ssh"}:
            raise ConfigError(path, name, "expected tables [NAME.snmp] and/or [NAME.ssh]")
    return data


def parse_agent_config(data: dict[str, Any], path: Path) -> AgentConfig:
    """Validate a parsed TOML document; raise ConfigError naming the key and the reason."""
    base = path.parent
    top = Table(data, path)
    agent = top.table("agent")
    site = _identifier(agent, "site", "default")
    host = _identifier(agent, "host", None) or socket.gethostname()
    interval = agent.integer("interval", 60, low=1, high=3600)
    smart_interval = agent.integer("smart_interval", 1800, low=60)
    inventory_interval = agent.integer("inventory_interval", 86400, low=60)
    smartctl = agent.string("smartctl", "smartctl")
    agent.done()

    link = top.table("collector")
    url = link.string("url", "")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise link.error("url", f"must be an http:// or https:// URL, got {url!r}")
    collector = CollectorLink(
        url=url.rstrip("/"),
        token_file=path_value(link, "token_file", None, base),
        timeout=link.number("timeout", 15.0, low=1),
        ca_file=path_value(link, "ca_file", None, base),
        allow_insecure_http=link.boolean("allow_insecure_http", False),
    )
    link.done()
    if collector.url and collector.token_file is None:
        raise ConfigError(path, "collector.token_file", "required when collector.url is set")

    spool_table = top.table("spool")
    spool = SpoolConfig(
        path=path_value(spool_table, "path", DEFAULT_SPOOL, base) or DEFAULT_SPOOL,
        max_age_days=spool_table.number("max_age_days", 7.0, low=0.01),
        max_mb=spool_table.number("max_mb", 100.0, low=1),
    )
    spool_table.done()

    poller = top.table("poller")
    secrets_file = path_value(poller, "secrets_file", None, base)
    poller.done()
    secrets = load_secrets(secrets_file) if secrets_file else {}
    devices = tuple(_device(t, secrets) for t in top.tables("devices"))
    unknown_secrets = sorted(set(secrets) - {d.name for d in devices})
    if unknown_secrets:
        raise ConfigError(secrets_file or path, unknown_secrets[0], "no device has this name")
    names = [d.name for d in devices]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(path, "devices", f"device name {name!r} is used twice")
    top.done()
    return AgentConfig(
        site=site,
        host=host,
        interval=interval,
        smart_interval=smart_interval,
        inventory_interval=inventory_interval,
        smartctl=smartctl,
        collector=collector,
        spool=spool,
        devices=devices,
        source=path,
    )


def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate the agent config file."""
    return parse_agent_config(load_toml(path), path)
