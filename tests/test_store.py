"""The embedded store: append, index, rollups, late data, retention, rates, migrations."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.ingest.lineproto import parse_rows
from collector.ingest.write import with_identity
from collector.schema import PER_PART
from collector.store.db import PART, StoreError, open_store
from collector.store.indexer import Indexer
from collector.store.query import SeriesQuery, counter_rate, run_query
from collector.store.rollup import Retention, roll_up, rolled_until, rolling_until
from collector.store.writer import Append, Writer
from tests.legacy_schema import legacy_steps, legacy_store
from tests.services import alive, indexer_pids

T0 = 1_800_000_000 - 1_800_000_000 % 3600  # an hour boundary


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Writer, sqlite3.Connection, Clock]]:
    path = tmp_path / "collector.db"
    open_store(path).close()
    clock = Clock(T0)
    writer = Writer(path, Retention(raw=2 * 86400), clock=clock, maintenance_every=10**9)
    writer.start()
    conn = sqlite3.connect(path)
    yield writer, conn, clock
    writer.stop()
    conn.close()


def append(writer: Writer, lines: list[str], key: str | None = None) -> bool:
    body = ("\n".join(lines) + "\n").encode()
    entry = Append(T0, "s", "h", "s", False, len(lines), body, key)
    stored = writer.append(entry).result(10)
    assert writer.sync(10)
    return stored


def q(conn: sqlite3.Connection, **kw: object) -> list[list[float]]:
    params: dict[str, object] = {
        "measurement": "disk",
        "field": "used",
        "start": T0,
        "end": T0 + 86400,
    }
    params.update(kw)
    series = run_query(conn, SeriesQuery(**params))  # type: ignore[arg-type]
    return series[0]["points"] if series else []  # type: ignore[return-value]


def test_replayed_batch_is_acknowledged_not_stored(
    store: tuple[Writer, sqlite3.Connection, Clock],
) -> None:
    writer, conn, _ = store
    assert append(writer, [f"disk,site=s,host=h used=1i {T0}"], key="agent:1") is True
    assert append(writer, [f"disk,site=s,host=h used=2i {T0 + 60}"], key="agent:1") is False
    assert conn.execute("SELECT count(*) FROM ingest_log").fetchone()[0] == 1
    assert q(conn) == [[T0, 1.0]]


def test_rollups_match_raw_and_answer_long_ranges(
    store: tuple[Writer, sqlite3.Connection, Clock],
) -> None:
    writer, conn, clock = store
    # Two hours of a disk filling by 10 per minute, one point a minute.
    append(writer, [f"disk,site=s,host=h,path=/ used={i * 10}i {T0 + 60 * i}" for i in range(120)])
    clock.now = T0 + 3 * 3600
    writer.request_maintenance().result(10)
    five = conn.execute(
        "SELECT bucket, min, max, sum, count, last FROM rollup WHERE res=300 ORDER BY bucket"
    ).fetchall()
    assert len(five) == 24
    assert five[0] == (T0, 0.0, 40.0, 100.0, 5, 40.0)
    hour = conn.execute(
        "SELECT min, max, count, last FROM rollup WHERE res=3600 ORDER BY bucket"
    ).fetchall()
    assert hour == [(0.0, 590.0, 60, 590.0), (600.0, 1190.0, 60, 1190.0)]
    # step >= 1 h reads the hourly rollup; the means equal the raw means.
    assert q(conn, step=3600) == [[T0, 295.0], [T0 + 3600, 895.0]]
    assert q(conn, step=3600, agg="max") == [[T0, 590.0], [T0 + 3600, 1190.0]]
    assert q(conn, step=600)[:2] == [[T0, 45.0], [T0 + 600, 145.0]]
    # steps that are multiples of a resolution are merged by SQLite: the same answers
    for agg, value in (("mean", 595.0), ("max", 1190.0), ("min", 0.0), ("last", 1190.0)):
        assert q(conn, step=7200, agg=agg) == [[T0, value]]
    assert q(conn, step=1800, agg="last")[:2] == [[T0, 290.0], [T0 + 1800, 590.0]]
    assert q(conn, step=1800)[:2] == [[T0, 145.0], [T0 + 1800, 445.0]]
    assert len(q(conn)) == 120  # raw


def test_text_before_the_rollup_watermark_reads_back_over_steps(
    store: tuple[Writer, sqlite3.Connection, Clock],
) -> None:
    """Text has no rollups: once rolled up past it, a step query reads it raw (agg=last)."""
    writer, conn, clock = store
    append(
        writer,
        [f'device_poll,site=s,host=h error="timeout {i}",up=false {T0 + 60 * i}' for i in range(20)]
        + [f"device_poll,site=s,host=h2 up=true {T0 + 60 * i}" for i in range(20)],
    )
    clock.now = T0 + 3 * 3600
    writer.request_maintenance().result(10)
    assert rolled_until(conn) > T0 + 20 * 60  # the text is behind the watermark
    asked = {"measurement": "device_poll", "field": "error", "agg": "last"}
    assert q(conn, step=300, **asked)[:2] == [[T0, "timeout 4"], [T0 + 300, "timeout 9"]]
    assert q(conn, step=3600, **asked) == [[T0, "timeout 19"]]
    booleans = {"measurement": "device_poll", "field": "up", "step": 600, "agg": "max"}
    assert q(conn, host="h2", **booleans)[:1] == [[T0, 1.0]]
    assert q(conn, host="h", **booleans)[:1] == [[T0, 0.0]]


def test_late_points_recompute_their_bucket(
    store: tuple[Writer, sqlite3.Connection, Clock],
) -> None:
    writer, conn, clock = store
    append(writer, [f"disk,site=s,host=h used=10i {T0 + 60}"])
    clock.now = T0 + 3600
    writer.request_maintenance().result(10)
    # A spool that arrives after an outage carries a point for a bucket already rolled up.
    append(writer, [f"disk,site=s,host=h used=30i {T0 + 120}"])
    writer.request_maintenance().result(10)
    row = conn.execute(
        "SELECT sum, count, last FROM rollup WHERE res=300 AND bucket=?", (T0,)
    ).fetchone()
    assert row == (40.0, 2, 30.0)
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone()[0] == 0


def test_retention_drops_raw_only_once_rolled_up(
    store: tuple[Writer, sqlite3.Connection, Clock],
) -> None:
    writer, conn, clock = store
    append(writer, [f"disk,site=s,host=h used={i}i {T0 + 60 * i}" for i in range(60)])
    clock.now = T0 + 3 * 86400  # past the 2-day raw retention of this fixture
    writer.request_maintenance().result(10)
    assert conn.execute("SELECT count(*) FROM sample").fetchone()[0] == 0
    # The range now starts before the raw data kept: answered from rollups.
    series = run_query(conn, SeriesQuery("disk", "used", T0, T0 + 3600), raw_since=T0 + 86400)
    points: list[list[float]] = series[0]["points"]  # type: ignore[assignment]
    assert [p[1] for p in points][:2] == [2.0, 7.0]


def test_counter_rates_handle_wrap_and_reset() -> None:
    wrap = [(0, 4_294_967_000.0), (10, 704.0)]  # Counter32 wrapped: 1000 octets in 10 s
    assert counter_rate(wrap) == [(10, 100.0)]
    reset = [(0, 1_000_000.0), (10, 500.0), (20, 1500.0)]  # rebooted: no negative rate
    assert counter_rate(reset) == [(20, 100.0)]


def test_rate_query(store: tuple[Writer, sqlite3.Connection, Clock]) -> None:
    writer, conn, _ = store
    append(
        writer,
        [
            f"net,site=s,host=h,interface=eth0 bytes_recv={i * 6000}i {T0 + 60 * i}"
            for i in range(10)
        ],
    )
    points = q(conn, measurement="net", field="bytes_recv", rate=True, start=T0 + 60)
    assert points and all(v == 100.0 for _, v in points)


def test_damaged_database_is_refused_with_a_recovery_hint(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    open_store(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="recover"):
        open_store(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_part SET version = version + 1 WHERE name = 'alerts'")
    conn.commit()
    conn.close()
    from collector.state.alerts import PART as ALERTS

    newer = len(ALERTS.migrations) + 1
    with pytest.raises(StoreError, match=f"alerts schema is at version {newer}, newer than this"):
        open_store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={PER_PART + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this collector: upgrade"):
        open_store(path)


def test_reopening_keeps_data_and_migrates_old_schema(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert legacy_store(conn, before="CREATE TABLE inventory") == 1
    conn.execute(
        "INSERT INTO token (hash, site, host, role, created) VALUES ('x', 's', 'h', 'reader', 0)"
    )
    conn.close()
    conn = open_store(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == PER_PART
    assert conn.execute("SELECT count(*) FROM token").fetchone()[0] == 1


def test_a_store_from_before_the_split_is_converted_in_place(tmp_path: Path) -> None:
    """A store left at any global version of the single list converts to the same schema and
    part versions as a new store, and says it is newer to a collector from before the split
    (which accepted user_version up to the length of its list)."""
    fresh = open_store(tmp_path / "fresh.db")
    schema = "SELECT type, name, sql FROM sqlite_schema ORDER BY name"
    parts = "SELECT * FROM schema_part ORDER BY name"
    steps = legacy_steps()
    for version in range(1, len(steps) + 1):
        path = tmp_path / f"v{version}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        for number, step in enumerate(steps[:version]):
            conn.executescript(f"BEGIN; {step}; PRAGMA user_version={number + 1}; COMMIT;")
        conn.close()
        converted = open_store(path)
        assert converted.execute(schema).fetchall() == fresh.execute(schema).fetchall(), version
        assert converted.execute(parts).fetchall() == fresh.execute(parts).fetchall()
        assert converted.execute("PRAGMA user_version").fetchone()[0] > len(steps)


def test_rollup_key_migration_keeps_every_bucket_and_narrows_reads(tmp_path: Path) -> None:
    """A store from before the rollup was keyed by time: migrated with its buckets, the same
    answers, and the hourly step now reads only the buckets of its hour."""
    path = tmp_path / "collector.db"
    conn = sqlite3.connect(path, isolation_level=None)
    legacy_store(conn, before="CREATE TABLE rollup_by_time")
    lines = [
        f"disk,site=s,host=h,path=/ used={i}i,free={999 - i}i {T0 + 60 * i}" for i in range(600)
    ]
    conn.execute("BEGIN")
    Indexer(conn).index(with_identity(parse_rows("\n".join(lines), "s", 0), "s", "h"))
    conn.execute("COMMIT")
    while True:
        conn.execute("BEGIN")
        more = roll_up(conn, T0 + 12 * 3600)
        conn.execute("COMMIT")
        if not more:
            break
    rows = conn.execute("SELECT * FROM rollup ORDER BY series_id, res, field, bucket").fetchall()
    answers = [q(conn, step=step) for step in (0, 600, 3600)]
    conn.close()
    conn = open_store(path)
    assert conn.execute("SELECT version FROM schema_part WHERE name = 'store'").fetchone()[
        0
    ] == len(PART.migrations)
    after = conn.execute("SELECT * FROM rollup ORDER BY series_id, res, field, bucket").fetchall()
    assert after == rows and len(rows) == 2 * (120 + 10)
    assert [q(conn, step=step) for step in (0, 600, 3600)] == answers
    plan = " ".join(
        str(row[-1])
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM rollup WHERE series_id = 1 AND res = 300 "
            "AND bucket >= ? AND bucket < ?",
            (T0, T0 + 3600),
        )
    )
    assert "bucket>? AND bucket<?" in plan, plan


def test_new_database_is_private(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    open_store(path).close()
    assert path.stat().st_mode & 0o077 == 0


def test_a_killed_index_process_is_started_again_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    open_store(path).close()
    writer = Writer(path, index_process=True)
    writer.start()
    conn = sqlite3.connect(path)
    try:
        append(writer, [f"disk,site=s,host=h used=0i {T0}"])
        (first,) = indexer_pids(os.getpid())
        os.kill(first, signal.SIGKILL)
        # Acknowledged while no loop runs: the next one reads them from ingest_log.
        for i in range(1, 4):
            append(writer, [f"disk,site=s,host=h used={i}i {T0 + 60 * i}"])
        assert q(conn) == [[T0 + 60 * i, float(i)] for i in range(4)]
        (second,) = indexer_pids(os.getpid())
        assert second != first
    finally:
        writer.stop()
        conn.close()
    assert not alive(second)  # stopped with the writer


def test_rollups_go_a_slice_of_series_at_a_time_and_miss_no_late_point(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "collector.db")
    indexer = Indexer(conn)

    def index(lines: list[str]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        indexer.index(with_identity(parse_rows("\n".join(lines), "s", 0), "s", "h"))
        conn.execute("COMMIT")

    def step() -> bool:
        conn.execute("BEGIN IMMEDIATE")
        more = roll_up(conn, T0 + 3600, series_per_step=2)  # ids 0 and 1: h0
        conn.execute("COMMIT")
        indexer.rolled_until = rolling_until(conn)
        return more

    index([f"disk,site=s,host=h{n} used={i}i {T0 + 60 * i}" for n in range(3) for i in range(5)])
    assert step()  # the first series of the window only: the window is not done
    assert conn.execute("SELECT count(*) FROM rollup WHERE res = 300").fetchone()[0] == 1
    assert rolled_until(conn) == 0 < indexer.rolled_until
    # A late point for the series already rolled up: its bucket is marked dirty and redone.
    index([f"disk,site=s,host=h0 used=1000i {T0 + 30}"])
    while step():
        pass
    buckets = conn.execute(
        "SELECT x.host, r.count, r.max FROM rollup r JOIN series x ON x.id = r.series_id "
        "WHERE r.res = 300 AND r.bucket = ? ORDER BY x.host",
        (T0,),
    ).fetchall()
    assert buckets == [("h0", 6, 1000.0), ("h1", 5, 4.0), ("h2", 5, 4.0)]
    assert rolled_until(conn) == rolling_until(conn) > T0
    conn.close()
