"""The collector's FastAPI application: the lifespan that starts and drains the store writer,
the mirror and alerting, and the wiring of the API's routers and the web pages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from collector import __version__
from collector.alerting import Alerting
from collector.api import alerts, enroll, health, inventory, query, silences
from collector.api.errors import add_error_handlers
from collector.api.write import WriteEndpoints
from collector.config import CollectorConfig
from collector.ingest.lineproto import HeadCache
from collector.lease import holder_name
from collector.mirror.forwarder import Forwarder, VictoriaTarget, influx_target
from collector.mirror.latest import LatestTarget
from collector.rules.load import load_rules
from collector.rules.model import RuleSet
from collector.services import Services
from collector.state import Repository
from collector.state.source import StateSource
from collector.store.db import open_store
from collector.store.rollup import Retention
from collector.store.writer import Writer
from collector.web import add_pages


def lifespan_for(
    config: CollectorConfig, rules: RuleSet, clock: Callable[[], float]
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Open the store, start the writer, the mirror and alerting; drain them at the end."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_store(config.storage.path).close()
        state = StateSource(config.state)
        await asyncio.to_thread(state.open)
        mirror, nodes = forwarders(config)
        # On a shared state, each series' newest sample goes there too, for every collector's
        # pages (text fields included, which VictoriaMetrics cannot keep).
        name = holder_name()  # this collector's, in the shared state
        to_state = LatestTarget(lambda: Repository(state.connection()), clock, name)
        latest = Forwarder(config.storage.path, to_state) if state.shared else None
        extra = [f for f in (mirror, latest) if f is not None]
        outbox = tuple(f.mark for f in extra + nodes)
        writer = Writer(
            config.storage.path,
            Retention(raw=config.storage.raw_retention_days * 86400),
            clock=clock,
            outbox_marks=outbox,
            # A process takes plain data only: an injected clock (tests) keeps it a thread.
            index_process=clock is time.time,
        )
        outgoing = extra + nodes

        def poke() -> None:
            for forwarder in outgoing:
                forwarder.poke()

        writer.on_commit = poke
        for forwarder in outgoing:
            forwarder.start()
        writer.start()
        alerting = Alerting(
            config,
            rules,
            writer,
            clock,
            outbox_marks=outbox,
            state=state,
            nodes=nodes,
            latest=latest,
            name=name,
        )
        if app.state.run_alerting:
            alerting.start()
        app.state.services = Services(
            config, writer, mirror, alerting, nodes=nodes, state=state, latest=latest
        )
        try:
            yield
        finally:
            await asyncio.to_thread(alerting.stop)
            # Every acknowledged request is in ingest_log already; stop() indexes the rest.
            await asyncio.to_thread(writer.stop)
            for forwarder in outgoing:
                await asyncio.to_thread(forwarder.stop)
            state.close()

    return lifespan


def forwarders(config: CollectorConfig) -> tuple[Forwarder | None, list[Forwarder]]:
    """The InfluxDB mirror (when configured) and one forwarder per VictoriaMetrics node."""
    path, influx, series = config.storage.path, config.influxdb, config.series
    mirror = (
        Forwarder(path, influx_target(influx), influx.retry_max_seconds) if influx.url else None
    )
    urls = series.urls if series.backend == "victoriametrics" else ()
    return mirror, [Forwarder(path, VictoriaTarget(u), series.retry_max_seconds) for u in urls]


def create_app(
    config: CollectorConfig, ruleset: RuleSet | None = None, clock: Callable[[], float] = time.time
) -> FastAPI:
    """Build the application for a config; the store is opened by the lifespan. `clock` and
    `ruleset` are for tests (the rules default to the shipped ones plus the configured files)."""
    rules = ruleset if ruleset is not None else load_rules(config.alerts.rules)
    # No /docs, /redoc or /openapi.json: nothing but login, health and writes answers without
    # credentials (the description is `create_app(...).openapi()`, used by the fuzz tests).
    app = FastAPI(
        title="Vigie collector",
        version=__version__,
        lifespan=lifespan_for(config, rules, clock),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.run_alerting = True  # tests turn the threads off and call tick() themselves
    app.state.clock = clock
    app.state.heads = HeadCache()  # the write path's, used on the event loop's thread only
    add_error_handlers(app)
    app.add_middleware(WriteEndpoints)
    for router in (inventory, query, alerts, enroll, silences, health):
        app.include_router(router.router)
    add_pages(app)
    return app
