"""The collector's TOML config as frozen dataclasses; errors name the file, key and reason."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.tomlconfig import ConfigError, Table, load_toml, path_value

DEFAULT_STORE = Path("/var/lib/vigie/collector.db")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where the collector listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """The embedded SQLite store."""

    path: Path = DEFAULT_STORE
    raw_retention_days: int = 30


@dataclass(frozen=True, slots=True)
class Limits:
    """What one write request may hold; each refusal is a 4xx naming the limit."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_lines: int = 50_000
    max_tags: int = 32
    max_string_length: int = 4096
    max_future: int = 600  # seconds a point may be ahead of the collector's clock


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    """The optional InfluxDB mirror."""

    url: str = ""
    api: str = "v1"
    database: str = "vigie"
    retention_policy: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    org: str = ""
    bucket: str = ""
    token: str = field(default="", repr=False)
    retry_max_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class SeriesConfig:
    """Where the time series go besides the embedded store: `victoriametrics` forwards every
    accepted batch from the durable outbox to each node of `urls`."""

    backend: str = "sqlite"  # sqlite | victoriametrics
    urls: tuple[str, ...] = ()
    retry_max_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where tokens, inventories, alerts, silences, accounts and the mail queue live: in the
    store's SQLite file (no `url`), or in a PostgreSQL database several collectors share."""

    url: str = field(default="", repr=False)  # may hold a password: never printed
    # Connections per collector: one per thread that reads or writes the state (the web
    # server's worker threads, alerting, mail); PostgreSQL's max_connections must cover
    # every collector's.
    pool_size: int = 50


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Outgoing mail."""

    host: str = ""
    port: int = 25
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "vigie@localhost"
    timeout: float = 30.0
    ca_file: Path | None = None  # to verify a server whose certificate is not from a public CA


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Who gets alert mail, in which language, and how it is grouped."""

    recipients: tuple[str, ...] = ()
    language: str = "fr"
    group_wait: int = 30
    digest: bool = True
    digest_hour: int = 8
    timezone: str = "Europe/Paris"
    repeat_warning: int = 86400
    repeat_critical: int = 4 * 3600
    urgent_margin: int = 4 * 3600  # a forecast crossing before the digest + this: mail now
    urgent_after: int = 12 * 3600  # a warning firing this long is mailed without waiting
    max_mails_per_hour: int = 10
    evaluation_interval: int = 30
    rules: tuple[Path, ...] = ()
    site_recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Everything the collector reads from its config file."""

    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    limits: Limits = field(default_factory=Limits)
    influxdb: InfluxConfig = field(default_factory=InfluxConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    series: SeriesConfig = field(default_factory=SeriesConfig)
    state: StateConfig = field(default_factory=StateConfig)


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` to (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _server(table: Table, base: Path) -> ServerConfig:
    try:
        host, port = parse_listen(table.string("listen", "127.0.0.1:8080"))
    except ValueError as err:
        raise table.error("listen", str(err)) from None
    cert = path_value(table, "tls_cert", None, base)
    key = path_value(table, "tls_key", None, base)
    if (cert is None) != (key is None):
        raise table.error("tls_cert", "tls_cert and tls_key go together")
    table.done()
    return ServerConfig(host, port, cert, key)


def _influx(table: Table) -> InfluxConfig:
    url = table.string("url", "")
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise table.error("url", f"must be an http:// or https:// URL, got {url!r}")
    config = InfluxConfig(
        url=url.rstrip("/"),
        api=table.string("api", "v1", choices=("v1", "v2")),
        database=table.string("database", "vigie"),
        retention_policy=table.string("retention_policy", ""),
        username=table.string("username", ""),
        password=table.string("password", ""),
        org=table.string("org", ""),
        bucket=table.string("bucket", ""),
        token=table.string("token", ""),
        retry_max_seconds=table.number("retry_max_seconds", 60.0, low=0.1),
    )
    if url and config.api == "v2":
        for key in ("org", "bucket", "token"):
            if not getattr(config, key):
                raise table.error(key, 'required with api = "v2"')
    table.done()
    return config


def _series(table: Table) -> SeriesConfig:
    backend = table.string("backend", "sqlite", choices=("sqlite", "victoriametrics"))
    urls = tuple(u.rstrip("/") for u in table.str_list("urls", ()))
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise table.error("urls", f"must be http:// or https:// URLs, got {url!r}")
    if backend == "victoriametrics" and not urls:
        raise table.error("urls", 'backend = "victoriametrics" needs the nodes\' URLs')
    if len(set(urls)) != len(urls):
        raise table.error("urls", "a node is listed twice")
    config = SeriesConfig(backend, urls, table.number("retry_max_seconds", 60.0, low=0.1))
    table.done()
    return config


# A mail address as a technician writes one; not RFC 5322's whole grammar, but it catches
# the usual mistakes (a name alone, a missing domain, two addresses in one string).
_MAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _state(table: Table) -> StateConfig:
    url = table.string("url", "")
    if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
        # Not the URL itself in the message: it may hold a password.
        raise table.error("url", "must be a postgresql:// URL (or absent for the embedded store)")
    config = StateConfig(url, table.integer("pool_size", 50, low=4, high=500))
    table.done()
    return config


def _address(table: Table, key: str, value: str) -> str:
    if not _MAIL.match(value):
        raise table.error(key, f"{value!r} is not one mail address (name@domain)")
    return value


def _addresses(table: Table, key: str) -> tuple[str, ...]:
    return tuple(_address(table, key, value) for value in table.str_list(key, ()))


def _storage(table: Table, base: Path) -> StorageConfig:
    """The store's file: required (a missing key must not mean a fresh empty store
    somewhere else), in a folder that exists."""
    path = path_value(table, "path", None, base)
    retention = table.integer("raw_retention_days", 30, low=1)
    table.done()  # an unknown key first: it may be the path misspelt
    if path is None:
        raise table.error(
            "path", f"required: where the collector keeps its store, e.g. {DEFAULT_STORE}"
        )
    if not path.parent.is_dir():
        raise table.error(
            "path", f"the folder {path.parent} does not exist: create it or fix the path"
        )
    return StorageConfig(path, retention)


def parse_collector_config(data: dict[str, Any], path: Path) -> CollectorConfig:
    """Validate a parsed TOML document."""
    base = path.parent
    top = Table(data, path)
    server = _server(top.table("server"), base)
    storage = _storage(top.table("storage"), base)
    lt = top.table("limits")
    default = Limits()
    limits = Limits(
        max_body_bytes=lt.integer("max_body_bytes", default.max_body_bytes, low=1024),
        max_decompressed_bytes=lt.integer(
            "max_decompressed_bytes", default.max_decompressed_bytes, low=1024
        ),
        max_lines=lt.integer("max_lines", default.max_lines, low=1),
        max_tags=lt.integer("max_tags", default.max_tags, low=2),
        max_string_length=lt.integer("max_string_length", default.max_string_length, low=16),
        max_future=lt.integer("max_future", default.max_future, low=0),
    )
    lt.done()
    influxdb = _influx(top.table("influxdb"))
    series = _series(top.table("series"))
    state = _state(top.table("state"))
    sm = top.table("smtp")
    smtp = SmtpConfig(
        host=sm.string("host", ""),
        port=sm.integer("port", 25, low=1, high=65535),
        security=sm.string("security", "none", choices=("none", "starttls", "tls")),
        username=sm.string("username", ""),
        password=sm.string("password", ""),
        sender=_address(sm, "sender", sm.string("sender", "vigie@localhost")),
        timeout=sm.number("timeout", 30.0, low=1),
        ca_file=path_value(sm, "ca_file", None, base),
    )
    sm.done()
    al = top.table("alerts")
    sites = al.table("sites")
    site_recipients = {}
    for site in sites.names():
        entry = sites.table(site)
        site_recipients[site] = _addresses(entry, "recipients")
        entry.done()
    sites.done()
    timezone = al.string("timezone", "Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise al.error("timezone", f"unknown time zone {timezone!r}") from None
    alerts = AlertsConfig(
        recipients=_addresses(al, "recipients"),
        language=al.string("language", "fr", choices=("fr", "en")),
        group_wait=al.integer("group_wait", 30, low=0),
        digest=al.boolean("digest", True),
        digest_hour=al.integer("digest_hour", 8, low=0, high=23),
        timezone=timezone,
        repeat_warning=al.integer("repeat_warning", 86400, low=60),
        repeat_critical=al.integer("repeat_critical", 4 * 3600, low=60),
        urgent_margin=al.integer("urgent_margin", 4 * 3600, low=0),
        urgent_after=al.integer("urgent_after", 12 * 3600, low=60),
        max_mails_per_hour=al.integer("max_mails_per_hour", 10, low=1),
        evaluation_interval=al.integer("evaluation_interval", 30, low=1, high=3600),
        rules=tuple(
            p if p.is_absolute() else base / p for p in map(Path, al.str_list("rules", ()))
        ),
        site_recipients=site_recipients,
        public_url=al.string("public_url", ""),
    )
    al.done()
    top.done()
    if (alerts.recipients or any(site_recipients.values())) and not smtp.host:
        raise ConfigError(
            path,
            "alerts.recipients",
            'mail recipients need a mail server: add [smtp] host = "…" (or remove them)',
        )
    return CollectorConfig(server, storage, limits, influxdb, smtp, alerts, series, state)


def load_collector_config(path: Path) -> CollectorConfig:
    """Read and validate the collector config file."""
    return parse_collector_config(load_toml(path), path)


__all__ = ["CollectorConfig", "ConfigError", "load_collector_config", "parse_collector_config"]
