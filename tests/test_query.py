"""`/api/v1/query` as a user tries it: strings and booleans read back as written, names that
do not exist answered 404 with those that do, one error shape, relative times."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import CollectorProcess, post, run_collector

pytestmark = pytest.mark.services  # every test here starts real processes

NOW = 0  # when the fixture wrote its points


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CollectorProcess, str]]:
    global NOW
    with run_collector(tmp_path_factory.mktemp("query")) as running:
        token = running.token("Tain", "copieur", role="poller")
        NOW = int(time.time())
        lines = [
            f'device_poll,site=Tain,host=copieur ok=false,error="pas de réponse" {NOW - 240}',
            f"device_poll,site=Tain,host=copieur ok=true,seconds=0.4 {NOW - 180}",
            f'printer,site=Tain,host=copieur status="Toner noir bas" {NOW - 120}',
            f'printer,site=Tain,host=copieur status="Prêt" {NOW - 60}',
        ]
        status, body = post(f"{running.url}/write?precision=s", "\n".join(lines).encode(), token)
        assert status == 204, body
        yield running, running.token("", "", role="reader")


def ask(collector: tuple[CollectorProcess, str], query: str) -> tuple[int, Any]:
    running, reader = collector
    request = urllib.request.Request(
        f"{running.url}/api/v1/query?{query}", headers={"Authorization": f"Token {reader}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def points(answer: Any) -> list[list[Any]]:
    [series] = answer["series"]
    return list(series["points"])


def test_strings_and_booleans_read_back_as_written(collector: Any) -> None:
    window = f"host=copieur&start={NOW - 600}&end={NOW}"
    status, answer = ask(collector, f"measurement=device_poll&field=error&{window}")
    assert status == 200 and points(answer) == [[NOW - 240, "pas de réponse"]]
    status, answer = ask(collector, f"measurement=device_poll&field=ok&{window}")
    assert points(answer) == [[NOW - 240, False], [NOW - 180, True]]
    status, answer = ask(collector, f"measurement=printer&field=status&{window}&step=600&agg=last")
    # Buckets start on multiples of the step: the two statuses share one 9 runs in 10, and the
    # last written wins it; otherwise each has its own.
    last_in_bucket: dict[int, str] = {}
    for at, status_text in ((NOW - 120, "Toner noir bas"), (NOW - 60, "Prêt")):
        last_in_bucket[at // 600 * 600] = status_text
    assert status == 200 and points(answer) == [list(item) for item in last_in_bucket.items()]


def test_averaging_text_is_a_400_saying_what_to_ask(collector: Any) -> None:
    status, answer = ask(collector, f"measurement=printer&field=status&start={NOW - 600}&step=60")
    assert status == 400
    assert "holds text" in answer["error"] and "agg=last" in answer["error"]


def test_unknown_names_are_404_with_those_that_exist(collector: Any) -> None:
    status, answer = ask(collector, "measurement=imprimante&field=status&host=copieur")
    assert status == 404 and answer["code"] == "not found"
    assert "measurements: device_poll, printer" in answer["error"]
    status, answer = ask(collector, "measurement=device_poll&field=erreur&host=copieur")
    assert status == 404 and "fields: ok, seconds" in answer["error"]
    # A field that exists but not in this range: an empty answer, not a 404.
    status, answer = ask(collector, f"measurement=device_poll&field=error&end={NOW - 3600}")
    assert status == 200 and answer == {"series": []}


def test_every_error_has_the_same_shape(collector: Any) -> None:
    status, answer = ask(collector, "field=usage_idle")
    assert status == 422 and "measurement" in answer["error"]
    assert set(answer) == {"error", "code", "message"}
    status, answer = ask(collector, "measurement=cpu&field=x&start=yesterday")
    assert status == 400 and "-30m" in answer["error"]


def test_relative_times(collector: Any) -> None:
    status, answer = ask(collector, "measurement=printer&field=status&start=-1h&end=now")
    assert status == 200 and [p[1] for p in points(answer)] == ["Toner noir bas", "Prêt"]
    status, answer = ask(collector, "measurement=printer&field=status&start=-90s&end=now")
    assert [p[1] for p in points(answer)] == ["Prêt"]


def test_json_path_quotes_names() -> None:
    """Field and tag names may hold dots, spaces and quotes."""
    from collector.store.query import json_path

    assert json_path('a "b".c') == '$."a ""b"".c"'
