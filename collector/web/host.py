"""A device: charts over a chosen range, its alerts and their history, SMART, supplies, UPS,
inventory and its changes."""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.services import alerting, now, services
from collector.store.query import hosts_seen, latest_samples
from collector.web.common import NotFound, Page, alert_rows, page_of, render, when
from collector.web.device_charts import Source, device_charts
from collector.web.device_summary import device_summary
from collector.web.inventory import inventory_table
from collector.web.rows import ChangeLine, Table
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
    conn = svc.reader()
    moment = now(request)
    t = WORDS[page.language]
    repo = svc.repository()
    found = repo.inventory(site, host)
    last_seen = next((seen for _, h, seen in hosts_seen(conn, site) if h == host), None)
    if found is None and last_seen is None:
        raise NotFound(f"{t['host']} {site}/{host} ?")
    document = found[1] if found else None
    header = device_summary(conn, site, host, document, page, last_seen, moment)
    span = span_of(range, start, end, moment, page.zone)
    source = Source(conn, site, host, moment - svc.config.storage.raw_retention_days * 86400)
    rules = alerting(request).engine.ruleset.rules
    charts, axis = device_charts(source, rules, (span.start, span.end), page.zone,
                                 page.language, t)  # fmt: skip
    alerts = [a for a in repo.alerts(("firing", "pending"), site) if a.host == host]
    history = [a for a in repo.alerts(("resolved",), site, 200) if a.host == host][:50]
    changes = [
        ChangeLine(when(c["received"], page), f"{c['change']} — {c['section']} : {c['item']}")
        for c in repo.inventory_changes(site, host)[:50]
    ]
    current_rows, history_rows = alert_rows(request, page, alerts, history)
    tables = host_tables(conn, site, host, page)
    if found is not None:
        tables.insert(0, inventory_table(found[1], page))
    return render(
        request, "host.html", page, site=site, host=host, span=span, ranges=list(RANGES),
        picked=(picker(axis.start, page.zone), picker(span.end, page.zone)),
        charts=charts, tables=tables, changes=changes, alerts=current_rows, history=history_rows,
        header=header, refresh=60 if span.live else 0, updated=when(moment, page),
        error=t[span.problem] if span.problem else "",
    )  # fmt: skip


def host_tables(conn: sqlite3.Connection, site: str, host: str, page: Page) -> list[Table]:
    """SMART, supplies and UPS tables from the newest samples."""
    t = WORDS[page.language]
    tables = []
    smart = latest_samples(conn, "smart_device", site, host)
    if smart:
        rows = [
            [
                tags.get("device", ""),
                tags.get("model", ""),
                "OK" if f.get("health_ok") else "!!",
                f.get("temp_c", ""),
                f.get("power_on_hours", ""),
            ]
            for _, tags, _, f in smart
        ]
        tables.append(Table(t["smart"], ["", t["model"], t["health"], "°C", "h"], rows))
        attrs = [
            [
                tags.get("device", ""),
                tags.get("name", ""),
                f.get("raw_value", ""),
                tags.get("fail", ""),
            ]
            for _, tags, _, f in latest_samples(conn, "smart_attribute", site, host)
            if tags.get("id") in ("5", "187", "188", "197", "198") or "id" not in tags
        ]
        if attrs:
            tables.append(Table(t["attributes"], ["", "", t["value"], ""], attrs))
    supplies = latest_samples(conn, "printer_supply", site, host)
    if supplies:
        rows = [
            [tags.get("supply", ""), tags.get("type", ""), f.get("percent", f.get("state", ""))]
            for _, tags, _, f in supplies
        ]
        tables.append(Table(t["supplies"], ["", t["type"], t["level"]], rows))
    ups = latest_samples(conn, "ups", site, host)
    if ups:
        rows = [
            [
                f.get("runtime_minutes", ""),
                f.get("charge_percent", ""),
                f.get("load_percent", ""),
                t["yes"] if f.get("output_source") == 5 else t["no"],
            ]
            for _, _, _, f in ups
        ]
        columns = [t["runtime"], t["charge"], t["load"], t["on_battery"]]
        tables.append(Table(t["ups"], columns, rows))
    return tables
