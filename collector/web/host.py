"""A device: charts over a chosen range, its alerts and their history, SMART, supplies, UPS,
inventory and its changes."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from collector.rules.evaluate import least_squares
from collector.services import now, services
from collector.store.query import SeriesQuery, hosts_seen, latest_samples, run_query
from collector.web.charts import Line, line_chart
from collector.web.common import NotFound, Page, alert_rows, page_of, render, when
from collector.web.inventory import inventory_table
from collector.web.rows import ChangeLine, Table
from collector.web.words import RANGES, WORDS

router = APIRouter(include_in_schema=False)


def forecast_line(line: Line, now: int, word: str) -> Line | None:
    """A dashed continuation of a filling disk to 100 % (at most 30 days ahead)."""
    points = [(ts, v) for ts, v in line.points if ts >= now - 3 * 86400]
    if len(points) < 6:
        return None
    slope, current, _ = least_squares(points)
    if slope <= 0:
        return None
    full = points[-1][0] + int((100 - current) / slope)
    until = min(full, now + 30 * 86400)
    end_value = current + slope * (until - points[-1][0])
    return Line(
        f"{line.label} ({word})", [(points[-1][0], current), (until, end_value)], dashed=True
    )


class Charts:
    """The charts of one device over [start, end]."""

    def __init__(
        self, conn: sqlite3.Connection, site: str, host: str, span: tuple[int, int], raw_since: int
    ) -> None:
        self._conn, self._site, self._host, self._raw_since = conn, site, host, raw_since
        self.start, self.end = span
        self.step = max(60, (self.end - self.start) // 240)

    def lines(
        self,
        measurement: str,
        field: str,
        label: str,
        tags: dict[str, str] | None = None,
        rate: bool = False,
        scale: float = 1.0,
        flip: bool = False,
    ) -> list[Line]:
        """One line per series of a field, named by a tag."""
        asked = SeriesQuery(
            measurement, field, self.start, self.end, self._site, self._host, tags or {},
            self.step, rate,
        )  # fmt: skip
        found: list[dict[str, Any]] = run_query(self._conn, asked, self._raw_since)
        return [
            Line(
                str(s["tags"].get(label, "")) or "—",
                [(ts, (100 - v) if flip else v * scale) for ts, v in s["points"]],
            )
            for s in found
        ]

    def all(self, page: Page) -> list[str]:
        """Every chart that has data: CPU, memory, disks with forecasts, network,
        temperatures, printer supplies, UPS runtime."""
        t, zone, start, end = WORDS[page.language], page.zone, self.start, self.end
        charts = []
        percent = [
            (t["cpu"], self.lines("cpu", "usage_idle", "cpu", {"cpu": "cpu-total"}, flip=True)),
            (t["memory"], self.lines("mem", "used_percent", "host")),
        ]
        for title, lines in percent:
            if lines:
                charts.append(line_chart(title, lines, start, end, zone, " %", 0, 100))
        disks = self.lines("disk", "used_percent", "path")
        if disks:
            forecasts = [f for d in disks if (f := forecast_line(d, end, t["forecast"]))]
            chart_end = max([end, *(f.points[-1][0] for f in forecasts)])
            charts.append(
                line_chart(t["disks"], disks + forecasts, start, chart_end, zone, " %", 0, 100)
            )
        others = [
            (t["network"], self.lines("net", "bytes_recv", "interface", rate=True, scale=8),
             " bit/s", 0, None),
            (t["temperatures"], self.lines("temp", "temp", "sensor"), " °C", None, None),
            (t["supplies"], self.lines("printer_supply", "percent", "supply"), " %", 0, 100),
            (t["runtime"], self.lines("ups", "runtime_minutes", "mib"), " min", 0, None),
        ]  # fmt: skip
        for title, lines, unit, low, high in others:
            if lines:
                charts.append(line_chart(title, lines, start, end, zone, unit, low, high))
        return charts


@router.get("/sites/{site}/hosts/{host}")
def host_page(request: Request, site: str, host: str, range: str = "24h") -> HTMLResponse:
    """The device page."""
    page = page_of(request)
    svc = services(request)
    conn = svc.reader()
    end = now(request)
    t = WORDS[page.language]
    repo = svc.repository()
    found = repo.inventory(site, host)
    if found is None and not any(h == host for _, h, _ in hosts_seen(conn, site)):
        raise NotFound(f"{t['host']} {site}/{host} ?")
    span = (end - RANGES.get(range, RANGES["24h"]), end)
    raw_since = end - svc.config.storage.raw_retention_days * 86400
    charts = Charts(conn, site, host, span, raw_since).all(page)
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
        request, "host.html", page, site=site, host=host, range=range, ranges=list(RANGES),
        charts=charts, tables=tables, changes=changes, alerts=current_rows, history=history_rows,
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
