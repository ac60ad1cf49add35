"""The alerts page, and what technicians do from it: acknowledge, silence, plan maintenance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.muting import SilenceError, new_silence
from collector.services import alerting, now, services
from collector.web.common import (
    BadForm,
    Page,
    actor,
    alert_rows,
    checked_form,
    page_of,
    render,
    when,
)
from collector.web.timerange import picked_time

ALERTS_SHOWN = 200
router = APIRouter(include_in_schema=False)


@router.get("/alerts")
def alerts_page(request: Request, site: str | None = None) -> HTMLResponse:
    """Firing, pending and resolved alerts (the newest of each), silences, maintenance."""
    page = page_of(request)
    repo = services(request).repository()
    site = site or None
    silences = [
        {
            "id": s.id, "site": s.site, "host": s.host, "rule": s.rule,
            "starts": when(s.starts, page), "ends": when(s.ends, page),
            "comment": s.comment, "author": actor(s.author, page),
        }
        for s in repo.silences(now(request))
    ]  # fmt: skip
    seen = services(request).newest().hosts_seen()
    choices = {
        "sites": sorted({s for s, _, _ in seen}),
        "hosts": sorted({h for _, h, _ in seen}),
        "rules": sorted(r.name for r in alerting(request).engine.ruleset.rules),
    }
    # A storm (a region cut off) must not make a page nobody can read: the newest
    # ALERTS_SHOWN of each kind, the counts, and a filter by commune.
    firing, pending, resolved = alert_rows(
        request,
        page,
        repo.alerts(("firing",), site, ALERTS_SHOWN),
        repo.alerts(("pending",), site, ALERTS_SHOWN),
        repo.alerts(("resolved",), site, 100),
    )
    return render(
        request, "alerts.html", page, firing=firing, pending=pending, resolved=resolved,
        counts=repo.alert_counts(site), site=site or "", shown=ALERTS_SHOWN, silences=silences,
        choices=choices, updated=when(now(request), page), refresh=60,
    )  # fmt: skip


@router.post("/alerts/{alert_id}/ack")
async def ack(request: Request, alert_id: int) -> Response:
    """Acknowledge a firing alert, with a comment: no more reminders while it lasts."""
    page, fields = await checked_form(request)
    author = f"web:{page.session.user.name}"
    comment = fields.get("comment", "").strip()
    services(request).repository().acknowledge(alert_id, author, now(request), comment)
    return RedirectResponse(request.headers.get("referer") or "/alerts", status_code=303)


@router.post("/alerts/{alert_id}/unack")
async def unack(request: Request, alert_id: int) -> Response:
    """Take an acknowledgement back: the alert reminds again."""
    await checked_form(request)
    services(request).repository().unacknowledge(alert_id)
    return RedirectResponse(request.headers.get("referer") or "/alerts", status_code=303)


def _span(fields: dict[str, str], page: Page, moment: int) -> tuple[int, int]:
    """From now for `duration` seconds, or between the dates picked (in the page's zone)."""
    if fields.get("duration", "").isdigit():
        return moment, moment + int(fields["duration"])
    try:
        return picked_time(fields["starts"], page.zone), picked_time(fields["ends"], page.zone)
    except (KeyError, ValueError):
        raise BadForm("starts and ends must be dates") from None


@router.post("/silences")
async def silence(request: Request) -> Response:
    """A silence from the alert's row, or a maintenance window from the form."""
    page, fields = await checked_form(request)
    moment = now(request)
    starts, ends = _span(fields, page, moment)
    try:
        asked = new_silence(fields, starts, ends, fields.get("comment", ""), moment)
    except SilenceError as err:
        raise BadForm(str(err)) from None
    services(request).repository().add_silence(asked, f"web:{page.session.user.name}", moment)
    return RedirectResponse(request.headers.get("referer") or "/alerts", status_code=303)


@router.post("/silences/{silence_id}/end")
async def end_silence(request: Request, silence_id: int) -> Response:
    """End a silence or a maintenance window now."""
    await checked_form(request)
    services(request).repository().end_silence(silence_id, now(request))
    return RedirectResponse("/alerts", status_code=303)
