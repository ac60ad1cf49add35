"""Login, logout, the stylesheet and the script: what answers before a session exists."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.services import now, services
from collector.web import auth
from collector.web.common import HERE, Forbidden, checked_form, form, language, render, secure
from collector.web.words import WORDS

LOGIN_CSRF = "vigie_login_csrf"
CSS = (HERE / "static" / "vigie.css").read_text()
SCRIPT = (HERE / "static" / "vigie.js").read_text()
router = APIRouter(include_in_schema=False)


@router.get("/static/vigie.css")
def stylesheet() -> Response:
    """The one stylesheet (no CDN, no build)."""
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/static/vigie.js")
def script() -> Response:
    """The one script: zoom by dragging on a chart (pages work without it)."""
    return Response(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})


def _login_page(request: Request, status: int = 200, **values: str) -> HTMLResponse:
    """The login form with a fresh CSRF token in a cookie of its own."""
    token = auth.new_token()
    response = render(request, "login.html", None, status=status, csrf=token, **values)
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure(request))
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return _login_page(request, next=next)


@router.post("/login")
async def login(request: Request) -> Response:
    """Open a session for a right name and password; the form again otherwise (401)."""
    fields = await form(request)
    lang = language(request)
    if not auth.same(fields.get("csrf", ""), request.cookies.get(LOGIN_CSRF, "") or "-"):
        raise Forbidden(WORDS[lang]["csrf"])
    repo = services(request).repository()
    user = repo.user(fields.get("username", ""))
    password = fields.get("password", "")
    valid = auth.verify_password(password, user.password if user else auth.DUMMY_HASH)
    if user is None or not valid:
        return _login_page(
            request, 401, next=fields.get("next", "/"), error=WORDS[lang]["bad_login"]
        )
    cookie = auth.new_token()
    repo.open_session(user, cookie, auth.new_token(), now(request), auth.SESSION_TTL)
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


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Close the session."""
    await checked_form(request, technician=False)
    services(request).repository().close_session(request.cookies.get(auth.SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
