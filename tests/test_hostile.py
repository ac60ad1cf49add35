"""Hostile input against the HTTP API (hypothesis): whatever the body, headers or token, no 5xx,
no stack trace in a response, and nothing stored from a rejected request."""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alert_support import Lab
from tests.services import MailSink

ENDPOINTS = ("/write?precision=s", "/api/v2/write?bucket=b&precision=s", "/api/v1/inventory",
             "/api/v1/enroll", "/api/v1/silences", "/login")  # fmt: skip
LINE_CHARS = st.sampled_from(list('cpu,site=host=\\" =,i.0123456789\ntruefalse#\x00\xff-+eE'))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(
        tmp_path_factory.mktemp("hostile"), MailSink("127.0.0.1", 1), "h@example.org"
    ) as running:
        yield running


def stored(lab: Lab) -> list[int]:
    """Rows in the tables a request could add to."""
    conn = sqlite3.connect(lab.config.storage.path)
    try:
        return [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("ingest_log", "inventory", "silence", "enrollment")
        ]
    finally:
        conn.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.one_of(st.binary(max_size=2000), st.text(LINE_CHARS, max_size=300).map(str.encode)),
    token=st.sampled_from(["", "vgt_not-a-token", "x" * 5000, "garbage\x7f"]),
    encoding=st.sampled_from(["", "gzip", "deflate", "br"]),
)
def test_garbage_gets_a_clean_4xx_and_stores_nothing(
    lab: Lab, endpoint: str, body: bytes, token: str, encoding: str
) -> None:
    before = stored(lab)
    payload = gzip.compress(body) if encoding == "gzip" and body[:1] == b"c" else body
    headers = {"Content-Encoding": encoding} if encoding else {}
    if token:
        headers["Authorization"] = f"Token {token}"
    response = lab.client.post(endpoint, content=payload, headers=headers)
    assert response.status_code < 500, (endpoint, response.status_code, response.text[:300])
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert stored(lab) == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.text(LINE_CHARS, min_size=1, max_size=400))
def test_an_agent_token_with_garbage_lines_stores_nothing(lab: Lab, body: str) -> None:
    token = getattr(lab, "_hostile_token", None) or lab.token("S", "h")
    lab._hostile_token = token  # type: ignore[attr-defined]
    before = stored(lab)
    response = lab.client.post(
        "/write?precision=s", content=body.encode(), headers={"Authorization": f"Token {token}"}
    )
    assert response.status_code in (204, 400, 403, 413), (response.status_code, response.text)
    if response.status_code != 204:
        assert stored(lab) == before
        assert "line" in response.json()["error"] or response.status_code != 400


def test_query_parameters_out_of_range_are_4xx(lab: Lab) -> None:
    reader = lab.token("", "", "reader")
    for query in ("start=abc", "step=-5", "agg=median", "start=9999999999999", "end=0&start=100"):
        response = lab.client.get(
            f"/api/v1/query?measurement=cpu&field=x&{query}",
            headers={"Authorization": f"Token {reader}"},
        )
        assert 400 <= response.status_code < 500, (query, response.status_code)
