"""The fleet: communes sorted by what needs attention, and the machines with a wrong clock."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.services import now, services
from collector.store.query import hosts_seen
from collector.web.common import Page, page_of, render, when
from collector.web.rows import SiteLine, SkewedLine

SILENT_AFTER = 600  # a host with no data for 10 min counts as silent
_ORDER = {"critical": 0, "warning": 1, "ok": 2}
_SORTS: dict[str, Callable[[SiteLine], tuple[int | str, ...]]] = {
    "site": lambda r: (r.site,),
    "status": lambda r: (_ORDER[r.status], -r.critical, -r.warning, r.site),
    "firing": lambda r: (-r.critical - r.warning, r.site),
    "silent": lambda r: (-r.silent, r.site),
    "hosts": lambda r: (-r.hosts, r.site),
}
router = APIRouter(include_in_schema=False)


def site_rows(request: Request, page: Page, moment: int, q: str) -> list[SiteLine]:
    """One row per commune whose name holds `q`: hosts, silent ones, firing alerts by
    severity, status."""
    sites: dict[str, SiteLine] = {}
    wanted = q.lower()
    for site, _host, seen in hosts_seen(services(request).reader()):
        if wanted not in site.lower():
            continue
        row = sites.setdefault(site, SiteLine(site))
        row.hosts += 1
        row.silent += int(moment - seen > SILENT_AFTER)
        row.seen = max(row.seen, seen)
    for alert in services(request).repository().alerts(("firing",), limit=100000):
        if alert.site in sites and alert.severity == "critical":
            sites[alert.site].critical += 1
        elif alert.site in sites and alert.severity == "warning":
            sites[alert.site].warning += 1
    for row in sites.values():
        bad = "warning" if row.warning or row.silent else "ok"
        row.status = "critical" if row.critical else bad
        row.last_seen = when(row.seen, page)
    return list(sites.values())


@router.get("/")
def fleet(request: Request, q: str = "", sort: str = "status") -> HTMLResponse:
    """Every commune, the worst first (or sorted as asked), searchable by name."""
    page = page_of(request)
    moment = now(request)
    rows = site_rows(request, page, moment, q)
    rows.sort(key=_SORTS.get(sort, _SORTS["status"]))
    skewed = [
        SkewedLine(s.site, s.host, s.kind, s.dropped, when(s.last, page))
        for s in services(request).skewed.recent(moment)
    ]
    return render(request, "fleet.html", page, rows=rows, q=q, skewed=skewed)
