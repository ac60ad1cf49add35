"""Web UI server time on the benchmark fleet (5,000 hosts in 500 communes, as bench.alerts fills
it, with its alerts evaluated): each page requested through the ASGI app, median and worst of
five. Target: every page under 300 ms. Run: .venv/bin/python -m bench.pages
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bench.alerts import fill
from collector.app import create_app
from collector.config import CollectorConfig, StorageConfig
from collector.rules.engine import Engine
from collector.rules.load import load_rules
from collector.state import Repository
from collector.store.db import connect, open_store
from collector.web.auth import hash_password

RESULTS = Path(__file__).parent / "results"
PAGES = (
    "/",
    "/?sort=site&q=commune1",
    "/sites/commune042",
    "/sites/commune042/hosts/pc00420?range=24h",
    "/sites/commune042/hosts/pc00420?range=30d",
    "/alerts",
    "/inventory?q=pc",
)


def main() -> None:
    """Measure and print a JSON report (also written to bench/results/pages.json)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "collector.db"
        now = int(time.time())
        fill(path, 5000, now)
        conn = connect(path)
        Engine(conn, load_rules([]), clock=lambda: now + 900).evaluate(slow=True)
        repo = Repository(open_store(path))
        repo.add_user("bench", hash_password("benchmark password"), "technician", now)
        app = create_app(CollectorConfig(storage=StorageConfig(path=path)))
        app.state.run_alerting = False
        report: dict[str, dict[str, float]] = {}
        with TestClient(app) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf
            client.post(
                "/login",
                data={"csrf": csrf.group(1), "username": "bench", "password": "benchmark password"},
            )
            for page in PAGES:
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    response = client.get(page)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (page, response.status_code)
                report[page] = {
                    "median_ms": round(statistics.median(times), 1),
                    "max_ms": round(max(times), 1),
                    "bytes": len(response.content),
                }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pages.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
