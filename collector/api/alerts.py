"""Alerts: list them with why each is quiet, acknowledge one or take it back."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from collector.api.auth import Reader, RowId, Technician
from collector.ingest.write import Refused
from collector.services import alerting, now, services

router = APIRouter()
_STATES = {"active": ("pending", "firing"), "all": ("pending", "firing", "resolved")}


@router.get("/api/v1/alerts")
def list_alerts(
    request: Request,
    _: Reader,
    state: Annotated[str, Query(pattern="^(active|firing|pending|resolved|all)$")] = "active",
    site: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    """Alerts (active = pending and firing), newest first, with their value in words, what to
    do, and why each is quiet."""
    repo = services(request).repository()
    found = repo.alerts(_STATES.get(state, (state,)), site, limit)
    notifier = alerting(request).notifier
    annotated = notifier.annotate(repo, found, now(request))
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


@router.post("/api/v1/alerts/{alert_id}/ack")
def acknowledge(
    request: Request, alert_id: RowId, author: Technician, comment: str = ""
) -> dict[str, Any]:
    """Acknowledge a firing alert (with an optional comment): no more reminders while it
    lasts."""
    if not services(request).repository().acknowledge(alert_id, author, now(request), comment):
        raise Refused(404, f"no firing alert {alert_id}")
    return {"id": alert_id, "acknowledged_by": author, "comment": comment[:500]}


@router.delete("/api/v1/alerts/{alert_id}/ack")
def unacknowledge(request: Request, alert_id: RowId, _: Technician) -> dict[str, Any]:
    """Take an acknowledgement back: the alert reminds again."""
    if not services(request).repository().unacknowledge(alert_id):
        raise Refused(404, f"no acknowledged firing alert {alert_id}")
    return {"id": alert_id, "acknowledged_by": None}
