"""Ingest through the running collector: identity, limits, clients, idempotency, kill -9."""

from __future__ import annotations

import gzip
import json
import random
import signal
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests import services
from tests.services import CollectorProcess, get_json, run_collector

pytestmark = pytest.mark.services  # every test here starts real processes

LIMITS = """[limits]
max_body_bytes = 200000
max_decompressed_bytes = 400000
max_lines = 1000
max_tags = 6
max_string_length = 64
"""
T = int(time.time()) // 60 * 60 - 2 * 86400  # within the raw retention, in the past


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    with run_collector(tmp_path_factory.mktemp("ingest"), extra=LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def reader(collector: CollectorProcess) -> str:
    return collector.token("", "", role="reader")


def post(
    collector: CollectorProcess,
    body: bytes,
    token: str,
    path: str = "/write?precision=s",
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    return services.post(collector.url + path, body, token, headers)


def values(collector: CollectorProcess, reader: str, **params: str) -> list[list[float]]:
    params.setdefault("start", str(T - 10))
    params.setdefault("end", str(T + 3600))
    series = get_json(f"{collector.url}/api/v1/query?{urlencode(params)}", reader)["series"]
    return [p for s in series for p in s["points"]]


def test_points_outside_the_time_window_are_a_partial_write(
    collector: CollectorProcess, reader: str
) -> None:
    """Like InfluxDB's partial write: 400 naming the first line outside the window (older
    than the raw retention, or further ahead than max_future), the rest stored and readable;
    the sender is counted in /metrics."""
    token = collector.token("Cruas", "pc-horloge")
    now = int(time.time())
    body = (
        f"mem,site=Cruas,host=pc-horloge used_percent=41 {now - 60}\n"
        f"mem,site=Cruas,host=pc-horloge used_percent=42 {now - 40 * 86400}\n"
        f"mem,site=Cruas,host=pc-horloge used_percent=43 {now + 7200}\n"
        f"mem,site=Cruas,host=pc-horloge used_percent=44 {now}\n"
    )
    status, text = post(collector, gzip.compress(body.encode()), token)
    assert status == 400, text
    error = json.loads(text)["error"]
    assert error.startswith("partial write: line 2: timestamp ") and "raw retention" in error
    assert "2 point(s) dropped, the other 2 stored" in error
    stored = values(
        collector, reader, measurement="mem", field="used_percent", host="pc-horloge",
        start=str(now - 50 * 86400), end=str(now + 86400),
    )  # fmt: skip
    assert stored == [[now - 60, 41.0], [now, 44.0]]
    # nothing inside the window: nothing stored, and said so
    status, text = post(collector, f"mem used_percent=1 {now + 3600}\n".encode(), token)
    assert status == 400 and "no point stored" in text and "max_future" in text
    metrics = urllib.request.Request(
        f"{collector.url}/metrics", headers={"Authorization": f"Token {reader}"}
    )
    with urllib.request.urlopen(metrics, timeout=10) as response:
        lines = response.read().decode().splitlines()
    assert 'vigie_dropped_points_total{reason="too_old"} 1' in lines
    assert 'vigie_dropped_points_total{reason="future"} 2' in lines
    assert 'vigie_rejected_batches_total{reason="time"} 1' in lines
    assert "vigie_skewed_senders 1" in lines


def test_workstation_may_write_only_its_own_host(collector: CollectorProcess, reader: str) -> None:
    token = collector.token("Annonay", "pc1")
    ok = f"cpu,site=Annonay,host=pc1 usage_idle=90 {T}\n".encode()
    assert post(collector, ok, token)[0] == 204
    other = (
        f"cpu,site=Annonay,host=pc1 usage_idle=80 {T + 1}\n"
        f"cpu,site=Annonay,host=pc9 usage_idle=70 {T + 1}\n"
    ).encode()
    status, text = post(collector, other, token)
    assert status == 403 and "line 2" in text and "pc9" in text
    status, text = post(collector, f"cpu,site=Privas,host=pc1 usage_idle=1 {T}\n".encode(), token)
    assert status == 403
    # The refused batch stored nothing, not even its valid first line.
    assert values(collector, reader, measurement="cpu", field="usage_idle", site="Annonay") == [
        [T, 90.0]
    ]


def test_points_without_site_and_host_get_the_token_identity(
    collector: CollectorProcess, reader: str
) -> None:
    token = collector.token("Aubenas", "pc3")
    assert post(collector, f"mem used_percent=42.5 {T}\n".encode(), token)[0] == 204
    assert values(
        collector, reader, measurement="mem", field="used_percent", site="Aubenas", host="pc3"
    ) == [[T, 42.5]]


def test_poller_may_write_any_host_of_its_site(collector: CollectorProcess) -> None:
    token = collector.token("Tournon", "poller", role="poller")
    body = f"interface,site=Tournon,host=routeur,ifname=eth0 in_octets=1i {T}\n".encode()
    assert post(collector, body, token)[0] == 204
    assert post(collector, body.replace(b"Tournon", b"Valence"), token)[0] == 403


def test_reader_tokens_cannot_write(collector: CollectorProcess, reader: str) -> None:
    status, text = post(collector, f"cpu usage_idle=1 {T}\n".encode(), reader)
    assert status == 403 and "reader" in text


def test_revoked_token_is_refused(collector: CollectorProcess) -> None:
    token = collector.token("Lamastre", "pc1")
    token_id = collector.cli("token", "list").splitlines()[-1].split("\t")[0]
    collector.cli("token", "revoke", token_id)
    assert post(collector, f"cpu usage_idle=1 {T}\n".encode(), token)[0] == 401


@pytest.mark.parametrize(
    ("body", "gz", "status", "reason"),
    [
        (b"x" * 250_000, False, 413, "max_body_bytes"),
        (b"cpu v=1\n" * 60_000, True, 413, "max_decompressed_bytes"),  # a small gzip bomb
        (b"cpu v=1\n" * 1001, False, 413, "max_lines"),
        (b"cpu,a=1,b=2,c=3,d=4,e=5,f=6,g=7 v=1\n", False, 400, "max_tags"),
        (b'cpu v="' + b"x" * 65 + b'"\n', False, 400, "max_string_length"),
        (b"cpu v=1\ncpu v=\n", False, 400, "line 2"),
        (b"\x1f\x8b\x08garbage", False, 400, "gzip"),
        (b"cpu v=1 \xff\xfe\n", False, 400, "UTF-8"),
    ],
)
def test_each_limit_is_a_4xx_naming_it(
    collector: CollectorProcess, body: bytes, gz: bool, status: int, reason: str
) -> None:
    token = collector.token("Limites", "pc1")
    headers = {"Content-Encoding": "gzip"} if gz else {}
    got, text = post(collector, gzip.compress(body) if gz else body, token, headers=headers)
    assert got == status and reason in text, text
    # The service is unaffected.
    assert post(collector, f"cpu v=1 {T}\n".encode(), token)[0] == 204


def test_unknown_precision_is_refused(collector: CollectorProcess) -> None:
    token = collector.token("Limites", "pc2")
    status, text = post(collector, b"cpu v=1 1\n", token, path="/write?precision=h")
    assert status == 400 and "precision" in text


def test_idempotent_replay(collector: CollectorProcess, reader: str) -> None:
    token = collector.token("Rochemaure", "pc1")
    body = f"mem used=1i {T}\n".encode()
    headers = {"X-Vigie-Batch": "agent-x:7"}
    assert post(collector, body, token, headers=headers)[0] == 204
    assert post(collector, f"mem used=2i {T}\n".encode(), token, headers=headers)[0] == 204
    assert values(collector, reader, measurement="mem", field="used", site="Rochemaure") == [
        [T, 1.0]
    ]


def test_a_batch_id_is_each_senders_own(collector: CollectorProcess, reader: str) -> None:
    """Another agent sending the same X-Vigie-Batch (two sites' pc-1 counting alike, or one
    reusing a neighbour's id) is not a replay: both batches are stored."""
    headers = {"X-Vigie-Batch": "pc-1:3"}
    for site in ("Lalevade", "Mayres"):
        token = collector.token(site, "pc-1")
        assert post(collector, f"mem used=5i {T}\n".encode(), token, headers=headers)[0] == 204
    for site in ("Lalevade", "Mayres"):
        assert values(collector, reader, measurement="mem", field="used", site=site) == [[T, 5.0]]


def test_influxdb_client_writes_to_the_collector(collector: CollectorProcess, reader: str) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write.point import Point
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.domain.write_precision import WritePrecision

    token = collector.token("Saint-Agrève", "nas")
    with InfluxDBClient(url=collector.url, token=token, org="syndicat", enable_gzip=True) as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        point = (
            Point("disk")
            .tag("site", "Saint-Agrève")
            .tag("host", "nas")
            .tag("path", "/volume 1,=x")
            .field("used_percent", 71.5)
            .field("total", 2_000_000)
            .time(T, WritePrecision.S)
        )
        api.write(bucket="vigie", record=[point], write_precision=WritePrecision.S)
        api.write(
            bucket="vigie",
            record=f"disk,site=Saint-Agrève,host=nas,path=/b used_percent=1 {T}",
            write_precision=WritePrecision.S,
        )
    got = get_json(
        f"{collector.url}/api/v1/query?"
        + urlencode(
            {
                "measurement": "disk",
                "field": "used_percent",
                "site": "Saint-Agrève",
                "tag.path": "/volume 1,=x",
                "start": T - 1,
                "end": T + 1,
            }
        ),
        reader,
    )["series"]
    assert got == [
        {
            "tags": {"host": "nas", "path": "/volume 1,=x", "site": "Saint-Agrève"},
            "points": [[T, 71.5]],
        }
    ]


def test_kill_9_during_ingest_keeps_every_acknowledged_point(tmp_path: Path) -> None:
    """Senders record what got a 204; after SIGKILL and restart, all of it is there."""
    with run_collector(tmp_path / "kill") as collector:
        token = collector.token("Crash", "poller", role="poller")
        acknowledged: list[tuple[str, int]] = []
        stop = threading.Event()

        def sender(worker: int) -> None:
            rng = random.Random(worker)
            n = 0
            while not stop.is_set():
                host = f"dev{worker}"
                lines = [
                    f"ping,site=Crash,host={host} result_code=0i,seq={n + i}i {T + n + i}"
                    for i in range(rng.randint(50, 200))
                ]
                try:
                    status, _ = post(
                        collector,
                        ("\n".join(lines)).encode(),
                        token,
                        headers={"X-Vigie-Batch": f"w{worker}:{n}"},
                    )
                except OSError:
                    status = 0
                if status == 204:
                    acknowledged.extend((host, T + n + i) for i in range(len(lines)))
                    n += len(lines)

        threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        assert collector.proc is not None
        collector.proc.send_signal(signal.SIGKILL)
        collector.proc.wait()
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        assert len(acknowledged) > 1000
        collector.start()
        reader = collector.token("", "", role="reader")
        get_json(
            f"{collector.url}/api/v1/query?measurement=ping&field=seq&start={T}&end={T + 1}", reader
        )
        conn = sqlite3.connect(tmp_path / "kill" / "collector.db")
        stored = set(
            conn.execute(
                "SELECT s.host, m.ts FROM sample m JOIN series s ON s.id = m.series_id "
                "WHERE s.measurement='ping'"
            ).fetchall()
        )
        conn.close()
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged points lost"
