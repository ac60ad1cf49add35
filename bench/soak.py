"""Soak: a collector under a syndicate's load for 30 minutes, measured as it goes.

5,000 simulated workstation agents (150 lines a minute each, spread over the minute, gzip, one
poller token per commune, keep-alive connections) plus a real `vigie-agent` polling 500 SNMP
devices served by snmpsim, all into one `vigie-collector run` with alerting and mail on. Every
30 s: the collector's RSS and CPU, the ingest rate and errors, a chart query, the fleet page,
and the time from a crossing point to its mail. Run: .venv/bin/python -m bench.soak [--minutes 30]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.cookiejar
import json
import random
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.common import T0, agent_batch
from collector.state import Repository
from collector.store.db import open_store
from collector.web.auth import hash_password
from tests.services import (
    CollectorProcess,
    agent_config,
    get_json,
    run_collector,
    run_smtp,
    run_snmpsim,
    start_agent,
)

RESULTS = Path(__file__).parent / "results"
SITES = 500
RECIPIENT = "soak@example.org"
PASSWORD = "soak benchmark password"


class Fleet:
    """Simulated agents: each sends one batch a minute at its own offset in the minute."""

    def __init__(self, url: str, tokens: list[str], agents: int, threads: int = 6) -> None:
        parts = urllib.parse.urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._tokens = tokens
        self._agents = agents
        self._threads = threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.errors: dict[str, int] = {}
        self.latencies: list[float] = []

    def start(self) -> None:
        """Start the sender threads; agent i belongs to thread i % threads."""
        for n in range(self._threads):
            threading.Thread(target=self._run, args=(n,), daemon=True).start()

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        mine = list(range(n, self._agents, self._threads))
        conn = http.client.HTTPConnection(*self._address, timeout=60)
        start = time.time()
        minute = 0
        seq = 0
        while not self.stop.is_set():
            for agent in mine:
                due = start + 60 * minute + 60 * agent / self._agents
                wait = due - time.time()
                if wait > 0 and self.stop.wait(wait):
                    return
                site = agent % SITES
                body = agent_batch(site, agent, minute, rng).replace(
                    f" {T0 + 60 * minute}\n", f" {int(due)}\n"
                )
                seq += 1
                headers = {
                    "Authorization": f"Token {self._tokens[site]}",
                    "Content-Encoding": "gzip",
                    "X-Vigie-Batch": f"sim{agent}:{seq}",
                }
                started = time.perf_counter()
                try:
                    conn.request(
                        "POST", "/write?precision=s", gzip.compress(body.encode(), 1), headers
                    )
                    response = conn.getresponse()
                    response.read()
                    outcome = "ok" if response.status == 204 else f"http {response.status}"
                except (OSError, http.client.HTTPException) as err:
                    outcome = type(err).__name__
                    conn.close()
                    conn = http.client.HTTPConnection(*self._address, timeout=60)
                elapsed = time.perf_counter() - started
                with self.lock:
                    if outcome == "ok":
                        self.sent += 150
                        self.latencies.append(elapsed)
                    else:
                        self.errors[outcome] = self.errors.get(outcome, 0) + 1
            minute += 1

    def take(self) -> tuple[int, list[float]]:
        """Lines acknowledged and write latencies since the last call."""
        with self.lock:
            sent, latencies = self.sent, self.latencies
            self.sent, self.latencies = 0, []
        return sent, latencies


def web_session(url: str, user: str) -> urllib.request.OpenerDirector:
    """A logged-in browser-like session (cookie jar, CSRF from the form)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    form = opener.open(url + "/login").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF field on the login form"
    data = urllib.parse.urlencode(
        {"csrf": csrf.group(1), "username": user, "password": PASSWORD, "next": "/"}
    ).encode()
    opener.open(url + "/login", data=data).read()
    return opener


def timed(call: Any) -> float:
    """Milliseconds taken by `call()`."""
    started = time.perf_counter()
    call()
    return round((time.perf_counter() - started) * 1000, 1)


