"""The fleet: communes sorted by what needs attention, and the machines with a wrong clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.services import now, services
from collector.web.common import Page, kind_word, page_of, render, when
from collector.web.rows import FoundLine, SilentLine, SiteLine, SkewedLine

SILENT_AFTER = 600  # a host with no data for 10 min counts as silent
SILENCES = (600, 3600, 86400, 7 * 86400)  # choices of "no news for more than"
SHOWN = 100
_ORDER = {"critical": 0, "warning": 1, "ok": 2}
_SORTS: dict[str, Callable[[SiteLine], tuple[int | str, ...]]] = {
    "site": lambda r: (r.site,),
    "status": lambda r: (_ORDER[r.status], -r.critical, -r.warning, r.site),
    "firing": lambda r: (-r.critical - r.warning, r.site),
    "silent": lambda r: (-r.silent, r.site),
    "hosts": lambda r: (-r.hosts, r.site),
}
router = APIRouter(include_in_schema=False)


Seen = list[tuple[str, str, int]]  # (site, host, newest sample time): store.query.hosts_seen


def site_rows(request: Request, page: Page, moment: int, q: str, seen: Seen) -> list[SiteLine]:
    """One row per commune whose name holds `q`: hosts, silent ones, firing alerts by
    severity, status."""
    sites: dict[str, SiteLine] = {}
    wanted = q.lower()
    for site, _host, last in seen:
        if wanted not in site.lower():
            continue
        row = sites.setdefault(site, SiteLine(site))
        row.hosts += 1
        row.silent += int(moment - last > SILENT_AFTER)
        row.seen = max(row.seen, last)
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


def found_devices(request: Request, q: str, page: Page, seen: Seen) -> list[FoundLine]:
    """The devices whose name holds `q`, or whose inventory does (an IP address, a serial
    number, a model): a search across communes."""
    if len(q) < 2:
        return []
    wanted = q.lower()
    found = {
        (site, host): page.words["by_name"] for site, host, _ in seen if wanted in host.lower()
    }
    for site, host, _, _ in services(request).repository().search_inventory(q, SHOWN):
        found.setdefault((site, host), page.words["by_inventory"])
    return [FoundLine(site, host, why) for (site, host), why in sorted(found.items())[:SHOWN]]


def silent_hosts(
    page: Page, moment: int, after: int, seen: Seen, kinds: dict[tuple[str, str], str]
) -> list[SilentLine]:
    """Hosts with no news for more than `after` seconds, the most recently silent first."""
    silent = sorted(
        ((last, site, host) for site, host, last in seen if moment - last > after), reverse=True
    )
    return [
        SilentLine(site, host, kind_word(kinds.get((site, host), ""), page), when(last, page),
                   page.say.duration(moment - last))
        for last, site, host in silent[:SHOWN]
    ]  # fmt: skip


@router.get("/")
def fleet(request: Request, q: str = "", sort: str = "status", silent: int = 3600) -> HTMLResponse:
    """Every commune, the worst first (or sorted as asked), searchable by commune, device,
    IP address or serial number; the devices without news; the count of each kind."""
    page = page_of(request)
    moment = now(request)
    newest = services(request).newest()
    seen, kinds = newest.hosts_seen(), newest.host_kinds()
    rows = site_rows(request, page, moment, q, seen)
    rows.sort(key=_SORTS.get(sort, _SORTS["status"]))
    skewed = [
        SkewedLine(s.site, s.host, s.kind, s.dropped, when(s.last, page))
        for s in services(request).skewed.recent(moment)
    ]
    counts = [
        (kind_word(k, page) or page.words["kind_unknown"], n)
        for k, n in Counter(kinds.values()).most_common()
    ]
    silent = silent if silent in SILENCES else 3600
    return render(
        request, "fleet.html", page, rows=rows, q=q, skewed=skewed, counts=counts,
        found=found_devices(request, q, page, seen),
        silent=silent_hosts(page, moment, silent, seen, kinds),
        silent_after=silent, silences=SILENCES, updated=when(moment, page), refresh=60,
    )  # fmt: skip
