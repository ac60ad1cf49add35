"""Every error in one JSON shape ({"error", "code", "message"}), whoever raised it."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.ingest.write import Refused
from collector.services import error_response

log = logging.getLogger(__name__)


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """A request refused for good, with its status and reason."""
    assert isinstance(exc, Refused)
    return error_response(exc.status, exc.reason)


async def invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter errors, in the same shape as the others (not its list of dicts)."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
        for e in exc.errors()
    )
    return error_response(422, problems or "invalid request")


async def not_found(request: Request, exc: Exception) -> Response:
    """A POST to a path that does not exist names the ones that do: an agent or a Telegraf
    whose URL has a path too many."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and request.method == "POST":
        return error_response(
            404,
            f"no endpoint {request.url.path}: this collector takes writes at /write and "
            "/api/v2/write, inventories at /api/v1/inventory, enrollment at "
            "/api/v1/enroll (collector.url is the base URL, ending before /write)",
        )
    return await http_exception_handler(request, exc)


async def store_failed(request: Request, exc: Exception) -> JSONResponse:
    """Disk full, locked or damaged: a 503, so that senders keep their data and retry."""
    log.error("%s %s: store error: %s", request.method, request.url.path, exc)
    return error_response(503, f"store unavailable: {exc}")


def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers above."""
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, not_found)
    app.add_exception_handler(sqlite3.Error, store_failed)
