"""Silences and maintenance windows (validated by collector.muting, as the pages' are)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from collector.api.auth import Reader, RowId, Technician, parse_time, read_body
from collector.ingest.write import Refused
from collector.muting import SilenceError, new_silence
from collector.services import now, services

router = APIRouter()


@router.get("/api/v1/silences")
def list_silences(request: Request, _: Reader) -> dict[str, Any]:
    """Silences and maintenance windows in force or to come."""
    found = services(request).repository().silences(now(request))
    return {"silences": [dataclasses.asdict(s) for s in found]}


@router.post("/api/v1/silences", status_code=201)
async def add_silence(request: Request, author: Technician) -> dict[str, Any]:
    """Silence (from now, for `duration` seconds or until `ends`) or plan a maintenance
    window (`starts` in the future): by site, host and/or rule; `comment` says why."""
    try:
        body = json.loads(await read_body(request, 65536))
    except ValueError as err:
        raise Refused(400, f"expected a JSON object: {err}") from None
    if not isinstance(body, dict):
        raise Refused(400, "expected a JSON object")
    moment = now(request)
    starts = parse_time(str(body["starts"]) if "starts" in body else None, moment, "starts", moment)
    if "ends" in body:
        ends = parse_time(str(body["ends"]), moment, "ends", moment)
    elif isinstance(body.get("duration"), int) and body["duration"] > 0:
        ends = starts + body["duration"]
    else:
        raise Refused(400, "give `ends` (time) or `duration` (seconds)")
    try:
        asked = new_silence(body, starts, ends, str(body.get("comment", "")), moment)
    except SilenceError as err:
        raise Refused(400, str(err)) from None
    silence_id = services(request).repository().add_silence(asked, author, moment)
    return {"id": silence_id, "starts": starts, "ends": ends, "kind": asked.kind}


@router.delete("/api/v1/silences/{silence_id}", status_code=204)
def end_silence(request: Request, silence_id: RowId, _: Technician) -> Response:
    """Unsilence now."""
    if not services(request).repository().end_silence(silence_id, now(request)):
        raise Refused(404, f"no silence {silence_id} in force")
    return Response(status_code=204)
