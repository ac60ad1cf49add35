"""A device: what it is, its alerts and their history, charts over a chosen range, SMART,
supplies, UPS, inventory and its changes."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.services import alerting, now, services
from collector.store.victoria import NodeError
from collector.web.common import NotFound, alert_rows, page_of, render, when
from collector.web.device_charts import Source, device_charts
from collector.web.device_summary import device_summary
from collector.web.device_tables import change_line, device_tables
from collector.web.inventory import inventory_table
from collector.web.timerange import RANGES, picker, span_of
from collector.web.words import WORDS

router = APIRouter(include_in_schema=False)


@router.get("/sites/{site}/hosts/{host}")
def host_page(
    request: Request, site: str, host: str, range: str = "24h", start: str = "", end: str = ""
) -> HTMLResponse:
    """The device page."""
    page = page_of(request)
    svc = services(request)
    newest = svc.newest()
    moment = now(request)
    t = WORDS[page.language]
    repo = svc.repository()
    found = repo.inventory(site, host)
    last_seen = next((seen for _, h, seen in newest.hosts_seen(site) if h == host), None)
    if found is None and last_seen is None:
        raise NotFound(f"{t['host']} {site}/{host} ?")
    document = found[1] if found else None
    header = device_summary(newest, site, host, document, page, last_seen, moment)
    span = span_of(range, start, end, moment, page.zone)
    source = Source(newest, site, host, svc.series(moment))
    rules = alerting(request).engine.ruleset
    problem = span.problem
    try:
        charts, axis = device_charts(source, rules, (span.start, span.end), page.zone,
                                     page.language, t)  # fmt: skip
    except NodeError:
        # the nodes are down: this collector's own part beats a blank page
        problem, source = "series_unreachable", replace(source, reads=svc.series(moment, True))
        charts, axis = device_charts(source, rules, (span.start, span.end), page.zone,
                                     page.language, t)  # fmt: skip
    alerts = [a for a in repo.alerts(("firing", "pending"), site) if a.host == host]
    history = [a for a in repo.alerts(("resolved",), site, 200) if a.host == host][:50]
    changes = [change_line(c, page) for c in repo.inventory_changes(site, host)[:50]]
    current_rows, history_rows = alert_rows(request, page, alerts, history)
    tables = device_tables(source, rules, page, moment)
    if found is not None:
        tables.insert(0, inventory_table(found[1], page))
    return render(
        request, "host.html", page, site=site, host=host, span=span, ranges=list(RANGES),
        picked=(picker(axis.start, page.zone), picker(span.end, page.zone)),
        charts=charts, tables=tables, changes=changes, alerts=current_rows, history=history_rows,
        header=header, refresh=60 if span.live else 0, updated=when(moment, page),
        error=t[problem] if problem else "",
    )  # fmt: skip
