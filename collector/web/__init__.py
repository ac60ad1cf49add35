"""The technicians' web UI served by the collector: login, fleet, sites, devices, alerts,
inventory search. Server-rendered, no front-end build, no CDN. One module per page;
`common` holds what they share."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response


def add_pages(app: FastAPI) -> None:
    """Register the pages' routers and the handlers of the errors pages raise."""
    # Imported here: `collector.web.auth` (password hashing, used by the CLI) must not pull
    # in the pages and the whole server with them.
    from collector.web import alerts, fleet, host, inventory, session, site
    from collector.web.common import (
        HEADERS,
        BadForm,
        Forbidden,
        NeedLogin,
        NotFound,
        page_of,
        render,
    )

    async def to_login(request: Request, exc: Exception) -> Response:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "base.html", page_of(request), status=404, error=str(exc))

    async def forbidden(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=403, headers=HEADERS)

    async def bad_form(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=400, headers=HEADERS)

    for error, handler in (
        (NeedLogin, to_login), (NotFound, not_found), (Forbidden, forbidden), (BadForm, bad_form)
    ):  # fmt: skip
        app.add_exception_handler(error, handler)
    for module in (session, fleet, site, host, alerts, inventory):
        app.include_router(module.router)
