"""The HTTP API fuzzed from its own OpenAPI description (schemathesis), with random, absent and
valid tokens of every role: no 5xx, no stack trace, nothing stored from a refused request; and
nothing but login, health and the write endpoints answers without credentials. The write
endpoints are a bare ASGI handler, outside the description: test_hostile.py fuzzes them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from starlette.routing import Route

from tests.alert_support import Lab
from tests.services import MailSink

ROLES = ("workstation", "poller", "reader", "technician")
OPEN_PATHS = {"/healthz", "/login", "/write", "/api/v2/write", "/api/v1/enroll", "/static"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("fuzz"), MailSink("127.0.0.1", 1), "h@example.org") as running:
        yield running


@pytest.fixture(scope="module")
def tokens(lab: Lab) -> dict[str, str]:
    return {role: lab.token("Privas", "pc", role=role) for role in ROLES}


def stored(lab: Lab) -> list[int]:
    conn = sqlite3.connect(lab.config.storage.path)
    try:
        return [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("ingest_log", "inventory", "silence", "enrollment", "token")
        ]
    finally:
        conn.close()


def send(lab: Lab, case: Any, token: str | None) -> Any:
    kwargs = case.as_transport_kwargs(base_url="https://testserver")
    headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    body = kwargs.pop("json", None)
    response = lab.client.request(
        kwargs.pop("method"),
        kwargs.pop("url"),
        headers=headers,
        params=kwargs.pop("params", None),
        json=body,
        content=kwargs.pop("data", None),
    )
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    assert "Traceback" not in response.text and 'File "' not in response.text
    return response


def fuzz(lab: Lab, check: Callable[[Any], None], examples: int = 25) -> int:
    """Run `check` on generated requests for every operation the API describes."""
    operations = 0
    for result in schemathesis.openapi.from_dict(lab.app.openapi()).get_all_operations():
        assert isinstance(result, Ok), f"the API description is invalid: {result.err()}"
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            check(case)

        run()
    return operations


def test_fuzzed_requests_without_a_valid_token_store_nothing(lab: Lab) -> None:
    def check(case: Any) -> None:
        before = stored(lab)
        generated = case.headers.get("authorization") if case.headers else None
        response = send(lab, case, None if generated is None else f"x{generated}")
        if case.path != "/healthz":
            assert response.status_code in (400, 401, 404, 405, 422), response.text[:200]
        assert stored(lab) == before

    assert fuzz(lab, check) >= 11


def test_fuzzed_requests_with_each_role_never_fail_on_the_server(
    lab: Lab, tokens: dict[str, str]
) -> None:
    def check(case: Any) -> None:
        for role in ROLES:
            send(lab, case, tokens[role])

    assert fuzz(lab, check) >= 11


def every_route(routes: list[Any]) -> Iterator[Any]:
    """The app's routes, those of included routers too (no prefixes are used)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from every_route(included.routes) if included is not None else (route,)


def test_nothing_but_login_health_and_writes_answers_without_credentials(lab: Lab) -> None:
    checked = 0
    for route in every_route(lab.app.routes):
        if not isinstance(route, Route) or any(route.path.startswith(p) for p in OPEN_PATHS):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            response = lab.client.request(method, path, follow_redirects=False)
            checked += 1
            if response.status_code in (302, 303):  # a page: sent to the login form
                assert response.headers["location"].startswith("/login"), (method, path)
            else:
                # 422: FastAPI checks required parameters before the token; no data either way
                assert response.status_code in (401, 403, 422), (method, path, response.status_code)
                assert response.json().keys() <= {"error", "code", "message", "detail"}
    assert checked >= 15
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert lab.client.get(path).status_code == 404


def test_metrics_need_a_reader_token_and_count_what_happened(
    lab: Lab, tokens: dict[str, str]
) -> None:
    now = int(lab.clock.now)
    lab.write(tokens["workstation"], [f"cpu,site=Privas,host=pc usage_idle=50 {now}"])
    assert lab.client.get("/metrics").status_code == 401
    denied = lab.client.get("/metrics", headers={"Authorization": f"Token {tokens['workstation']}"})
    assert denied.status_code == 403
    text = lab.client.get("/metrics", headers={"Authorization": f"Token {tokens['reader']}"}).text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["vigie_accepted_lines_total"] >= 1
    # every *_total is declared a counter (Prometheus' rate() relies on it)
    types = dict(line.split(" ")[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    assert all(kind == "counter" for name, kind in types.items() if name.endswith("_total"))
    assert values['vigie_write_requests_total{status="204"}'] >= 1
