"""GLPI inventories: agents and pollers post them, readers get a host's with its changes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from collector.api.auth import AnyToken, Reader, batch_key, read_body
from collector.ingest.write import Refused, decompress
from collector.inventory import validate_document
from collector.services import now, services

router = APIRouter()


@router.post("/api/v1/inventory", status_code=204)
async def post_inventory(request: Request, identity: AnyToken, host: str | None = None) -> Response:
    """Store a GLPI inventory (gzip allowed); a poller names the device with `?host=`."""
    svc = services(request)
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
    received = now(request)
    await asyncio.to_thread(
        lambda: svc.repository().save_inventory(
            identity.site, target, document, received, batch_key(identity, request)
        )
    )
    return Response(status_code=204)


@router.get("/api/v1/inventory/{site}/{host}")
def get_inventory(request: Request, site: str, host: str, _: Reader) -> dict[str, Any]:
    """A host's latest inventory and the history of its changes."""
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
