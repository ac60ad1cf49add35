"""The reference deployment of docs/SCALING.md on loopback: PostgreSQL, two VictoriaMetrics
nodes, two collectors behind HAProxy (round robin), 200 simulated agents and a UPS poller.
Mid-run the collector holding the alerting lease and a VictoriaMetrics node are SIGKILLed, and
started again a little later."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import (
    VENV_BIN,
    CollectorProcess,
    Victoria,
    free_port,
    get_json,
    post,
    run_haproxy,
    run_postgres,
    run_smtp,
    run_victoriametrics,
    wait_for,
)  # fmt: skip

pytestmark = pytest.mark.services

AGENTS = 200
SITES = ("Lens", "Muette", "Privas", "Tournon")
EVERY = 5  # seconds between an agent's batches
RECIPIENT = "reference@example.org"
PASSWORD = "un mot de passe assez long"


@dataclass
class SimulatedAgent:
    """Sends a numbered batch every EVERY seconds through the load balancer, resending each
    (same batch id, same time) until a collector acknowledges it, as the real agent's spool."""

    site: str
    host: str
    token: str
    acknowledged: list[int] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list)

    def run(self, url: str, stop: threading.Event, start: float) -> None:
        """Until `stop`, then until everything pending is acknowledged (60 s at most)."""
        seq = 0
        deadline = None
        while self.pending or not stop.is_set():
            if stop.is_set():
                deadline = deadline or time.monotonic() + 60
                if time.monotonic() > deadline:
                    return
            elif time.monotonic() >= start + seq * EVERY:
                # the time it was due (a late agent catching up gives each batch its own)
                ts = int(time.time() - (time.monotonic() - start)) + seq * EVERY
                line = f"sim,site={self.site},host={self.host} seq={seq}i {ts}"
                self.pending.append((seq, line))
                seq += 1
            while self.pending and self._send(url, *self.pending[0]):
                self.acknowledged.append(self.pending.pop(0)[0])
            time.sleep(0.2 if self.pending else 0.5)

    def values(self) -> list[float]:
        """What a node must hold of this agent: each acknowledged batch once."""
        return [float(seq) for seq in sorted(self.acknowledged)]

    def _send(self, url: str, seq: int, line: str) -> bool:
        headers = {"X-Vigie-Batch": f"{self.host}:{seq}"}  # pc-000 is on every site, too
        try:
            status, _ = post(f"{url}/write?precision=s", line.encode(), self.token, headers)
        except OSError:
            status = 0
        return status == 204


def collector(folder: Path, nodes: list[str], state: str, smtp_port: int) -> CollectorProcess:
    """A collector of the deployment (alerts mailed to RECIPIENT)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    urls = ", ".join(f'"{n}"' for n in nodes)
    (folder / "collector.toml").write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n[storage]\npath = "{folder}/collector.db"\n'
        f'[series]\nbackend = "victoriametrics"\nurls = [{urls}]\nretry_max_seconds = 1\n'
        f'[state]\nurl = "{state}"\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
        f'[alerts]\nrecipients = ["{RECIPIENT}"]\ngroup_wait = 0\ndigest = false\n'
    )
    return CollectorProcess(folder / "collector.toml", f"http://127.0.0.1:{port}")


def enroll(url: str, code: str, host: str) -> tuple[int, str]:
    body = json.dumps({"code": code, "host": host}).encode()
    return post(f"{url}/api/v1/enroll", body, "", {"Content-Type": "application/json"})


def stopped(c: CollectorProcess) -> None:
    """Stop a collector that still runs."""
    if c.proc is not None and c.proc.poll() is None:
        c.stop()


ANSWERS: list[str] = []  # the poller's failed attempts, for the failure message


def written(url: str, line: str, token: str) -> bool:
    """One attempt of the poller's write."""
    try:
        status, text = post(f"{url}/write?precision=s", line.encode(), token)
    except OSError as err:
        status, text = 0, str(err)
    if status != 204:
        ANSWERS.append(f"{time.strftime('%X')} {status} {text[:200]}")
    return status == 204


def alerting(c: CollectorProcess) -> dict[str, Any]:
    """What /healthz says of the collector's share of the alerting."""
    return dict(get_json(f"{c.url}/healthz", "")["alerting"])


def lease(c: CollectorProcess) -> str:
    return str(alerting(c)["lease"])


def stored(node: Victoria) -> dict[tuple[str, str], list[float]]:
    """(site, host) -> every `sim_seq` value the node holds."""
    return {(s["metric"]["site"], s["metric"]["host"]): s["values"]
            for s in node.export("sim_seq")}  # fmt: skip


def site_cells(c: CollectorProcess, site: str) -> list[str]:
    """The cells of a site page, as the reader marie sees it on this collector."""
    with httpx.Client(base_url=c.url) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert csrf
        client.post("/login", data={"csrf": csrf.group(1), "username": "marie",
                                    "password": PASSWORD})  # fmt: skip
        return re.findall(r"<td[^>]*>(.*?)</td>", client.get(f"/sites/{site}").text, re.S)