def alert_latency(collector: CollectorProcess, token: str, site: int, n: int, smtp: Any) -> float:
    """Seconds from a UPS going on battery (a new host) to its mail being accepted."""
    before = len(smtp.to(RECIPIENT))
    started = time.monotonic()
    body = f"ups,site=commune{site:03d},host=probe{n} battery_status=3i {int(time.time())}"
    request = urllib.request.Request(
        f"{collector.url}/write?precision=s",
        data=body.encode(),
        headers={"Authorization": f"Token {token}"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).read()
    while len(smtp.to(RECIPIENT)) <= before and time.monotonic() - started < 120:
        time.sleep(0.05)
    return round(time.monotonic() - started, 2)


def snmp_agent_config(tmp: Path, collector: CollectorProcess, sim: Any, devices: int) -> Path:
    """A `vigie-agent` polling `devices` snmpsim devices (NAS, printers, UPSes) every minute."""
    kinds = [("nas", "recorded/linux-full-walk")] * 8 + [
        ("printer", "vigie/printer-hp-m507"),
        ("ups", "vigie/ups-rfc1628"),
    ]
    blocks = []
    for i in range(devices):
        kind, community = kinds[i % len(kinds)]
        blocks.append(
            f'[[devices]]\nname = "{kind}{i:04d}"\naddress = "{sim.address}"\nkind = "{kind}"\n'
            f'interval = 60\nreach = "off"\n'
            f'snmp = {{ version = "2c", community = "{community}", timeout = 10, retries = 1 }}\n'
        )
    token = collector.token("snmp", "poller-soak", role="poller")
    config = agent_config(tmp, collector.url, token, "snmp", "poller-soak", "\n".join(blocks))
    text = config.read_text().replace("interval = 1\n", "interval = 60\n", 1)
    config.write_text(text)
    return config


def main() -> None:
    """Run the soak, write bench/results/soak.json and print the summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name, run_smtp() as smtp:
        tmp = Path(tmp_name)
        extra = (
            f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
            f'[alerts]\nrecipients = ["{RECIPIENT}"]\ngroup_wait = 0\ndigest = false\n'
            "max_mails_per_hour = 100000\n"
        )
        with run_collector(tmp / "collector", extra) as collector, run_snmpsim(tmp / "sim") as sim:
            repo = Repository(open_store(tmp / "collector" / "collector.db"))
            tokens = [
                repo.create_token(f"commune{s:03d}", "", "poller", int(time.time()))
                for s in range(SITES)
            ]
            reader = repo.create_token("", "", "reader", int(time.time()))
            repo.add_user("soak", hash_password(PASSWORD), "technician", int(time.time()))
            assert collector.proc is not None
            # The service and its index process.
            procs = [psutil.Process(collector.proc.pid)]
            procs += procs[0].children()
            poller_dir = tmp / "poller"
            poller_dir.mkdir()
            poller = start_agent(
                snmp_agent_config(poller_dir, collector, sim, args.devices),
                log=poller_dir / "agent.log",
            )
            fleet = Fleet(collector.url, tokens, args.agents)
            fleet.start()
            session = web_session(collector.url, "soak")
            started = time.monotonic()
            for proc in procs:
                proc.cpu_percent()
            probe = 0
            try:
                while time.monotonic() - started < args.minutes * 60:
                    time.sleep(30)
                    lines, latencies = fleet.take()
                    health = get_json(collector.url + "/healthz", "")
                    now = int(time.time())
                    query = (
                        f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle"
                        f"&site=commune001&host=pc00001&start={now - 3600}"
                    )
                    probe += 1
                    samples.append(
                        {
                            "minute": round((time.monotonic() - started) / 60, 1),
                            "rss_mib": round(sum(p.memory_info().rss for p in procs) / 2**20, 1),
                            "cpu_percent": sum(p.cpu_percent() for p in procs),
                            "lines_per_s": round(lines / 30),
                            "write_p99_ms": round(
                                1000 * sorted(latencies)[int(0.99 * (len(latencies) - 1))], 1
                            )
                            if latencies
                            else None,
                            "errors": dict(fleet.errors),
                            "index_backlog": health["index_backlog"],
                            "query_1h_ms": timed(lambda q=query: get_json(q, reader)),
                            "fleet_page_ms": timed(
                                lambda: session.open(collector.url + "/").read()
                            ),
                            "alerts_page_ms": timed(
                                lambda: session.open(collector.url + "/alerts").read()
                            ),
                            "alert_to_mail_s": alert_latency(
                                collector, tokens[probe % SITES], probe % SITES, probe, smtp
                            ),
                            "poller_alive": poller.poll() is None,
                        }
                    )
                    print(json.dumps(samples[-1]), flush=True)
            finally:
                fleet.stop.set()
                # Counted now: the fleet's threads may still post while the collector stops,
                # and those refusals say nothing about the run.
                errors = dict(fleet.errors)
                poller.terminate()
                poller.wait(30)
            polled = get_json(
                f"{collector.url}/api/v1/query?measurement=device_poll&field=ok&site=snmp"
                f"&start={int(time.time()) - 600}",
                reader,
            )["series"]
    steady = [s for s in samples if s["minute"] >= 5]
    report = {
        "minutes": args.minutes,
        "agents": args.agents,
        "snmp_devices": args.devices,
        "devices_reporting": len(polled),
        "errors": errors,
        "rss_mib_first_last_max": [
            samples[0]["rss_mib"],
            samples[-1]["rss_mib"],
            max(s["rss_mib"] for s in samples),
        ],
        "cpu_percent_median": statistics.median(s["cpu_percent"] for s in steady or samples),
        "lines_per_s_median": statistics.median(s["lines_per_s"] for s in steady or samples),
        "query_1h_ms_p50_max": _p50_max(samples, "query_1h_ms"),
        "fleet_page_ms_p50_max": _p50_max(samples, "fleet_page_ms"),
        "alerts_page_ms_p50_max": _p50_max(samples, "alerts_page_ms"),
        "alert_to_mail_s_p50_max": _p50_max(samples, "alert_to_mail_s"),
        "curve": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=2))


def _p50_max(samples: list[dict[str, Any]], key: str) -> list[float]:
    values = [float(s[key]) for s in samples if s[key] is not None]
    return [round(statistics.median(values), 1), round(max(values), 1)]


if __name__ == "__main__":
    main()
