"""A commune: its devices with their state, and its alerts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.services import now, services
from collector.web.common import NotFound, alert_rows, kind_word, page_of, render, when
from collector.web.fleet import SILENT_AFTER
from collector.web.rows import HostLine
from collector.web.words import WORDS

router = APIRouter(include_in_schema=False)


@router.get("/sites/{site}")
def site_page(request: Request, site: str) -> HTMLResponse:
    """The commune's devices (kind, status, reachable, last seen) and alerts."""
    page = page_of(request)
    moment = now(request)
    newest = services(request).newest()
    alerts = services(request).repository().alerts(("firing", "pending"), site)
    worst: dict[str, str] = {}
    for alert in alerts:
        if alert.state == "firing" and worst.get(alert.host) != "critical":
            worst[alert.host] = alert.severity
    seen = newest.hosts_seen(site)
    if not seen and not alerts:
        raise NotFound(f"{WORDS[page.language]['site']} {site} ?")
    pings = newest.latest_samples("ping", site)
    kinds = {h: kind for (_, h), kind in newest.host_kinds(site).items()}
    ups = {h: bool(f.get("up")) for h, _, _, f in pings}
    hosts = [
        HostLine(
            host,
            kind_word(kinds.get(host, ""), page),
            worst.get(host, "ok"),
            silent=moment - last > SILENT_AFTER,
            up=ups.get(host),
            last_seen=when(last, page),
        )
        for _, host, last in sorted(seen, key=lambda r: r[1])
    ]
    rows = alert_rows(request, page, alerts)[0]
    return render(request, "site.html", page, site=site, hosts=hosts, alerts=rows)
