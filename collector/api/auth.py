"""Token checks as FastAPI dependencies, and what several routers read from a request."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi import Path as FastApiPath

from collector.ingest.write import Refused
from collector.services import services
from collector.state import Identity

# A row id in a path: bounded like SQLite's INTEGER, so a huge number is a 422, not a crash.
RowId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]


def bearer(authorization: str | None, request: Request) -> str | None:
    """The token from `Authorization: Token|Bearer …`, Basic auth's password, or `?p=` (v1)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            return value.strip()
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                return base64.b64decode(value).decode().partition(":")[2]
    return request.query_params.get("p")


def identify(request: Request, authorization: str | None) -> Identity:
    """The identity of the request's token; 401 without a valid one."""
    token = bearer(authorization, request)
    if not token:
        raise Refused(401, "missing token: send 'Authorization: Token <token>'")
    try:
        identity = services(request).identify(token)
    except sqlite3.Error as err:  # the shared state is down: a 503, the agent keeps its data
        raise Refused(503, f"cannot check the token now: {err}") from None
    if identity is None:
        raise Refused(401, "invalid or revoked token")
    return identity


def batch_key(identity: Identity, request: Request) -> str | None:
    """The replay key of a write: its `X-Vigie-Batch`, scoped to the sending token's site and
    host. Batch ids are each agent's own: a batch of another agent (or one that reuses a
    neighbour's id) is never taken for a replay and dropped."""
    header = request.headers.get("x-vigie-batch")
    return None if header is None else f"{identity.site}/{identity.host}/{header}"


def any_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> Identity:
    """Dependency: any valid token (agents, pollers, readers, technicians)."""
    return identify(request, authorization)


def reader(identity: Annotated[Identity, Depends(any_token)]) -> Identity:
    """Dependency: a token that may read (reader or technician)."""
    if identity.role not in ("reader", "technician"):
        raise Refused(403, "reading needs a reader or technician token")
    return identity


def technician(identity: Annotated[Identity, Depends(any_token)]) -> str:
    """Dependency: a technician token; the author name of what it does."""
    if identity.role != "technician":
        raise Refused(403, "this action needs a technician token")
    return f"token:{identity.token_id}"


Reader = Annotated[Identity, Depends(reader)]
Technician = Annotated[str, Depends(technician)]
AnyToken = Annotated[Identity, Depends(any_token)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it grows past `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"body exceeds max_body_bytes ({limit})")
    return bytes(body)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str | None, default: int, name: str, now: int) -> int:
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
