"""The FastAPI application; its lifespan starts and drains the store writer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi import Path as FastApiPath
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from collector import __version__
from collector.alerting import Alerting
from collector.config import CollectorConfig
from collector.ingest.lineproto import HeadCache
from collector.ingest.timewindow import SkewedSenders, Window
from collector.ingest.write import OutsideWindow, Refused, check_write, decompress
from collector.inventory import validate_document
from collector.mirror.forwarder import Forwarder
from collector.muting import SilenceError, new_silence
from collector.repository import Identity, Repository
from collector.rules.load import load_rules
from collector.rules.model import RuleSet
from collector.store.db import connect, open_store
from collector.store.query import QueryError, SeriesQuery, run_query, unknown_names
from collector.store.rollup import Retention
from collector.store.writer import Append, Writer
from collector.telemetry import Telemetry
from collector.web.pages import add_pages

MAX_QUERY_RANGE = 5 * 366 * 86400
log = logging.getLogger(__name__)

# A row id in a path: bounded like SQLite's INTEGER, so a huge number is a 422, not a crash.
RowId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]


@dataclass
class Services:
    """What the request handlers share; built by the lifespan."""

    config: CollectorConfig
    writer: Writer
    mirror: Forwarder | None = None
    alerting: Alerting | None = None
    telemetry: Telemetry = field(default_factory=Telemetry)
    skewed: SkewedSenders = field(default_factory=SkewedSenders)
    _local: threading.local = field(default_factory=threading.local)

    def reader(self) -> sqlite3.Connection:
        """A read connection for the calling thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.config.storage.path)
        return conn

    def repository(self) -> Repository:
        """The relational state, read from the calling thread's connection."""
        return Repository(self.reader())


def _error(status: int, message: str) -> JSONResponse:
    # `error` is what InfluxDB 1.x clients read, `code`/`message` what 2.x clients read.
    codes = {401: "unauthorized", 403: "forbidden", 404: "not found", 413: "request too large"}
    code = codes.get(status, "invalid")
    return JSONResponse({"error": message, "code": code, "message": message}, status_code=status)


