"""A full disk under the collector's store and under the agent's spool: a clear error and
health status, 5xx instead of partial writes, nothing acknowledged lost, recovery on its own."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import (
    agent_config,
    post,
    run_collector,
    spool_depth,
    start_agent,
    unavailable,
    wait_for,
)

pytestmark = pytest.mark.services  # every test here starts real processes


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of `megabytes` mounted at `path` (needs root, as CI runs)."""
    path.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte with a file; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1 << 9):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
    assert os.statvfs(disk).f_bavail == 0
    return filler


BASE = int(time.time()) - 86400  # a day old: inside the collector's time window


def batch(n: int, lines: int = 2000) -> bytes:
    """A large, badly compressible batch (each line its own second)."""
    pad = os.urandom(60).hex()
    start = BASE + n * lines
    return "".join(
        f'fill,host=pc v={i}i,pad="{pad}{i}" {start + i}\n' for i in range(lines)
    ).encode()


def health(url: str) -> tuple[int, dict[str, object]]:
    status, text = post_get(url + "/healthz")
    return status, json.loads(text)


def post_get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_collector_refuses_with_503_on_a_full_disk_and_recovers(tmp_path: Path) -> None:
    with (
        small_disk(tmp_path / "disk", 24) as disk,
        run_collector(disk / "collector") as collector,
    ):
        token = collector.token("Privas", "pc")
        acked: list[int] = []
        refused: list[int] = []
        n = 0
        while len(acked) < 2:
            status, _ = post(
                collector.url + "/write?precision=s", batch(n), token, {"X-Vigie-Batch": f"a:{n}"}
            )
            assert status == 204
            acked.append(n)
            n += 1
        filler = fill(disk)
        # The WAL may still hold room for a batch or two: post until the disk says no.
        while not refused and n < 40:
            status, text = post(
                collector.url + "/write?precision=s", batch(n), token, {"X-Vigie-Batch": f"a:{n}"}
            )
            if status == 204:
                acked.append(n)
            else:
                assert status == 503, text
                assert "full" in text, text
                refused.append(n)
            n += 1
        assert refused, "a full disk never refused a write"
        status, body = health(collector.url)
        assert status == 503 and "full" in str(body["store"]), body
        assert collector.proc is not None and collector.proc.poll() is None

        filler.unlink()
        for k in refused:  # what an agent does: retry the same batch
            status, text = post(
                collector.url + "/write?precision=s", batch(k), token, {"X-Vigie-Batch": f"a:{k}"}
            )
            assert status == 204, text
        status, _ = post(
            collector.url + "/write?precision=s", batch(0), token, {"X-Vigie-Batch": "a:0"}
        )
        assert status == 204  # a replay, stored once
        wait_for(lambda: health(collector.url)[1]["index_backlog"] == 0, 60, "indexing", own=True)
        status, body = health(collector.url)
        assert status == 200 and body["store"] == "ok", body

        db = sqlite3.connect(f"file:{disk}/collector/collector.db?mode=ro", uri=True)
        keys = {k for (k,) in db.execute("SELECT key FROM batch_key")}
        samples = db.execute(
            "SELECT count(*) FROM sample JOIN series ON series.id = sample.series_id "
            "WHERE series.measurement='fill'"
        ).fetchone()[0]
        db.close()
        assert keys == {f"Privas/pc/a:{k}" for k in acked + refused}  # scoped to the sender
        assert samples == 2000 * len(keys), "a batch was partly stored, lost or doubled"


def test_agent_holds_its_batches_while_the_spool_disk_is_full(tmp_path: Path) -> None:
    with (
        run_collector(tmp_path / "collector") as collector,
        small_disk(tmp_path / "disk", 16) as disk,
    ):
        token = collector.token("Privas", "pc")
        config = agent_config(disk, collector.url, token, "Privas", "pc")
        assert collector.stop() == 0  # batches must wait in the spool
        agent = start_agent(config)
        try:
            wait_for(lambda: (disk / "spool.db").exists(), 60, "the agent's spool", own=True)
            time.sleep(3)
            filler = fill(disk)
            time.sleep(6)
            assert agent.poll() is None, "the agent stopped on a full disk"
            filler.unlink()
            collector.start()

            time.sleep(3)
            wait_for(lambda: spool_depth(disk / "spool.db") == 0, 90, "the drain", own=True)
        finally:
            agent.terminate()
            out, _ = agent.communicate(timeout=15)
        assert "cannot write the spool" in out and "database or disk is full" in out, out
        assert "spool writable again" in out, out

        db = sqlite3.connect(f"file:{tmp_path}/collector/collector.db?mode=ro", uri=True)
        # metrics batches' keys, and the inventory's in its own table
        keys = sorted(
            int(k.rsplit(":", 1)[1])
            for (k,) in db.execute(
                "SELECT key FROM batch_key UNION ALL SELECT key FROM inventory_batch"
            )
        )
        rows = db.execute("SELECT gzip, body FROM ingest_log WHERE site='Privas'").fetchall()
        db.close()
        assert keys == list(range(1, len(keys) + 1)), "a batch is missing or doubled"
        text = "".join((gzip.decompress(b) if z else b).decode() for z, b in rows)
        agent_lines = [line for line in text.splitlines() if line.startswith("vigie_agent,")]
        stamps = sorted(int(line.rsplit(" ", 1)[1]) for line in agent_lines)
        # One point a second, none lost while the disk was full (the agent held them).
        assert max(b - a for a, b in itertools.pairwise(stamps)) <= 3, stamps
        assert any("spool_writable=false" in line for line in agent_lines)