def test_the_reference_deployment_loses_nothing_when_a_collector_and_a_node_die(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        smtp = stack.enter_context(run_smtp())
        state = stack.enter_context(run_postgres()).create_database("vigie")
        vm2_port = free_port()
        nodes = [stack.enter_context(run_victoriametrics(tmp_path / "vm1")),
                 stack.enter_context(run_victoriametrics(tmp_path / "vm2", vm2_port))]  # fmt: skip
        urls = [n.url for n in nodes]
        pair = [collector(tmp_path / name, urls, state, smtp.port) for name in ("c1", "c2")]
        for c in pair:
            c.start()
            stack.callback(stopped, c)
        wait_for(lambda: "held" in [lease(c) for c in pair], 40, "a lease holder", own=True)
        one, other = pair
        subprocess.run([str(VENV_BIN / "vigie-collector"), "user", "add", "marie", "--role",
                        "reader", "--config", str(one.config)], input=f"{PASSWORD}\n",
                       capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
        # An enrollment code of one use works once across both collectors.
        code = one.cli("enroll", "create", "--site", "Lens", "--uses", "1")
        assert enroll(one.url, code, "pc-neuf")[0] == 201
        status, answer = enroll(other.url, code, "pc-autre")
        assert status == 403 and "already used" in answer, answer
        # A silence set on one collector mutes the other (whichever evaluates).
        tech = other.token("", "", "technician")
        silence = b'{"site": "Muette", "duration": 3600, "comment": "travaux EDF"}'
        headers = {"Content-Type": "application/json"}
        assert post(f"{other.url}/api/v1/silences", silence, tech, headers)[0] == 201
        # 200 agents enrolled with each site's code, through HAProxy, round robin.
        balancer = stack.enter_context(
            run_haproxy(tmp_path / "haproxy", [c.url.removeprefix("http://") for c in pair])
        )
        agents = []
        for site in SITES:
            code = one.cli("enroll", "create", "--site", site, "--uses", str(AGENTS))
            for n in range(AGENTS // len(SITES)):
                status, answer = enroll(balancer, code, f"pc-{n:03d}")
                assert status == 201, answer
                agents.append(SimulatedAgent(site, f"pc-{n:03d}", json.loads(answer)["token"]))
        pollers = {site: one.token(site, "poller", "poller") for site in ("Lens", "Muette")}
        stop, start = threading.Event(), time.monotonic()
        threads = [threading.Thread(target=a.run, args=(balancer, stop, start)) for a in agents]
        for thread in threads:
            thread.start()
        try:
            time.sleep(20)
            holder = next(c for c in pair if lease(c) == "held")
            # It dies while taking agents' batches (HAProxy's round robin gives it half).
            taken = get_json(f"{holder.url}/healthz", "")["last_ingest"]
            assert taken is not None and taken >= time.time() - 5, taken
            holder.stop(signal.SIGKILL)
            nodes[1].kill()
            # Both UPSes go on battery while the lease holder is dead (the poller retries).
            power_cut = int(time.time())
            for offset in range(0, 100, EVERY):
                for site, token in pollers.items():
                    line = f"ups,site={site},host=onduleur output_source=5i {power_cut + offset}"
                    deadline = time.monotonic() + 20
                    while not written(balancer, line, token):
                        assert time.monotonic() < deadline, ANSWERS[-5:]
                        time.sleep(0.2)
                if offset == 30:
                    nodes[1] = stack.enter_context(run_victoriametrics(tmp_path / "vm2", vm2_port))
                if offset == 40:
                    holder.start()
                time.sleep(max(0.0, power_cut + offset + EVERY - time.time()))
            # The survivor took the lease over and mailed the power cut at Lens, once.
            wait_for(lambda: len(smtp.to(RECIPIENT)) >= 1, 90, "the power cut mail")
        finally:
            stop.set()
            for thread in threads:
                thread.join(90)
        # one collector evaluates (which one may change hands as data comes and goes)
        wait_for(lambda: sorted(lease(c) for c in pair) == ["held", "standby"], 30, "one leader")
        # ...and every site's rules are evaluated, each by one of the two (the killed one's
        # heartbeat forgotten once it ran out): the communes and the collectors' own health.
        # (How many each holds is the rendezvous hash's: one may hold all five.)
        wait_for(lambda: sum(alerting(c)["sites"] for c in pair) == len(SITES) + 1
                 and all(alerting(c)["collectors"] == 2 for c in pair),
                 40, "the sites shared out")  # fmt: skip
        assert all(not a.pending for a in agents), "a batch never acknowledged"
        for c in pair:
            for url in urls:
                wait_for(lambda: get_json(f"{c.url}/healthz", "")["victoriametrics"][url]  # noqa: B023
                         ["outbox_requests"] == 0, 60, "forwarded")  # fmt: skip
        # Every acknowledged batch is in both nodes exactly once.
        for node in nodes:  # every acknowledged batch in each node, exactly once
            held = stored(node)
            wrong = [(a.site, a.host) for a in agents
                     if sorted(held.get((a.site, a.host), [])) != a.values()]  # fmt: skip
            assert not wrong, (node.url, len(wrong), wrong[:5])
            assert len(held) == AGENTS
        subjects = [str(m["Subject"]) for m in smtp.to(RECIPIENT)]
        assert sum("onduleur" in s and "Lens" in s for s in subjects) == 1, subjects
        assert not any("Muette" in s for s in subjects), subjects  # silenced on the other
        # Pages and /api/v1/query answer the same from either collector.
        reader = one.token("", "", "reader")
        asked = "/api/v1/query?measurement=sim&field=seq&host=pc-007&site=Privas&start="
        answers = [get_json(f"{c.url}{asked}{int(time.time()) - 900}", reader) for c in pair]
        assert answers[0] == answers[1] and answers[0]["series"]
        assert site_cells(one, "Lens") == site_cells(other, "Lens")
        assert any("onduleur" in cell for cell in site_cells(other, "Lens"))
