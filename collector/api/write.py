"""POST `/write` and `/api/v2/write`: InfluxDB line protocol into the store's log."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.api.auth import batch_key, identify, read_body
from collector.ingest.timewindow import Window
from collector.ingest.write import OutsideWindow, Refused, check_write
from collector.services import error_response, now, services
from collector.store.writer import Append


class WriteEndpoints:
    """POST `/write` and `/api/v2/write` as a bare ASGI handler. At full ingest FastAPI's
    routing, parameter and exception layers took a quarter of each write's time, on the thread
    that every request shares; everything else goes on to the application."""

    PATHS = frozenset({"/write", "/api/v2/write"})

    def __init__(
        self, app: ASGIApp, ingest: Callable[[Request], Awaitable[Response]] | None = None
    ) -> None:
        self.app = app
        self._ingest = ingest or write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a write, or pass the request on."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.PATHS:
            response = await self._ingest(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def write(request: Request) -> Response:
    """InfluxDB's write endpoints, 1.x (`/write`) and 2.x (`/api/v2/write`): line protocol,
    gzip or plain; the `db`, `bucket` and `org` parameters are accepted and ignored. A 204
    once every point is committed; points outside the time window make a partial write."""
    svc = services(request)
    precision = request.query_params.get("precision", "ns")
    limits = svc.config.limits
    try:
        identity = identify(request, request.headers.get("authorization"))
        if identity.role in ("reader", "technician"):
            raise Refused(403, f"a {identity.role} token may not write")
        body = await read_body(request, limits.max_body_bytes)
        moment = now(request)
        window = Window(moment - svc.config.storage.raw_retention_days * 86400,
                        moment + limits.max_future)  # fmt: skip
        checked = check_write(
            body,
            request.headers.get("content-encoding", ""),
            precision,
            identity,
            limits,
            moment,
            request.app.state.heads,
            window,
        )
    except Refused as err:
        reason = {401: "auth", 403: "identity", 413: "limit", 503: "state"}.get(
            err.status, "syntax"
        )
        if isinstance(err, OutsideWindow):
            reason = "time"
            svc.skewed.record(identity.site, identity.host, err.found, moment)
        svc.telemetry.count_rejection(reason)
        svc.telemetry.count_request(err.status)
        return error_response(err.status, err.reason)
    entry = Append(
        moment,
        identity.site,
        identity.host,
        precision,
        checked.gzip,
        len(checked.parsed.rows),
        body if checked.body is None else checked.body,
        batch_key(identity, request),
    )
    try:
        await asyncio.wrap_future(svc.writer.append(entry))
    except sqlite3.Error as err:
        # 5xx: the agent keeps the batch and retries.
        svc.telemetry.count_request(503)
        return error_response(503, f"store unavailable: {err}")
    if checked.outside is not None:
        # InfluxDB's partial write: the rest is stored, the sender learns which line.
        found = checked.outside
        svc.skewed.record(identity.site, identity.host, found, moment)
        svc.telemetry.count_request(400)
        stored = len(checked.parsed.rows)
        return error_response(
            400,
            f"partial write: line {found.first_line}: {found.reason}; {found.points} "
            f"point(s) dropped, the other {stored} stored",
        )
    svc.telemetry.count_request(204)
    return Response(status_code=204)
