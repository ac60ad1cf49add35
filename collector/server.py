"""Serving the collector: the start-up summary, then uvicorn until SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from types import FrameType
from typing import Any

from collector.config import CollectorConfig
from collector.state.postgres import where
from collector.state.source import StateSource
from collector.store.db import open_store

EXIT_MISSING_DEPENDENCY = 3


def _require_server_packages() -> Any:
    """uvicorn, or exit 3 naming the extra to install."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as err:
        sys.stderr.write(
            f"vigie-collector: {err.name} is not installed; install the collector extra: "
            "pip install 'vigie[collector]'\n"
        )
        raise SystemExit(EXIT_MISSING_DEPENDENCY) from None
    return uvicorn


# Several collectors on one state each keep the series they received: the pages' newest values
# are shared, the charts and the alert rules are not (each reads its own store).
ALONE_ON_SHARED_STATE = (
    " (with a shared state, each collector's charts and alert rules see only the series it "
    'received: to run several, set [series] backend = "victoriametrics", docs/SCALING.md)'
)


def start_summary(config: CollectorConfig, rules: int, overrides: int) -> list[str]:
    """What this collector will do, said once at start (secrets left out), so that a config
    that silently does not what was meant shows at once in the journal."""
    server, mirror, smtp, alerts = config.server, config.influxdb, config.smtp, config.alerts
    scheme = "https" if server.tls_cert else "http"
    site_lists = sum(1 for r in alerts.site_recipients.values() if r)
    mail = (
        f"mail: {smtp.host}:{smtp.port} ({smtp.security}) from {smtp.sender} to "
        f"{len(alerts.recipients)} recipients and {site_lists} commune lists"
        if smtp.host
        else "mail: off (no [smtp] host): alerts show in the web UI and the API only"
    )
    digest = f"daily digest at {alerts.digest_hour} h" if alerts.digest else "no digest"
    return [
        f"store: {config.storage.path} (raw data kept {config.storage.raw_retention_days} days)",
        f"listening on {scheme}://{server.host}:{server.port}"
        + (f" (certificate {server.tls_cert})" if server.tls_cert else " (plain HTTP)"),
        f"InfluxDB mirror: {mirror.url} (API {mirror.api})"
        if mirror.url
        else "InfluxDB mirror: off",
        f"series also forwarded to VictoriaMetrics: {', '.join(config.series.urls)}"
        if config.series.backend == "victoriametrics"
        else "series: the embedded store only"
        + (ALONE_ON_SHARED_STATE if config.state.url else ""),
        f"state: PostgreSQL at {where(config.state.url)}, shared with the other collectors"
        if config.state.url
        else "state: in the store",
        mail,
        f"alerts: {rules} rules, {overrides} overrides, language {alerts.language}, "
        f"{digest} ({alerts.timezone})",
    ]


def serve(config: CollectorConfig, log_level: str = "info") -> None:
    """Run the collector until SIGINT or SIGTERM."""
    uvicorn = _require_server_packages()
    from collector.app import create_app
    from collector.rules.load import load_rules

    # Fail before binding if the store or the state is unusable.
    open_store(config.storage.path).close()
    state = StateSource(config.state)
    state.open()
    state.close()
    ruleset = load_rules(config.alerts.rules)  # a broken rule file stops the start
    for line in start_summary(config, len(ruleset.rules), len(ruleset.overrides)):
        logging.getLogger("collector").info("%s", line)
    server = config.server
    instance = uvicorn.Server(
        uvicorn.Config(
            create_app(config, ruleset),
            host=server.host,
            port=server.port,
            log_level=log_level,
            ssl_certfile=str(server.tls_cert) if server.tls_cert else None,
            ssl_keyfile=str(server.tls_key) if server.tls_key else None,
            access_log=False,
        )
    )

    # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit code would say
    # "killed"; a drained, orderly stop exits 0 instead.
    def _stop(signum: int, _frame: FrameType | None) -> None:
        instance.should_exit = True

    instance.capture_signals = contextlib.nullcontext
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    instance.run()
