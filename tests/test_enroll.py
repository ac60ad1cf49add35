"""Enrollment codes: one-time by default, N-times for a mass roll-out, each use counted
atomically across concurrent requests and logged; codes of an older store keep their state."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from collector.state import Repository
from collector.store.db import connect, open_store
from tests.legacy_schema import legacy_store

NOW = 1_800_000_000


def test_a_code_for_n_machines_works_n_times_then_says_it_is_used_up(tmp_path: Path) -> None:
    repo = Repository(open_store(tmp_path / "c.db"))
    code = repo.create_enrollment("Annonay", "workstation", NOW + 3600, NOW, uses=2)
    for host in ("pc-accueil", "pc-maire"):
        token, site, role = repo.redeem_enrollment(code, host, NOW + 1, "192.0.2.7")
        assert (site, role) == ("Annonay", "workstation")
        assert repo.identify(token) is not None
    with pytest.raises(ValueError, match=r"used up \(2 of 2 uses, last by pc-maire\)"):
        repo.redeem_enrollment(code, "pc-ecole", NOW + 2)
    [listed] = repo.enrollments()
    assert (listed.uses, listed.used, listed.last_host) == (2, 2, "pc-maire")
    uses = repo.enrollment_uses(listed.id)
    assert [(h, c) for _, h, c in uses] == [("pc-accueil", "192.0.2.7"), ("pc-maire", "192.0.2.7")]
    with pytest.raises(ValueError, match="expired"):
        late = repo.create_enrollment("Annonay", "workstation", NOW + 10, NOW, uses=5)
        repo.redeem_enrollment(late, "pc-x", NOW + 10)


def test_concurrent_redemptions_never_exceed_the_uses(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    code = Repository(open_store(path)).create_enrollment("Privas", "workstation", NOW + 60, NOW, 3)
    granted: list[str] = []
    refused: list[str] = []

    def enroll(n: int) -> None:
        repo = Repository(connect(path))
        try:
            granted.append(repo.redeem_enrollment(code, f"pc-{n}", NOW + 1)[0])
        except ValueError as err:
            refused.append(str(err))

    threads = [threading.Thread(target=enroll, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3 and len(refused) == 7
    assert all("used up (3 of 3 uses" in reason for reason in refused)


def test_codes_of_an_older_store_keep_their_state(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    legacy_store(conn, before="CREATE TABLE enrollment_use")
    conn.execute(
        "INSERT INTO enrollment (code, site, role, created, expires, used_at, used_by) VALUES "
        "('h1', 'Tain', 'workstation', 1, 9999999999, 5, 'pc-1'), "
        "('h2', 'Tain', 'poller', 1, 9999999999, NULL, NULL)"
    )
    conn.close()
    repo = Repository(open_store(path))
    used, fresh = repo.enrollments()
    assert (used.uses, used.used, used.last_host) == (1, 1, "pc-1")
    assert (fresh.uses, fresh.used) == (1, 0)
    assert repo.enrollment_uses(used.id) == [(5, "pc-1", "?")]
