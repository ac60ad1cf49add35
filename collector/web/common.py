"""What every page shares: the session's page context, rendering, forms with their CSRF
check, the errors pages raise, and the alert rows that several pages show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.notify.compose import SEVERITY_ORDER, Words
from collector.services import alerting, now, services
from collector.state import AlertRow, WebSession
from collector.web import auth
from collector.web.rows import AlertLine
from collector.web.words import WORDS

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
HEADERS = {
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

    @property
    def words(self) -> dict[str, str]:
        """The UI's words in the page's language."""
        return WORDS[self.language]

    @property
    def say(self) -> Words:
        """Numbers, durations and forecasts in the page's language and zone (the mails')."""
        return Words(self.language, self.zone.key)


def kind_word(kind: str, page: Page) -> str:
    """A device kind in the page's words ("" when unknown)."""
    return page.words.get(f"kind_{kind}", kind) if kind else ""


def language(request: Request) -> str:
    """The UI's language (the alerts' configured one)."""
    return services(request).config.alerts.language


def when(ts: int | None, page: Page) -> str:
    """A time as the page shows it, in its zone ("" for none)."""
    return datetime.fromtimestamp(ts, page.zone).strftime("%d/%m/%Y %H:%M") if ts else ""


def render(
    request: Request, name: str, page: Page | None, status: int = 200, **values: Any
) -> HTMLResponse:
    """A template with the page's words, user and CSRF token."""
    lang = page.language if page else language(request)
    text = ENV.get_template(name).render(
        t=WORDS[lang],
        lang=lang,
        user=page.session.user if page else None,
        csrf=page.session.csrf if page else values.pop("csrf", ""),
        can_act=page.can_act if page else False,
        **values,
    )
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def secure(request: Request) -> bool:
    """Whether cookies must be Secure (served over HTTPS, directly or behind a proxy)."""
    public = services(request).config.alerts.public_url
    return request.url.scheme == "https" or public.startswith("https://")


def page_of(request: Request) -> Page:
    """The page context of the session's cookie; NeedLogin without a valid one."""
    cookie = request.cookies.get(auth.SESSION_COOKIE, "")
    found = services(request).repository().web_session(cookie, now(request)) if cookie else None
    if found is None:
        raise NeedLogin
    zone = ZoneInfo(services(request).config.alerts.timezone)
    return Page(found, language(request), zone)


async def form(request: Request) -> dict[str, str]:
    """A posted form's fields (the first value of each)."""
    body = await request.body()
    if len(body) > 65536:
        raise Forbidden("form too large")
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}


async def checked_form(request: Request, technician: bool = True) -> tuple[Page, dict[str, str]]:
    """A form posted from one of our pages (CSRF token), by a technician unless said."""
    page = page_of(request)
    fields = await form(request)
    if not auth.same(fields.get("csrf", ""), page.session.csrf):
        raise Forbidden(WORDS[page.language]["csrf"])
    if technician and not page.can_act:
        raise Forbidden(WORDS[page.language]["forbidden"])
    return page, fields


def actor(author: str | None, page: Page) -> str:
    """Who did it, as people read it: the account's name for the pages ("web:marie"), the
    kind of token for the API ("token:3")."""
    if not author:
        return ""
    kind, _, who = author.partition(":")
    if kind == "web":
        return who
    if kind == "token":
        return WORDS[page.language]["by_token"].format(id=who)
    return author


def duration(alert: AlertRow, say: Words) -> str:
    """How long a resolved alert lasted ("" while it goes on)."""
    return "" if alert.resolved_at is None else say.duration(alert.resolved_at - alert.since)


def alert_rows(request: Request, page: Page, *groups: list[AlertRow]) -> list[list[AlertLine]]:
    """The rows of each group of alerts, annotated in one go; active ones by severity, then
    the newest first."""
    notifier = alerting(request).notifier
    groups = tuple(
        g if all(a.state == "resolved" for a in g)
        else sorted(g, key=lambda a: (SEVERITY_ORDER.get(a.severity, 3), -a.since))
        for g in groups
    )  # fmt: skip
    everything = [a for group in groups for a in group]
    annotated = notifier.annotate(services(request).repository(), everything, now(request))
    say = page.say
    rows = [
        AlertLine(
            a.id, a.site, a.host, a.rule, a.state, a.severity, text, when(a.since, page),
            notifier.value(a),
            action=notifier.action(a) if a.state == "firing" else "",
            quiet=quiet if a.state == "firing" else "",
            acked_by=actor(a.acked_by, page),
            ack_comment=a.ack_comment,
            ended_text=when(a.resolved_at, page),
            lasted=duration(a, say),
        )
        for a, text, quiet in annotated
    ]  # fmt: skip
    out, start = [], 0
    for group in groups:
        out.append(rows[start : start + len(group)])
        start += len(group)
    return out