def _bearer(authorization: str | None, request: Request) -> str | None:
    """The token from `Authorization: Token|Bearer …`, Basic auth's password, or `?p=` (v1)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            return value.strip()
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                return base64.b64decode(value).decode().partition(":")[2]
    return request.query_params.get("p")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it grows past `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"body exceeds max_body_bytes ({limit})")
    return bytes(body)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _parse_time(text: str | None, default: int, name: str, now: int) -> int:
    """Unix seconds, ISO 8601, `now`, or relative to now: -30m, -6h, -7d, -2w."""
    if text is None or text == "":
        return default
    if text == "now":
        return now
    if text.lstrip("-").isdigit():
        return int(text)
    if text[:1] == "-" and text[1:-1].isdigit() and text[-1] in _UNITS:
        return now - int(text[1:-1]) * _UNITS[text[-1]]
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise Refused(
            400, f"{name}: expected Unix seconds, ISO 8601, now or -30m/-6h/-7d, got {text!r}"
        ) from None


class WriteEndpoints:
    """POST `/write` and `/api/v2/write` as a bare ASGI handler. At full ingest FastAPI's
    routing, parameter and exception layers took a quarter of each write's time, on the thread
    that every request shares; everything else goes on to the application."""

    PATHS = frozenset({"/write", "/api/v2/write"})

    def __init__(self, app: ASGIApp, ingest: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self._ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a write, or pass the request on."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.PATHS:
            response = await self._ingest(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(
    config: CollectorConfig, ruleset: RuleSet | None = None, clock: Callable[[], float] = time.time
) -> FastAPI:
    """Build the application for a config; the store is opened by the lifespan. `clock` and
    `ruleset` are for tests (the rules default to the shipped ones plus the configured files)."""
    rules = ruleset if ruleset is not None else load_rules(config.alerts.rules)
    heads = HeadCache()  # used on the event loop's thread only

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_store(config.storage.path).close()
        mirror = Forwarder(config.storage.path, config.influxdb) if config.influxdb.url else None
        writer = Writer(
            config.storage.path,
            Retention(raw=config.storage.raw_retention_days * 86400),
            clock=clock,
            mirrored=mirror is not None,
            # A process takes plain data only: an injected clock (tests) keeps it a thread.
            index_process=clock is time.time,
        )
        if mirror is not None:
            writer.on_commit = mirror.poke
            mirror.start()
        writer.start()
        alerting = Alerting(config, rules, writer, clock, mirrored=mirror is not None)
        if app.state.run_alerting:
            alerting.start()
        app.state.services = Services(config, writer, mirror, alerting)
        try:
            yield
        finally:
            await asyncio.to_thread(alerting.stop)
            # Every acknowledged request is in ingest_log already; stop() indexes the rest.
            await asyncio.to_thread(writer.stop)
            if mirror is not None:
                await asyncio.to_thread(mirror.stop)

    # No /docs, /redoc or /openapi.json: nothing but login, health and writes answers without
    # credentials (the description is `create_app(...).openapi()`, used by the fuzz tests).
    app = FastAPI(
        title="Vigie collector",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.run_alerting = True  # tests turn the threads off and call tick() themselves

    def services(request: Request) -> Services:
        return request.app.state.services  # type: ignore[no-any-return]

    def authenticate(request: Request, authorization: str | None) -> Identity:
        token = _bearer(authorization, request)
        if not token:
            raise Refused(401, "missing token: send 'Authorization: Token <token>'")
        identity = services(request).repository().identify(token)
        if identity is None:
            raise Refused(401, "invalid or revoked token")
        return identity

    def reader_only(identity: Identity) -> None:
        if identity.role not in ("reader", "technician"):
            raise Refused(403, "reading needs a reader or technician token")

    def technician_only(identity: Identity) -> str:
        if identity.role != "technician":
            raise Refused(403, "this action needs a technician token")
        return f"token:{identity.token_id}"

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return _error(exc.status, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Every error in one shape ({"error": …}), not FastAPI's own list of dicts.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(422, problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and request.method == "POST":
            # An agent or a Telegraf whose URL has a path too many: say which paths exist.
            return _error(
                404,
                f"no endpoint {request.url.path}: this collector takes writes at /write and "
                "/api/v2/write, inventories at /api/v1/inventory, enrollment at "
                "/api/v1/enroll (collector.url is the base URL, ending before /write)",
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(sqlite3.Error)
    async def store_failed(request: Request, exc: sqlite3.Error) -> JSONResponse:
        # Disk full, locked or damaged: a 5xx so that senders keep their data and retry.
        log.error("%s %s: store error: %s", request.method, request.url.path, exc)
        return _error(503, f"store unavailable: {exc}")

    async def ingest(request: Request) -> Response:
        """InfluxDB's write endpoints, 1.x (`/write`) and 2.x (`/api/v2/write`): line protocol,
        gzip or plain; the `db`, `bucket` and `org` parameters are accepted and ignored."""
        svc = services(request)
        authorization = request.headers.get("authorization")
        precision = request.query_params.get("precision", "ns")
        limits = svc.config.limits
        try:
            identity = authenticate(request, authorization)
            if identity.role in ("reader", "technician"):
                raise Refused(403, f"a {identity.role} token may not write")
            body = await read_body(request, limits.max_body_bytes)
            now = int(clock())
            window = Window(now - svc.config.storage.raw_retention_days * 86400,
                            now + limits.max_future)  # fmt: skip
            checked = check_write(
                body,
                request.headers.get("content-encoding", ""),
                precision,
                identity,
                limits,
                now,
                heads,
                window,
            )
        except Refused as err:
            reason = {401: "auth", 403: "identity", 413: "limit"}.get(err.status, "syntax")
            if isinstance(err, OutsideWindow):
                reason = "time"
                svc.skewed.record(identity.site, identity.host, err.found, now)
            svc.telemetry.count_rejection(reason)
            svc.telemetry.count_request(err.status)
            return _error(err.status, err.reason)
        entry = Append(
            now,
            identity.site,
            identity.host,
            precision,
            checked.gzip,
            len(checked.parsed.rows),
            body if checked.body is None else checked.body,
            request.headers.get("x-vigie-batch"),
        )
        try:
            await asyncio.wrap_future(svc.writer.append(entry))
        except sqlite3.Error as err:
            # 5xx: the agent keeps the batch and retries.
            svc.telemetry.count_request(503)
            return _error(503, f"store unavailable: {err}")
        if checked.outside is not None:
            # InfluxDB's partial write: the rest is stored, the sender learns which line.
            found = checked.outside
            svc.skewed.record(identity.site, identity.host, found, now)
            svc.telemetry.count_request(400)
            stored = len(checked.parsed.rows)
            return _error(
                400,
                f"partial write: line {found.first_line}: {found.reason}; {found.points} "
                f"point(s) dropped, the other {stored} stored",
            )
        svc.telemetry.count_request(204)
        return Response(status_code=204)

    app.add_middleware(WriteEndpoints, ingest=ingest)

    @app.post("/api/v1/inventory", status_code=204)
    async def post_inventory(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        host: str | None = None,
    ) -> Response:
        """Store a GLPI inventory (gzip allowed); a poller names the device with `?host=`."""
        svc = services(request)
        identity = authenticate(request, authorization)
        body = await read_body(request, svc.config.limits.max_body_bytes)
        body, _ = decompress(
            body,
            request.headers.get("content-encoding", ""),
            svc.config.limits.max_decompressed_bytes,
        )
        try:
            document = json.loads(body)
        except ValueError as err:
            raise Refused(400, f"inventory is not valid JSON: {err}") from None
        problem = validate_document(document)
        if problem:
            raise Refused(400, f"inventory: {problem}")
        if identity.role == "poller":
            # A polled device's document names it (GLPI: network_device; a computer: hardware).
            content = document["content"]
            named = content.get("network_device") or content.get("hardware") or {}
            target = host or str(named.get("name", "") if isinstance(named, dict) else "")
        else:
            target = host or identity.host
        if not target or not identity.may_write(identity.site, target):
            raise Refused(403, f"this token may not send the inventory of host={target!r}")
        received = int(clock())
        await asyncio.to_thread(
            lambda: svc.repository().save_inventory(
                identity.site, target, document, received, request.headers.get("x-vigie-batch")
            )
        )
        return Response(status_code=204)

    @app.get("/api/v1/inventory/{site}/{host}")
    def get_inventory(
        request: Request,
        site: str,
        host: str,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """A host's latest inventory and the history of its changes."""
        reader_only(authenticate(request, authorization))
        repo = services(request).repository()
        found = repo.inventory(site, host)
        if found is None:
            raise Refused(404, f"no inventory for {site}/{host}")
        received, document = found
        return {
            "site": site,
            "host": host,
            "received": received,
            "document": document,
            "changes": repo.inventory_changes(site, host),
        }

    @app.get("/api/v1/query")
    def query(
        request: Request,
        measurement: str,
        field: str,
        authorization: Annotated[str | None, Header()] = None,
        site: str | None = None,
        host: str | None = None,
        start: str | None = None,
        end: str | None = None,
        step: Annotated[int, Query(ge=0, le=366 * 86400)] = 0,
        rate: bool = False,
        agg: Annotated[str, Query(pattern="^(mean|min|max|last)$")] = "mean",
    ) -> dict[str, Any]:
        """Series of one field, raw or averaged per `step` seconds; `rate` for counters."""
        svc = services(request)
        reader_only(authenticate(request, authorization))
        now = int(clock())
        t_end = _parse_time(end, now, "end", now)
        t_start = _parse_time(start, t_end - 3600, "start", now)
        if t_start > t_end:
            raise Refused(400, "start is after end")
        if t_end - t_start > MAX_QUERY_RANGE:
            raise Refused(400, "range exceeds 5 years")
        tags = {k[4:]: v for k, v in request.query_params.items() if k.startswith("tag.")}
        started = time.perf_counter()
        svc.writer.sync()
        raw_since = now - svc.config.storage.raw_retention_days * 86400
        asked = SeriesQuery(measurement, field, t_start, t_end, site, host, tags, step, rate, agg)
        try:
            series = run_query(svc.reader(), asked, raw_since)
        except QueryError as err:
            raise Refused(400, str(err)) from None
        if not series and (missing := unknown_names(svc.reader(), asked)):
            raise Refused(404, missing)
        svc.telemetry.observe_query(time.perf_counter() - started)
        return {"series": series}

    def alerting_of(request: Request) -> Alerting:
        alerting = services(request).alerting
        assert alerting is not None
        return alerting

    @app.get("/api/v1/alerts")
    def list_alerts(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        state: Annotated[str, Query(pattern="^(active|firing|pending|resolved|all)$")] = "active",
        site: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> dict[str, Any]:
        """Alerts (active = pending and firing), newest first, with why each is quiet."""
        reader_only(authenticate(request, authorization))
        states = {
            "active": ("pending", "firing"),
            "all": ("pending", "firing", "resolved"),
        }.get(state, (state,))
        repo = services(request).repository()
        found = repo.alerts(states, site, limit)
        notifier = alerting_of(request).notifier
        annotated = notifier.annotate(repo, found, int(clock()))
        return {
            "alerts": [
                {
                    **dataclasses.asdict(alert),
                    "summary": text,
                    "value_text": notifier.value(alert),
                    "action": notifier.action(alert) or None,
                    "quiet": quiet or None,
                }
                for alert, text, quiet in annotated
            ]
        }

    @app.post("/api/v1/alerts/{alert_id}/ack")
    def acknowledge(
        request: Request, alert_id: RowId, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Acknowledge a firing alert: no more reminders while it lasts."""
        author = technician_only(authenticate(request, authorization))
        repo = services(request).repository()
        if not repo.acknowledge(alert_id, author, int(clock())):
            raise Refused(404, f"no firing alert {alert_id}")
        return {"id": alert_id, "acknowledged_by": author}

    @app.post("/api/v1/enroll", status_code=201)
    async def enroll(request: Request) -> dict[str, Any]:
        """Trade a one-time enrollment code for the agent's own token (no other auth)."""
        try:
            body = json.loads(await read_body(request, 4096))
        except ValueError:
            raise Refused(400, "expected a JSON object") from None
        code, host = (body.get("code"), body.get("host")) if isinstance(body, dict) else (0, 0)
        if not isinstance(code, str) or not isinstance(host, str) or not host.strip():
            raise Refused(400, 'send {"code": "vge_…", "host": "NAME"}')
        if len(host) > 64 or any(ord(c) < 32 for c in host):
            raise Refused(400, "host must be 1-64 printable characters")
        client = request.client.host if request.client else "?"
        try:
            token, site, role = (
                services(request)
                .repository()
                .redeem_enrollment(code, host.strip(), int(clock()), client)
            )
        except ValueError as err:
            # Logged with the address, never with the code: a guess or a replay is visible.
            log.warning("enrollment refused for host %r from %s: %s", host, client, err)
            raise Refused(403, str(err)) from None
        log.info("host %s/%s enrolled from %s as %s", site, host, client, role)
        return {"token": token, "site": site, "host": host.strip(), "role": role}

    @app.get("/api/v1/silences")
    def list_silences(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Silences and maintenance windows in force or to come."""
        reader_only(authenticate(request, authorization))
        found = services(request).repository().silences(int(clock()))
        return {"silences": [dataclasses.asdict(s) for s in found]}

    @app.post("/api/v1/silences", status_code=201)
    async def add_silence(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Silence (from now, for `duration` seconds or until `ends`) or plan a maintenance
        window (`starts` in the future): by site, host and/or rule; `comment` says why."""
        author = technician_only(authenticate(request, authorization))
        try:
            body = json.loads(await read_body(request, 65536))
        except ValueError as err:
            raise Refused(400, f"expected a JSON object: {err}") from None
        if not isinstance(body, dict):
            raise Refused(400, "expected a JSON object")
        now = int(clock())
        starts = _parse_time(str(body["starts"]) if "starts" in body else None, now, "starts", now)
        if "ends" in body:
            ends = _parse_time(str(body["ends"]), now, "ends", now)
        elif isinstance(body.get("duration"), int) and body["duration"] > 0:
            ends = starts + body["duration"]
        else:
            raise Refused(400, "give `ends` (time) or `duration` (seconds)")
        try:
            asked = new_silence(body, starts, ends, str(body.get("comment", "")), now)
        except SilenceError as err:
            raise Refused(400, str(err)) from None
        silence_id = services(request).repository().add_silence(asked, author, now)
        return {"id": silence_id, "starts": starts, "ends": ends, "kind": asked.kind}

    @app.delete("/api/v1/silences/{silence_id}", status_code=204)
    def end_silence(
        request: Request, silence_id: RowId, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        """Unsilence now."""
        technician_only(authenticate(request, authorization))
        if not services(request).repository().end_silence(silence_id, int(clock())):
            raise Refused(404, f"no silence {silence_id} in force")
        return Response(status_code=204)

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        """Liveness and the state of the store."""
        svc = services(request)
        try:
            svc.reader().execute("SELECT 1 FROM meta LIMIT 1").fetchall()
            store = f"error: {svc.writer.store_error}" if svc.writer.store_error else "ok"
        except sqlite3.Error as err:
            store = f"error: {err}"
        body: dict[str, Any] = {
            "status": "ok" if store == "ok" else "degraded",
            "store": store,
            "disk_free_bytes": shutil.disk_usage(svc.config.storage.path.parent).free,
            "index_backlog": svc.writer.backlog(),
            "last_ingest": int(svc.writer.last_ingest) or None,
            "version": __version__,
        }
        if svc.mirror is not None:
            body["influxdb"] = {
                "outbox_requests": svc.mirror.depth(),
                "dead_letters": svc.mirror.dead_letters,
                "last_error": svc.mirror.last_error or None,
            }
        return JSONResponse(body, status_code=200 if store == "ok" else 503)

    @app.get("/metrics")
    def metrics(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> PlainTextResponse:
        """The collector's own health in Prometheus text format (a reader token: Prometheus
        sends it with `authorization: {credentials_file: ...}`)."""
        reader_only(authenticate(request, authorization))
        svc = services(request)
        path = svc.config.storage.path
        size = sum(
            p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )
        writer = svc.writer
        now = int(clock())
        counters: dict[str, tuple[str, float]] = {
            "vigie_accepted_lines_total": ("Lines accepted since start.", writer.accepted_lines),
            "vigie_duplicate_batches_total": ("Replayed batches acknowledged.", writer.duplicates),
        }
        gauges: dict[str, tuple[str, float]] = {
            "vigie_index_backlog": ("Accepted requests not yet indexed.", writer.backlog()),
            "vigie_db_size_bytes": ("SQLite database and WAL size.", size),
            "vigie_last_ingest_timestamp_seconds": ("Last accepted write.", writer.last_ingest),
            "vigie_skewed_senders": (
                "Hosts that sent points outside the time window in the last day.",
                len(svc.skewed.recent(now)),
            ),
        }
        if svc.mirror is not None:
            mirror = svc.mirror
            gauges["vigie_outbox_requests"] = ("Requests InfluxDB lacks.", mirror.depth())
            counters["vigie_mirror_sent_lines_total"] = (
                "Lines sent to InfluxDB.",
                mirror.sent_lines,
            )
            counters["vigie_mirror_dead_letters_total"] = (
                "Kept in dead_letter.",
                mirror.dead_letters,
            )
        dropped = (
            "Points dropped from partial writes, by reason (too_old, future).",
            "reason",
            svc.skewed.dropped,
        )
        text = svc.telemetry.render(gauges, counters, {"vigie_dropped_points_total": dropped})
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    add_pages(app, services, clock)
    return app
