"""POST /api/v1/enroll: an enrollment code traded for the agent's own token."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request

from collector.api.auth import read_body
from collector.ingest.write import Refused
from collector.services import now, services

log = logging.getLogger(__name__)
router = APIRouter()


@router.post("/api/v1/enroll", status_code=201)
async def enroll(request: Request) -> dict[str, Any]:
    """Trade an enrollment code for the agent's own token (no other auth)."""
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
    repo = services(request).repository()
    try:
        token, site, role = repo.redeem_enrollment(code, host.strip(), now(request), client)
    except ValueError as err:
        # Logged with the address, never with the code: a guess or a replay is visible.
        log.warning("enrollment refused for host %r from %s: %s", host, client, err)
        raise Refused(403, str(err)) from None
    log.info("host %s/%s enrolled from %s as %s", site, host, client, role)
    return {"token": token, "site": site, "host": host.strip(), "role": role}
