"""The web UI's routes: login and sessions, fleet, site, device, alerts, inventory (+ CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.muting import SilenceError, new_silence
from collector.repository import AlertRow, WebSession
from collector.rules.evaluate import least_squares
from collector.services import services
from collector.store.query import SeriesQuery, hosts_seen, latest_samples, run_query
from collector.web import auth
from collector.web.charts import Line, line_chart
from collector.web.words import RANGES, WORDS

HERE = Path(__file__).parent
SILENT_AFTER = 600  # a host with no data for 10 min counts as silent
ALERTS_SHOWN = 200
LOGIN_CSRF = "vigie_login_csrf"
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NeedLogin(Exception):
    """The page needs a session; the browser goes to the login form."""


class NotFound(Exception):
    """No such commune or device: a 404 page."""


class Forbidden(Exception):
    """The user's role may not do this (or the form's CSRF token is wrong)."""


class BadForm(Exception):
    """A form filled in wrong (400, as the API answers the same mistake)."""


@dataclass(frozen=True, slots=True)
class Page:
    """What every page knows: who, in which language and zone."""

    session: WebSession
    language: str
    zone: ZoneInfo

    @property
    def can_act(self) -> bool:
        """Technicians acknowledge, silence, plan maintenance."""
        return self.session.user.role == "technician"


def add_pages(app: FastAPI) -> None:
    """Register the UI routes on the app."""

    def clock() -> float:
        return float(app.state.clock())

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
    css = (HERE / "static" / "vigie.css").read_text()

    def language(request: Request) -> str:
        return services(request).config.alerts.language

    def zone(request: Request) -> ZoneInfo:
        return ZoneInfo(services(request).config.alerts.timezone)

    def when(ts: int | None, page: Page) -> str:
        return datetime.fromtimestamp(ts, page.zone).strftime("%d/%m/%Y %H:%M") if ts else ""

    def render(
        request: Request, name: str, page: Page | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        lang = page.language if page else language(request)
        text = env.get_template(name).render(
            t=WORDS[lang],
            lang=lang,
            user=page.session.user if page else None,
            csrf=page.session.csrf if page else values.pop("csrf", ""),
            can_act=page.can_act if page else False,
            **values,
        )
        return HTMLResponse(text, status_code=status, headers=_HEADERS)

    def secure(request: Request) -> bool:
        public = services(request).config.alerts.public_url
        return request.url.scheme == "https" or public.startswith("https://")

    def page_of(request: Request) -> Page:
        cookie = request.cookies.get(auth.SESSION_COOKIE, "")
        found = services(request).repository().web_session(cookie, int(clock())) if cookie else None
        if found is None:
            raise NeedLogin
        return Page(found, language(request), zone(request))

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > 65536:
            raise Forbidden("form too large")
        return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}

    async def checked_form(
        request: Request, technician: bool = True
    ) -> tuple[Page, dict[str, str]]:
        page = page_of(request)
        fields = await form(request)
        if not auth.same(fields.get("csrf", ""), page.session.csrf):
            raise Forbidden(WORDS[page.language]["csrf"])
        if technician and not page.can_act:
            raise Forbidden(WORDS[page.language]["forbidden"])
        return page, fields

    @app.exception_handler(NeedLogin)
    async def to_login(request: Request, exc: NeedLogin) -> Response:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        page = page_of(request)
        return render(request, "base.html", page, status=404, error=str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return PlainTextResponse(str(exc), status_code=403, headers=_HEADERS)

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, exc: BadForm) -> Response:
        return PlainTextResponse(str(exc), status_code=400, headers=_HEADERS)

    @app.get("/static/vigie.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        token = auth.new_token()
        response = render(request, "login.html", None, csrf=token, next=next)
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure(request)
        )
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = await form(request)
        lang = language(request)
        if not auth.same(fields.get("csrf", ""), request.cookies.get(LOGIN_CSRF, "") or "-"):
            raise Forbidden(WORDS[lang]["csrf"])
        repo = services(request).repository()
        user = repo.user(fields.get("username", ""))
        password = fields.get("password", "")
        valid = auth.verify_password(password, user.password if user else auth.DUMMY_HASH)
        if user is None or not valid:
            token = auth.new_token()
            response = render(
                request,
                "login.html",
                None,
                status=401,
                csrf=token,
                next=fields.get("next", "/"),
                error=WORDS[lang]["bad_login"],
            )
            response.set_cookie(
                LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure(request)
            )
            return response
        cookie = auth.new_token()
        repo.open_session(user, cookie, auth.new_token(), int(clock()), auth.SESSION_TTL)
        target = fields.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # never an open redirect
        redirect = RedirectResponse(target, status_code=303)
        redirect.set_cookie(
            auth.SESSION_COOKIE,
            cookie,
            max_age=auth.SESSION_TTL,
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        redirect.delete_cookie(LOGIN_CSRF)
        return redirect

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        await checked_form(request, technician=False)
        services(request).repository().close_session(request.cookies.get(auth.SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE)
        return response

    def alert_rows(
        request: Request, page: Page, *groups: list[AlertRow]
    ) -> list[list[dict[str, Any]]]:
        """The rows of each group of alerts, annotated in one go."""
        alerting = services(request).alerting
        assert alerting is not None
        everything = [a for group in groups for a in group]
        annotated = alerting.notifier.annotate(
            services(request).repository(), everything, int(clock())
        )
        notifier = alerting.notifier
        rows = [
            {
                "id": a.id,
                "site": a.site,
                "host": a.host,
                "rule": a.rule,
                "state": a.state,
                "severity": a.severity,
                "summary": text,
                "since_text": when(a.since, page),
                "value_text": notifier.value(a),
                "action": notifier.action(a) if a.state == "firing" else "",
                "quiet": quiet if a.state == "firing" else "",
                "acked_by": a.acked_by,
            }
            for a, text, quiet in annotated
        ]
        out, start = [], 0
        for group in groups:
            out.append(rows[start : start + len(group)])
            start += len(group)
        return out

    @app.get("/", include_in_schema=False)
    def fleet(request: Request, q: str = "", sort: str = "status") -> HTMLResponse:
        page = page_of(request)
        now = int(clock())
        repo = services(request).repository()
        sites: dict[str, dict[str, Any]] = {}
        for site, _host, seen in hosts_seen(services(request).reader()):
            row = sites.setdefault(
                site,
                {"site": site, "hosts": 0, "silent": 0, "seen": 0, "critical": 0, "warning": 0},
            )
            row["hosts"] += 1
            row["silent"] += int(now - seen > SILENT_AFTER)
            row["seen"] = max(row["seen"], seen)
        for alert in repo.alerts(("firing",), limit=100000):
            if alert.site in sites and alert.severity in ("critical", "warning"):
                sites[alert.site][alert.severity] += 1
        rows = [r for r in sites.values() if q.lower() in r["site"].lower()]
        for row in rows:
            row["status"] = (
                "critical"
                if row["critical"]
                else "warning"
                if row["warning"] or row["silent"]
                else "ok"
            )
            row["last_seen"] = when(row["seen"], page)
        order = {"critical": 0, "warning": 1, "ok": 2}
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "site": lambda r: r["site"],
            "status": lambda r: (order[r["status"]], -r["critical"], -r["warning"], r["site"]),
            "firing": lambda r: (-r["critical"] - r["warning"], r["site"]),
            "silent": lambda r: (-r["silent"], r["site"]),
            "hosts": lambda r: (-r["hosts"], r["site"]),
        }
        rows.sort(key=keys.get(sort, keys["status"]))
        skewed = [
            {**s._asdict(), "last_text": when(s.last, page)}
            for s in services(request).skewed.recent(now)
        ]
        return render(request, "fleet.html", page, rows=rows, q=q, skewed=skewed)

    @app.get("/sites/{site}", include_in_schema=False)
    def site_page(request: Request, site: str) -> HTMLResponse:
        page = page_of(request)
        now = int(clock())
        conn = services(request).reader()
        alerts = services(request).repository().alerts(("firing", "pending"), site)
        worst: dict[str, str] = {}
        for alert in alerts:
            if alert.state == "firing" and worst.get(alert.host) != "critical":
                worst[alert.host] = alert.severity
        seen = hosts_seen(conn, site)
        if not seen and not alerts:
            raise NotFound(f"{WORDS[page.language]['site']} {site} ?")
        pings = latest_samples(conn, "ping", site)
        kinds = {h: str(tags.get("kind", "")) for h, tags, _, _ in pings}
        ups = {h: bool(f.get("up")) for h, _, _, f in pings}
        hosts = [
            {
                "host": host,
                "kind": kinds.get(host, ""),
                "status": worst.get(host, "ok"),
                "silent": now - last > SILENT_AFTER,
                "up": ups.get(host),
                "last_seen": when(last, page),
            }
            for _, host, last in sorted(seen, key=lambda r: r[1])
        ]
        return render(
            request,
            "site.html",
            page,
            site=site,
            hosts=hosts,
            alerts=alert_rows(request, page, alerts)[0],
        )

    @app.get("/sites/{site}/hosts/{host}", include_in_schema=False)
    def host_page(request: Request, site: str, host: str, range: str = "24h") -> HTMLResponse:
        page = page_of(request)
        svc = services(request)
        conn = svc.reader()
        seconds = RANGES.get(range, RANGES["24h"])
        end = int(clock())
        start = end - seconds
        step = max(60, seconds // 240)
        raw_since = end - svc.config.storage.raw_retention_days * 86400
        t = WORDS[page.language]
        known = any(h == host for _, h, _ in hosts_seen(conn, site))
        if not known and svc.repository().inventory(site, host) is None:
            raise NotFound(f"{t['host']} {site}/{host} ?")

        def series(
            measurement: str, field: str, tags: dict[str, str] | None = None, rate: bool = False
        ) -> list[dict[str, Any]]:
            query = SeriesQuery(measurement, field, start, end, site, host, tags or {}, step, rate)
            return run_query(conn, query, raw_since)

        def lines(
            found: list[dict[str, Any]], label: str, scale: float = 1.0, flip: bool = False
        ) -> list[Line]:
            return [
                Line(
                    str(s["tags"].get(label, "")) or "—",
                    [(ts, (100 - v) if flip else v * scale) for ts, v in s["points"]],
                )
                for s in found
            ]

        charts = []
        cpu = lines(series("cpu", "usage_idle", {"cpu": "cpu-total"}), "cpu", flip=True)
        if cpu:
            charts.append(line_chart(t["cpu"], cpu, start, end, page.zone, " %", 0, 100))
        mem = lines(series("mem", "used_percent"), "host")
        if mem:
            charts.append(line_chart(t["memory"], mem, start, end, page.zone, " %", 0, 100))
        disks = lines(series("disk", "used_percent"), "path")
        if disks:
            forecasts = [f for d in disks if (f := forecast_line(d, end, t["forecast"]))]
            chart_end = max([end, *(f.points[-1][0] for f in forecasts)])
            charts.append(
                line_chart(t["disks"], disks + forecasts, start, chart_end, page.zone, " %", 0, 100)
            )
        net = lines(series("net", "bytes_recv", rate=True), "interface", scale=8)
        if net:
            charts.append(line_chart(t["network"], net, start, end, page.zone, " bit/s", 0))
        temps = lines(series("temp", "temp"), "sensor")
        if temps:
            charts.append(line_chart(t["temperatures"], temps, start, end, page.zone, " °C"))
        supplies = lines(series("printer_supply", "percent"), "supply")
        if supplies:
            charts.append(line_chart(t["supplies"], supplies, start, end, page.zone, " %", 0, 100))
        runtime = lines(series("ups", "runtime_minutes"), "mib")
        if runtime:
            charts.append(line_chart(t["runtime"], runtime, start, end, page.zone, " min", 0))
        repo = svc.repository()
        alerts = [a for a in repo.alerts(("firing", "pending"), site) if a.host == host]
        history = [a for a in repo.alerts(("resolved",), site, 200) if a.host == host][:50]
        changes = [
            {
                "when": when(c["received"], page),
                "text": f"{c['change']} — {c['section']} : {c['item']}",
            }
            for c in repo.inventory_changes(site, host)[:50]
        ]
        current_rows, history_rows = alert_rows(request, page, alerts, history)
        tables = host_tables(conn, site, host, page)
        found = repo.inventory(site, host)
        if found is not None:
            tables.insert(0, inventory_table(found[1], page))
        return render(
            request,
            "host.html",
            page,
            site=site,
            host=host,
            range=range,
            ranges=list(RANGES),
            charts=charts,
            tables=tables,
            changes=changes,
            alerts=current_rows,
            history=history_rows,
        )

    @app.get("/alerts", include_in_schema=False)
    def alerts_page(request: Request, site: str | None = None) -> HTMLResponse:
        page = page_of(request)
        repo = services(request).repository()
        site = site or None
        silences = [
            {
                "id": s.id,
                "site": s.site,
                "host": s.host,
                "rule": s.rule,
                "starts": when(s.starts, page),
                "ends": when(s.ends, page),
                "comment": s.comment,
                "author": s.author,
            }
            for s in repo.silences(int(clock()))
        ]
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
            request,
            "alerts.html",
            page,
            firing=firing,
            pending=pending,
            resolved=resolved,
            counts=repo.alert_counts(site),
            site=site or "",
            shown=ALERTS_SHOWN,
            silences=silences,
        )

    @app.post("/alerts/{alert_id}/ack", include_in_schema=False)
    async def ack(request: Request, alert_id: int) -> Response:
        page, _ = await checked_form(request)
        services(request).repository().acknowledge(
            alert_id, f"web:{page.session.user.name}", int(clock())
        )
        return RedirectResponse(request.headers.get("referer") or "/alerts", status_code=303)

    @app.post("/silences", include_in_schema=False)
    async def silence(request: Request) -> Response:
        page, fields = await checked_form(request)
        now = int(clock())
        if fields.get("duration", "").isdigit():
            starts, ends = now, now + int(fields["duration"])
        else:
            try:
                starts = int(
                    datetime.fromisoformat(fields["starts"]).replace(tzinfo=page.zone).timestamp()
                )
                ends = int(
                    datetime.fromisoformat(fields["ends"]).replace(tzinfo=page.zone).timestamp()
                )
            except (KeyError, ValueError):
                raise BadForm("starts and ends must be dates") from None
        try:
            asked = new_silence(fields, starts, ends, fields.get("comment", ""), now)
        except SilenceError as err:
            raise BadForm(str(err)) from None
        services(request).repository().add_silence(asked, f"web:{page.session.user.name}", now)
        return RedirectResponse(request.headers.get("referer") or "/alerts", status_code=303)

    @app.post("/silences/{silence_id}/end", include_in_schema=False)
    async def end_silence(request: Request, silence_id: int) -> Response:
        await checked_form(request)
        services(request).repository().end_silence(silence_id, int(clock()))
        return RedirectResponse("/alerts", status_code=303)

    def inventory_rows(request: Request, q: str, max_ram: str) -> list[dict[str, Any]]:
        repo = services(request).repository()
        found = repo.search_inventory(q) if q else repo.all_inventories()
        rows = [
            summary_of(site, host, itemtype, document) for site, host, itemtype, document in found
        ]
        try:
            limit = float(max_ram) if max_ram else None
        except ValueError:
            limit = None
        if limit is not None:
            rows = [r for r in rows if r["ram"] != "" and float(r["ram"]) <= limit]
        return rows

    @app.get("/inventory", include_in_schema=False)
    def inventory(request: Request, q: str = "", max_ram: str = "") -> HTMLResponse:
        page = page_of(request)
        rows = inventory_rows(request, q, max_ram)
        return render(request, "inventory.html", page, rows=rows, q=q, max_ram=max_ram)

    @app.get("/inventory.csv", include_in_schema=False)
    def inventory_csv(request: Request, q: str = "", max_ram: str = "") -> Response:
        page_of(request)
        out = io.StringIO()
        columns = ["site", "host", "itemtype", "os", "model", "serial", "ram"]
        writer = csv.DictWriter(out, columns, extrasaction="ignore")
        writer.writeheader()
        for row in inventory_rows(request, q, max_ram):
            # a leading = + - @ would be a formula in a spreadsheet
            writer.writerow(
                {
                    k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v)
                    for k, v in row.items()
                }
            )
        headers = {"Content-Disposition": 'attachment; filename="vigie-inventaire.csv"', **_HEADERS}
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


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


def summary_of(site: str, host: str, itemtype: str, document: str) -> dict[str, Any]:
    """The inventory columns of one document."""
    content = json.loads(document).get("content", {})
    os_info = content.get("operatingsystem", {})
    hardware = content.get("hardware", {})
    device = content.get("network_device", {})
    bios = content.get("bios", {})
    memory_mb = hardware.get("memory") or sum(
        int(m.get("capacity", 0) or 0) for m in content.get("memories", [])
    )
    return {
        "site": site,
        "host": host,
        "itemtype": itemtype,
        "os": os_info.get("full_name") or os_info.get("name") or device.get("firmware", ""),
        "model": bios.get("smodel") or device.get("model", ""),
        "serial": bios.get("ssn") or device.get("serial", ""),
        "ram": f"{memory_mb / 1024:.1f}" if memory_mb else "",
    }


def inventory_table(document: dict[str, Any], page: Page) -> dict[str, Any]:
    """The device's inventory at a glance: system, model, serial, CPU, memory, disks, software."""
    t = WORDS[page.language]
    content = document.get("content", {})
    summary = summary_of("", "", "", json.dumps(document))
    cpus = ", ".join(str(c.get("name", "")) for c in content.get("cpus", []))
    disks = ", ".join(
        f"{d.get('model', d.get('name', ''))} ({round(int(d.get('disksize', 0) or 0) / 1024)} Go)"
        for d in content.get("storages", [])
    )
    rows = [
        [t["os"], summary["os"]],
        [t["model"], summary["model"]],
        [t["serial"], summary["serial"]],
        ["CPU", cpus],
        [t["ram"], summary["ram"]],
        [t["disks"], disks],
        [t["software"], str(len(content.get("softwares", [])))],
    ]
    return {"title": t["inventory"], "columns": ["", ""], "rows": [r for r in rows if r[1]]}


def host_tables(conn: Any, site: str, host: str, page: Page) -> list[dict[str, Any]]:
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
        tables.append(
            {"title": t["smart"], "columns": ["", t["model"], t["health"], "°C", "h"], "rows": rows}
        )
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
            tables.append(
                {"title": t["attributes"], "columns": ["", "", t["value"], ""], "rows": attrs}
            )
    supplies = latest_samples(conn, "printer_supply", site, host)
    if supplies:
        rows = [
            [tags.get("supply", ""), tags.get("type", ""), f.get("percent", f.get("state", ""))]
            for _, tags, _, f in supplies
        ]
        tables.append(
            {"title": t["supplies"], "columns": ["", t["type"], t["level"]], "rows": rows}
        )
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
        tables.append({"title": t["ups"], "columns": columns, "rows": rows})
    return tables
