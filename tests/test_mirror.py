"""The InfluxDB mirror against the real InfluxDB 1.6.7, and the v2 API against a checking server."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector.mirror.dialect import Unstorable, format_v1
from protocol.lineproto import Point
from tests import services
from tests.services import CollectorProcess, Influx, get_json, run_collector, run_influxdb

pytestmark = pytest.mark.services  # every test here starts real processes

T = int(time.time()) // 60 * 60 - 2 * 86400  # within the raw retention, in the past


def post(collector: CollectorProcess, lines: list[str], token: str) -> int:
    body = gzip.compress("\n".join(lines).encode())
    url = f"{collector.url}/write?precision=s"
    return services.post(url, body, token, {"Content-Encoding": "gzip"})[0]


def wait_until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    return check()


def influx_values(influx: Influx, db: str, q: str) -> list[list[Any]]:
    try:
        result = influx.query(q, db=db)["results"][0]
    except (urllib.error.URLError, OSError):
        return []
    series = result.get("series", [])
    return [row for s in series for row in s["values"]]


def test_v1_dialect_keeps_backslashes_literal_and_refuses_a_trailing_one() -> None:
    line = format_v1(Point("disk", {"path": "D:\\data", "site": "Le Pouzin, mairie"}, {"v": 1}, T))
    assert line == f"disk,path=D:\\data,site=Le\\ Pouzin\\,\\ mairie v=1i {T}"
    with pytest.raises(Unstorable, match="ends with a backslash"):
        format_v1(Point("disk", {"path": "D:\\"}, {"v": 1}, T))
    with pytest.raises(Unstorable, match="cannot store"):
        format_v1(Point("disk", {"path": "a\\ b"}, {"v": 1}, T))


def test_mirror_to_influxdb_1x_round_trips_awkward_tags(influxdb: Influx, tmp_path: Path) -> None:
    extra = f'[influxdb]\nurl = "{influxdb.url}"\napi = "v1"\ndatabase = "mirror1"\n'
    with run_collector(tmp_path, extra=extra) as collector:
        token = collector.token("Saint-Julien-en-Saint-Alban", "poller", role="poller")
        hosts = ["pc 1", "pc,2", "pc=3", 'pc"4', "écolé", "D:\\data"]
        lines = [
            Point(
                "disk",
                {"site": "Saint-Julien-en-Saint-Alban", "host": h, "path": "C:"},
                {"used_percent": 10.0 + i, "label": f'say "hi" {i}'},
                T + i,
            )
            for i, h in enumerate(hosts)
        ]
        from protocol.lineproto import format_points

        bad = Point(
            "disk",
            {"site": "Saint-Julien-en-Saint-Alban", "host": "x", "path": "D:\\"},
            {"used_percent": 1.0},
            T,
        )
        assert post(collector, [*format_points(lines), *format_points([bad])], token) == 204
        rows = wait_until(
            lambda: influx_values(
                influxdb,
                "mirror1",
                'SELECT "used_percent", "label", "host" FROM "disk" '
                "WHERE \"site\" = 'Saint-Julien-en-Saint-Alban'",
            )
        )
        assert sorted((r[3], r[1], r[2]) for r in rows) == sorted(
            (h, 10.0 + i, f'say "hi" {i}') for i, h in enumerate(hosts)
        )
        health = wait_until(  # the dead letter and the watermark commit together
            lambda: (
                h
                if (h := get_json(f"{collector.url}/healthz", "")["influxdb"])["dead_letters"]
                and h["outbox_requests"] == 0
                else None
            )
        )
        assert health["dead_letters"] == 1 and health["outbox_requests"] == 0


def test_influxdb_outage_loses_nothing(tmp_path: Path) -> None:
    influx_dir = tmp_path / "influx"
    influx_dir.mkdir()
    with run_influxdb(influx_dir) as influx:
        url = influx.url
    # InfluxDB is down now; the collector starts anyway and keeps everything in its outbox.
    extra = f'[influxdb]\nurl = "{url}"\ndatabase = "outage"\nretry_max_seconds = 2\n'
    with run_collector(tmp_path / "collector", extra=extra) as collector:
        token = collector.token("Viviers", "poller", role="poller")
        sent = 0
        for batch in range(20):
            lines = [
                f"ping,site=Viviers,host=dev{i} result_code=0i,seq={batch}i {T + batch}"
                for i in range(50)
            ]
            assert post(collector, lines, token) == 204
            sent += len(lines)
        health = get_json(f"{collector.url}/healthz", "")["influxdb"]
        assert health["outbox_requests"] > 0 and health["last_error"]
        port = int(url.rsplit(":", 1)[1])
        with run_influxdb(influx_dir, port) as influx:
            count = wait_until(
                lambda: (
                    (influx_values(influx, "outage", "SELECT count(seq) FROM ping") or [[0, 0]])[0][
                        1
                    ]
                    == sent
                ),
                60,
            )
            assert count, influx_values(influx, "outage", "SELECT count(seq) FROM ping")


class V2Checker(http.server.BaseHTTPRequestHandler):
    """Answers like InfluxDB 2 after checking the request as its API documents it."""

    requests: ClassVar[list[dict[str, Any]]] = []
    fail_first: ClassVar[list[int]] = []
    delay: ClassVar[float] = 0.0  # a slow server: seconds before each answer

    def do_POST(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        time.sleep(self.delay)
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.requests.append(
            {
                "path": parts.path,
                "query": parse_qs(parts.query),
                "auth": self.headers.get("Authorization"),
                "body": body.decode(),
            }
        )
        status = self.fail_first.pop(0) if self.fail_first else 204
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if status != 204:
            self.wfile.write(json.dumps({"code": "invalid", "message": "test refusal"}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def v2_server() -> Iterator[tuple[str, type[V2Checker]]]:
    handler = type("H", (V2Checker,), {"requests": [], "fail_first": [], "delay": 0.0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()


def test_v2_api_request_is_what_influxdb_2_documents(
    v2_server: tuple[str, type[V2Checker]], tmp_path: Path
) -> None:
    url, handler = v2_server
    handler.fail_first[:] = [503, 400]  # one retry, then one batch refused for good
    extra = (
        f'[influxdb]\nurl = "{url}"\napi = "v2"\norg = "syndicat"\nbucket = "vigie"\n'
        'token = "influx-secret"\nretry_max_seconds = 1\n'
    )
    with run_collector(tmp_path, extra=extra) as collector:
        token = collector.token("Cruas", "pc1")
        assert post(collector, [f"cpu,site=Cruas,host=pc1 usage_idle=50 {T}"], token) == 204
        wait_until(lambda: len(handler.requests) >= 2)  # 503, retried, then 400: dead letter
        assert post(collector, [f"cpu,site=Cruas,host=pc1 usage_idle=60 {T + 60}"], token) == 204
        wait_until(lambda: len(handler.requests) >= 3)
        first = handler.requests[0]
        assert first["path"] == "/api/v2/write"
        assert first["query"] == {"org": ["syndicat"], "bucket": ["vigie"], "precision": ["s"]}
        assert first["auth"] == "Token influx-secret"
        assert first["body"] == f"cpu,host=pc1,site=Cruas usage_idle=50.0 {T}"
        assert handler.requests[1]["body"] == first["body"]
        assert handler.requests[2]["body"] == f"cpu,host=pc1,site=Cruas usage_idle=60.0 {T + 60}"
        # the watermark is committed just after the target answered
        wait_until(
            lambda: get_json(f"{collector.url}/healthz", "")["influxdb"]["outbox_requests"] == 0
        )
        health = get_json(f"{collector.url}/healthz", "")["influxdb"]
        assert health["dead_letters"] == 1 and health["outbox_requests"] == 0


def test_a_slow_influxdb_slows_neither_ingest_nor_loses_order(
    v2_server: tuple[str, type[V2Checker]], tmp_path: Path
) -> None:
    url, handler = v2_server
    handler.delay = 2.0
    extra = (
        f'[influxdb]\nurl = "{url}"\napi = "v2"\norg = "syndicat"\nbucket = "vigie"\n'
        'token = "influx-secret"\n'
    )
    with run_collector(tmp_path, extra=extra) as collector:
        token = collector.token("Cruas", "pc1")
        for n in range(20):
            started = time.monotonic()
            assert post(collector, [f"cpu,site=Cruas,host=pc1 n={n}i {T + n}"], token) == 204
            assert time.monotonic() - started < 1.0, "ingest waited for InfluxDB"
        expected = [f"cpu,host=pc1,site=Cruas n={n}i {T + n}" for n in range(20)]

        def mirrored() -> list[str]:
            return [line for r in handler.requests for line in r["body"].splitlines()]

        assert wait_until(lambda: len(mirrored()) >= 20, 60)
        assert mirrored() == expected  # every line once, in order, after the slow answers
