"""The relational state on PostgreSQL 15 (`[state] url`), shared by several collectors: the same
tables and answers as on SQLite, migrations run once when collectors start together, enrollment
codes counted across collectors, each mail claimed by one sender, each site's rules evaluated by
one collector at a time (the sites shared out) and one planning the mails (the alerting lease)."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import psycopg
import pytest

from collector.config import SeriesConfig, StateConfig
from collector.lease import SECONDS as LEASE_SECONDS
from collector.mirror.forwarder import Retry
from collector.rules.load import load_rules
from collector.state import PARTS, Repository
from collector.state.mail import CLAIM_SECONDS
from collector.state.postgres import PgState, where
from collector.state.token_cache import TTL as TOKEN_TTL
from collector.store.db import open_store
from collector.store.victoria import VictoriaQuery
from collector.telemetry import OWN_SITE, own_host
from tests.alert_support import Clock, Lab
from tests.services import (
    VENV_BIN,
    CollectorProcess,
    MailSink,
    Postgres,
    Victoria,
    agent_config,
    free_port,
    get_json,
    post,
    query_series,
    run_collector,
    run_postgres,
    run_victoriametrics,
    start_agent,
    wait_for,
)
from tests.test_several_collectors import spooled

pytestmark = pytest.mark.services  # PostgreSQL and collectors run for real

NOW = 1_780_000_000


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with run_postgres() as server:
        yield server


@pytest.fixture
def state_url(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    """A new database per test."""
    return postgres.create_database(re.sub(r"\W+", "_", request.node.name)[:60].lower())


@pytest.fixture
def pg(state_url: str) -> Iterator[PgState]:
    state = PgState(state_url)
    state.open(PARTS)
    yield state
    state.close()


def pg_columns(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def test_every_part_migrates_to_the_tables_it_has_on_sqlite_once_for_collectors_starting_together(
    tmp_path: Path, state_url: str
) -> None:
    states = [PgState(state_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(state: PgState) -> None:
        try:
            state.open(PARTS)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start, args=(s,)) for s in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    sqlite = open_store(tmp_path / "collector.db")
    expected = {
        table: [row[1] for row in sqlite.execute(f'PRAGMA table_info("{table}")')]
        for part in PARTS
        for table in part.tables
    }
    columns = pg_columns(state_url)
    assert {t: c for t, c in columns.items() if t != "schema_part"} == expected
    versions = dict(states[0].connection().execute("SELECT name, version FROM schema_part"))
    assert versions == {part.name: len(part.migrations) for part in PARTS}
    states[1].open(PARTS)  # a restart migrates nothing more
    for state in states:
        state.close()


def exercise(repo: Repository) -> list[Any]:
    """Every kind of state through the repository; what it answered, tokens aside (random)."""
    out: list[Any] = []
    token = repo.create_token("Lens", "pc-1", "workstation", NOW)
    identity = repo.identify(token)
    out += [identity, repo.identify(token + "x")]
    assert identity is not None
    out += [repo.revoke_token(identity.token_id, NOW + 1), repo.identify(token)]
    out += [[(t.site, t.host, t.role, t.revoked) for t in repo.list_tokens()]]
    code = repo.create_enrollment("Lens", "workstation", NOW + 600, NOW, uses=2)
    for host in ("pc-2", "pc-3", "pc-4"):
        try:
            out.append(repo.redeem_enrollment(code, host, NOW + 2, "10.0.0.9")[1:])
        except ValueError as err:
            out.append(str(err))
    out += [repo.enrollments(), repo.enrollment_uses(repo.enrollments()[0].id)]
    labels = {"site": "Lens", "host": "onduleur"}
    repo.open_alert("k1", "ups_on_battery", "critical", labels, "firing", NOW, 5.0, None, NOW)
    repo.open_alert("k2", "disk_full_7d", "warning", labels, "pending", NOW, 91.5, NOW + 9, NOW)
    active = repo.active_alerts()
    out += [active, repo.acknowledge(active["k1"].id, "émilie", NOW + 5, "batterie commandée")]
    repo.update_alert(active["k2"], "resolved", 80.0, None, NOW + 6)
    repo.mark_notified([active["k1"].id], "firing", NOW + 7)
    out += [repo.alerts(("firing", "resolved")), repo.alert_counts("Lens"), repo.to_notify()]
    out += [repo.unacknowledge(active["k1"].id), repo.alert(active["k1"].id)]
    from collector.state import NewSilence

    silence = repo.add_silence(
        NewSilence("Lens", None, None, NOW, NOW + 60, "travaux", "silence"), "émilie", NOW
    )
    out += [repo.silences(NOW + 1), repo.end_silence(silence, NOW + 2), repo.silences(NOW + 3)]
    first = {"itemtype": "Computer", "content": {"softwares": [{"name": "LibreOffice",
             "version": "7.5.9"}], "hardware": {"name": "PC-Mairie"}}}  # fmt: skip
    later = {"itemtype": "Computer", "content": {"softwares": [{"name": "LibreOffice",
             "version": "7.6.4"}], "hardware": {"name": "PC-Mairie"}}}  # fmt: skip
    out += [repo.save_inventory("Lens", "pc-1", first, NOW, "b1")]
    out += [repo.save_inventory("Lens", "pc-1", later, NOW + 10, "b2")]
    out += [repo.save_inventory("Lens", "pc-1", first, NOW + 20, "b2")]  # a replay: nothing
    out += [repo.inventory("Lens", "pc-1"), repo.inventory_changes("Lens", "pc-1")]
    out += [[row[:3] for row in repo.search_inventory("pc-MAIRIE")], repo.search_inventory("%")]
    repo.add_user("emilie", "scrypt$hash", "technician", NOW)
    try:
        repo.add_user("emilie", "other", "reader", NOW)
    except ValueError as err:
        out.append(str(err))
    user = repo.user("emilie")
    assert user is not None
    repo.open_session(user, "cookie", "csrf", NOW, 3600)
    out += [
        repo.users(),
        repo.web_session("cookie", NOW + 1),
        repo.web_session("cookie", NOW + 4000),
    ]
    out += [repo.set_password("emilie", "scrypt$new"), repo.web_session("cookie", NOW + 2)]
    for n in range(4):  # two per hour, then held in one summary
        repo.enqueue_mail("tech@example.org", f"alerte {n}", f"corps {n}", NOW, 2, "résumé")
    claimed = repo.claim_mail(NOW)  # taking turns is the next tests' (SQLite has one sender)
    out += [claimed]
    repo.mail_sent(claimed[0].id, NOW + 1)
    repo.mail_failed(claimed[1], "550 refused", None)
    repo.release_held(NOW + 3600)
    out += [repo.claim_mail(NOW + 3600), repo.mail_counts()]
    out += newest_samples(repo)
    out += [repo.take_lease("alerting", "a", NOW, 30), repo.take_lease("alerting", "b", NOW, 30)]
    out += [
        repo.take_lease("alerting", "b", NOW + 30, 30),
        repo.holds_lease("alerting", "a", 1, NOW + 31),
        repo.take_lease("alerting", "b", NOW + 31, 30, idle=True),  # b receives no data...
        repo.take_lease("alerting", "c", NOW + 32, 30),  # ...c does: c takes over at once
        repo.take_lease("alerting", "d", NOW + 33, 30, idle=True),  # an idle one cannot
    ]
    repo.set_alert_mark("digest_day", 20260528)
    out += [repo.alert_mark("digest_day"), repo.alert_mark("other")]
    return out + share_sites(repo)


def newest_samples(repo: Repository) -> list[object]:
    """Each series' newest sample (state.latest), as two collectors' forwarders record it."""

    def ups(host: str, at: int, charge: float) -> tuple[str, str, str, str, str, int, str]:
        tags = {"host": host, "site": "Lens"}
        return (f"ups,host={host},site=Lens", "Lens", host, "ups", json.dumps(tags), at,
                json.dumps({"charge_percent": charge}))  # fmt: skip

    # Two samples of one series in a batch (a spooled agent's): the newer is kept.
    batch = [ups("onduleur", NOW, 80.0), ups("onduleur", NOW - 60, 99.0), ups("pc-1", NOW, 1.0)]
    repo.record_latest(batch, NOW * 1000, "a")
    repo.record_latest([ups("onduleur", NOW - 30, 50.0)], NOW * 1000 + 1, "b")  # a replay
    samples = repo.latest_samples("ups", "Lens")
    assert [(host, at, fields) for host, _, at, fields in samples] == [
        ("onduleur", NOW, {"charge_percent": 80.0}), ("pc-1", NOW, {"charge_percent": 1.0})
    ]  # fmt: skip
    return [
        samples,
        sorted(repo.last_contacts("ups", NOW - 10)),
        repo.received_since(NOW * 1000 - 1, {"Lens"}, "b"),  # b had onduleur last
        repo.sites_seen(NOW - 1),
        repo.newest_of("ups", NOW - 100, {("Lens", "onduleur")}),
        repo.hosts_seen("Lens"),
    ]


def share_sites(repo: Repository) -> list[object]:
    """The sites' leases changing hands (collector.lease.SiteLeases)."""
    lens, muette = "site:Lens", "site:Muette"
    repo.take_lease("member:a", "a", NOW, 30)
    repo.take_lease("member:b", "b", NOW + 10, 30, idle=True)
    return [
        repo.keep_leases("site:", "a", {lens, muette}, NOW, 30),
        repo.keep_leases("site:", "b", {lens}, NOW + 1, 30),  # a holds it
        repo.keep_leases("site:", "a", {muette}, NOW + 2, 30),  # a gives Lens up...
        repo.keep_leases("site:", "b", {lens}, NOW + 3, 30),  # ...b takes it
        repo.holds_lease(lens, "a", 1, NOW + 3),
        repo.keep_leases("site:", "b", {lens, muette}, NOW + 32, 30),  # a ran out
        repo.live_holders("member:", NOW + 35),  # a's heartbeat too
    ]


def test_postgresql_answers_as_sqlite_does(tmp_path: Path, pg: PgState) -> None:
    on_sqlite = exercise(Repository(open_store(tmp_path / "collector.db")))
    on_postgres = exercise(Repository(pg.connection()))
    assert on_postgres == on_sqlite
    assert on_postgres[-16:-9] == [1, None, 2, False, 2, 3, None]  # the lease's hands, epochs
    assert on_postgres[-7:] == [
        {"site:Lens": 1, "site:Muette": 1},
        {},
        {"site:Muette": 1},
        {"site:Lens": 2},
        False,
        {"site:Lens": 2, "site:Muette": 2},
        {"b": True},
    ]
    assert "enrollment code used up (2 of 2 uses, last by pc-3)" in on_postgres


def test_an_enrollment_code_is_used_exactly_as_many_times_as_it_says_across_collectors(
    pg: PgState, state_url: str
) -> None:
    code = Repository(pg.connection()).create_enrollment("Lens", "workstation", NOW + 600, NOW, 3)
    others = [PgState(state_url) for _ in range(2)]  # two more collectors
    taken: list[str] = []
    refused: list[str] = []
    gate = threading.Barrier(8)

    def enroll(state: PgState, host: str) -> None:
        repo = Repository(state.connection())
        gate.wait()
        try:
            taken.append(repo.redeem_enrollment(code, host, NOW + 1)[0])
        except ValueError as err:
            refused.append(str(err))

    for other in others:
        other.open(PARTS)
    threads = [
        threading.Thread(target=enroll, args=((pg, *others)[i % 3], f"pc-{i}")) for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 3 and len(refused) == 5
    assert all(r.startswith("enrollment code used up (3 of 3 uses") for r in refused)
    repo = Repository(pg.connection())
    assert [e.used for e in repo.enrollments()] == [3]
    assert len(repo.enrollment_uses(repo.enrollments()[0].id)) == 3
    for other in others:
        other.close()


def test_each_mail_is_claimed_by_one_sender_and_a_dead_senders_claim_runs_out(
    pg: PgState, state_url: str
) -> None:
    repo = Repository(pg.connection())
    for n in range(60):
        repo.enqueue_mail(f"tech{n}@example.org", f"alerte {n}", "corps", NOW, 10, "résumé")
    other = PgState(state_url)
    other.open(PARTS)
    claims: dict[str, list[int]] = {"a": [], "b": []}

    def sender(name: str, state: PgState) -> None:
        mine = Repository(state.connection())
        while batch := mine.claim_mail(NOW, limit=5):
            claims[name] += [m.id for m in batch]

    threads = [threading.Thread(target=sender, args=x) for x in (("a", pg), ("b", other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(claims["a"]) & set(claims["b"])
    assert sorted(claims["a"] + claims["b"]) == list(range(1, 61))
    assert claims["a"] and claims["b"]  # both took part
    # Neither reported back (killed mid-send): the mail is claimable again once the claim ends.
    assert repo.claim_mail(NOW + CLAIM_SECONDS - 1) == []
    assert len(repo.claim_mail(NOW + CLAIM_SECONDS, limit=100)) == 60
    other.close()


def on_battery(ts: int, site: str = "Lens") -> str:
    return f"ups,site={site},host=onduleur,mib=rfc1628 output_source=5i {ts}"


def on_mains(ts: int) -> str:
    return f"ups,site=Lens,host=onduleur,mib=rfc1628 output_source=3i {ts}"


def forwarded(lab: Lab, node: Victoria) -> None:
    """Wait until `lab`'s collector has forwarded everything it accepted to the state's
    `latest` and the nodes, then make `node` search it."""

    def done() -> bool:
        health = lab.client.get("/healthz").json()
        queues = [health["latest"], *health["victoriametrics"].values()]
        return all(q["outbox_requests"] == 0 for q in queues)

    lab.app.state.services.writer.sync()
    wait_for(done, 30, "the collector's forwarding")
    urllib.request.urlopen(f"{node.url}/internal/force_flush", timeout=10).read()


def forwarding_lab(tmp: Path, smtp: MailSink, recipient: str, state_url: str, clock: Clock,
                   nodes: tuple[str, ...], **settings: Any) -> Lab:  # fmt: skip
    """One collector's lab on the shared state, forwarding the series to `nodes`."""
    series = SeriesConfig("victoriametrics", nodes, retry_max_seconds=1)
    return Lab(tmp / "c1", smtp, recipient, state=StateConfig(state_url), clock=clock,
               series=series, **settings)  # fmt: skip


@contextlib.contextmanager
def ups_on_mains(tmp: Path, smtp: MailSink, recipient: str, state_url: str,
                 clock: Clock) -> Iterator[tuple[Lab, Victoria, str]]:  # fmt: skip
    """A node and a collector's lab forwarding to it, whose site Lens has a UPS on mains
    (evaluated once): the lab, the node and the site poller's token."""
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(run_victoriametrics(tmp / "vm"))
        lab = stack.enter_context(forwarding_lab(tmp, smtp, recipient, state_url, clock,
                                                 (node.url,)))  # fmt: skip
        poller = lab.token("Lens", "poller", "poller")
        lab.write(poller, [on_mains(int(clock.now) - 300)])
        lab.step()
        yield lab, node, poller


def test_two_collectors_on_one_state_mail_an_alert_once_and_hand_over_when_one_dies(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    clock = Clock()
    shared = StateConfig(state_url)
    recipient = "astreinte@example.org"
    with (
        Lab(tmp_path / "c1", smtp, recipient, state=shared, clock=clock) as first,
        Lab(tmp_path / "c2", smtp, recipient, state=shared, clock=clock) as second,
    ):
        poller = first.token("Lens", "poller", "poller")  # made on one, valid on both
        for lab in (first, second):  # the same readings reach both (an agent's replay)
            lab.write(poller, [on_battery(int(clock.now) - s) for s in (120, 60, 0)])
        first.step()
        second.step()
        assert first.alerting.lease and second.alerting.lease
        assert first.alerting.lease.epoch == 1 and second.alerting.lease.epoch is None
        (alert,) = second.alerts("firing")  # the second shows what the first decided
        assert alert["rule"] == "ups_on_battery"
        assert len(first.mails()) == 1

        # The first collector dies (no more steps): the second takes over once the lease runs
        # out, and does not mail the alert again.
        clock.advance(LEASE_SECONDS + 1)
        second.write(poller, [on_battery(int(clock.now))])
        second.step()
        assert second.alerting.lease.epoch == 2
        assert len(first.mails()) == 1
        clock.advance(120)
        second.write(poller, [on_mains(int(clock.now) - 60), on_mains(int(clock.now))])
        clock.advance(120)
        second.step()
        assert [a["rule"] for a in first.alerts("firing")] == []
        assert sum("RÉSOLU" in str(m["Subject"]) for m in first.mails()) == 1

        # The first comes back after a pause: it cannot take the leases nor write over the
        # second's decisions, even with its old epoch at hand.
        first.write(poller, [on_battery(int(clock.now))])
        first.step()
        assert first.alerting.lease.epoch is None
        assert first.alerting.sites and first.alerting.sites.held == {}
        first.alerting.sites.held = {"Lens": 1}
        first.app.state.services.writer.sync()
        first.alerting.engine.evaluate(None, slow=True)
        assert first.alerts("firing") == []
        assert len(first.mails()) == 2


def two_collectors(tmp: Path, smtp: MailSink, recipient: str, state_url: str, clock: Clock,
                   **settings: Any) -> list[Lab]:  # fmt: skip
    """Two collectors' labs on one shared state and one clock (`settings`: Lab's)."""
    return [Lab(tmp / name, smtp, recipient, state=StateConfig(state_url), clock=clock,
                **settings) for name in ("c1", "c2")]  # fmt: skip


def share_out(labs: list[Lab], clock: Clock) -> None:
    """Step each lab twice, 6 s apart: the first alone takes every site, then gives the others
    their share."""
    for _ in range(2):
        for lab in labs:
            lab.step()
        clock.advance(6)


def test_two_collectors_share_the_sites_out_and_one_takes_all_when_the_other_dies(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """Each site's rules are evaluated by one collector at a time: two share 24 communes out
    (none twice, none left), each raises and mails the power cuts of its own share, and when
    one dies the other takes its sites over once their leases run out."""
    clock = Clock()
    recipient = "partage@example.org"
    communes = {f"Commune-{n:02d}" for n in range(24)}

    def ups(site: str, source: int, ago: int = 0) -> str:
        ts = int(clock.now) - ago
        return f"ups,site={site},host=onduleur,mib=rfc1628 output_source={source}i {ts}"

    labs = two_collectors(tmp_path, smtp, recipient, state_url, clock, max_mails_per_hour=99)
    with labs[0] as first, labs[1] as second:
        pair = (first, second)
        pollers = {site: first.token(site, "poller", "poller") for site in sorted(communes)}

        def everywhere(lines: Callable[[str], list[str]]) -> None:
            for site, token in pollers.items():
                for lab in pair:  # each collector's own store holds everything
                    lab.write(token, lines(site))

        def shares() -> list[set[str]]:
            return [set(lab.alerting.sites.held) & communes for lab in pair if lab.alerting.sites]

        def cuts() -> set[str]:
            return {a["labels"]["site"] for a in first.alerts("firing")} & communes

        everywhere(lambda site: [ups(site, 3, 300)])
        share_out(list(pair), clock)
        mine, yours = shares()
        assert mine and yours and not mine & yours and mine | yours == communes
        assert all(lab.alerting.sites and lab.alerting.sites.members == 2 for lab in pair)

        everywhere(lambda site: [ups(site, 5, ago) for ago in (120, 60, 0)])
        second.step()  # only the second has evaluated: its own share of the power cuts
        assert cuts() == yours
        first.step()
        assert cuts() == communes
        subjects = [str(m["Subject"]) for m in first.mails()]
        assert sorted(site for s in subjects for site in communes if site in s) == sorted(communes)

        # The first dies: once its leases run out the second evaluates every site, and
        # resolves them all (each mailed once more).
        clock.advance(LEASE_SECONDS + 1)
        everywhere(lambda site: [ups(site, 3, 60), ups(site, 3)])
        second.step()
        assert shares()[1] == communes and second.alerting.sites
        assert second.alerting.sites.members == 1
        clock.advance(120)
        everywhere(lambda site: [ups(site, 3)])
        second.step()
        assert cuts() == set()
        assert sum("RÉSOLU" in str(m["Subject"]) for m in first.mails()) == len(communes)


def collector_state(url: str) -> str:
    return f'[state]\nurl = "{url}"\n'


def test_collectors_share_tokens_enrollment_and_silences(tmp_path: Path, state_url: str) -> None:
    with (
        run_collector(tmp_path / "c1", collector_state(state_url)) as first,
        run_collector(tmp_path / "c2", collector_state(state_url)) as second,
    ):
        token = second.token("Lens", "pc-1")
        line = f"cpu,host=pc-1,site=Lens usage_percent=12.5 {int(time.time())}"
        status, answer = post(f"{first.url}/write?precision=s", line.encode(), token)
        assert status == 204, answer
        code = first.cli("enroll", "create", "--site", "Lens", "--uses", "1")
        body = f'{{"code": "{code}", "host": "pc-2"}}'.encode()
        status, answer = post(f"{first.url}/api/v1/enroll", body, "")
        assert status == 201, answer
        status, answer = post(f"{second.url}/api/v1/enroll", body, "")
        assert status == 403 and "already used (by pc-2)" in answer
        tech = first.token("", "", "technician")
        status, answer = post(
            f"{first.url}/api/v1/silences",
            b'{"site": "Lens", "duration": 3600, "comment": "coupure EDF"}',
            tech,
            {"Content-Type": "application/json"},
        )
        assert status == 201, answer
        (silence,) = get_json(f"{second.url}/api/v1/silences", tech)["silences"]
        assert silence["site"] == "Lens" and silence["comment"] == "coupure EDF"
        assert "1\tLens\tworkstation\t1/1 uses" in second.cli("enroll", "list")


def test_a_collector_rides_over_postgresql_dropping_its_connections(
    tmp_path: Path, state_url: str
) -> None:
    """A restart or a Patroni failover drops every connection: each thread's is replaced at its
    next statement, and no request fails for it."""
    database = state_url.rsplit("/", 1)[1]
    with run_collector(tmp_path / "c", collector_state(state_url)) as collector:
        token = collector.token("Lens", "pc-1")

        def write(n: int) -> int:
            line = f"cpu,host=pc-1,site=Lens usage_percent={n} {int(time.time())}"
            return post(f"{collector.url}/write?precision=s", line.encode(), token)[0]

        threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
        for thread in threads:  # several of the web server's worker threads hold a connection
            thread.start()
        for thread in threads:
            thread.join(30)
        with psycopg.connect(state_url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert dropped is not None and dropped[0] >= 2
        assert [write(n) for n in range(40)] == [204] * 40
        health = get_json(f"{collector.url}/healthz", "")
        assert health["state"] == "ok" and health["alerting"]["lease"] == "held"


def test_while_postgresql_is_down_agents_keep_their_data_and_it_all_arrives_after(
    tmp_path: Path,
) -> None:
    """The state database dies (SIGKILL): writes get a 503 within seconds, never a 500 nor a
    hang, /healthz says so (HAProxy takes the collector out), and once PostgreSQL is back after
    its crash recovery the same connections' threads write again. A real agent's spool holds
    what it took meanwhile, and every cycle arrives."""
    with run_postgres() as server:
        url = server.create_database("vigie")
        with run_collector(tmp_path / "c", collector_state(url)) as collector:
            token = collector.token("Lens", "pc-1")
            # A token checked in the last seconds is trusted without the state (the agent's);
            # one not checked lately cannot be.
            unchecked = collector.token("Lens", "pc-2")
            (tmp_path / "agent").mkdir()
            config = agent_config(tmp_path / "agent", collector.url, token, "Lens", "pc-1")
            begun = int(time.time())
            agent = start_agent(config, log=tmp_path / "agent.log")
            try:
                time.sleep(4)
                server.kill()
                started = time.monotonic()
                line = f"cpu,host=pc-2,site=Lens usage_percent=1 {int(time.time())}"
                status, answer = post(f"{collector.url}/write?precision=s", line.encode(),
                                      unchecked)  # fmt: skip
                assert status == 503 and "cannot check the token now" in answer
                assert time.monotonic() - started < 10
                with pytest.raises(urllib.error.HTTPError) as down:
                    get_json(f"{collector.url}/healthz", "")
                assert down.value.code == 503
                assert "error" in json.loads(down.value.read())["state"]
                time.sleep(6)  # the agent spools through the outage
                server.start()
                wait_for(lambda: spooled(tmp_path / "agent") == 0, 60, "the spool drained")
            finally:
                agent.terminate()
                agent.wait(30)
            collector.stop()  # indexes everything acknowledged
            collector.start()
            assert get_json(f"{collector.url}/healthz", "")["state"] == "ok"
            reader = collector.token("", "", "reader")
            series = query_series(
                f"{collector.url}/api/v1/query?measurement=cpu&field=usage_idle&host=pc-1"
                f"&start={begun}",
                reader,
            )
    times = [ts for ts, _ in series[0]["points"]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 12 and max(gaps) <= 3, (times, gaps)  # no cycle lost (1 s each)


def test_an_unreachable_state_database_is_said_plainly_without_its_password(
    tmp_path: Path, postgres: Postgres
) -> None:
    (tmp_path / "collector.toml").write_text(
        f'[storage]\npath = "{tmp_path}/collector.db"\n[state]\n'
        f'url = "postgresql://vigie:s3cret@127.0.0.1:{postgres.port}/no_such_db"\n'
    )
    done = subprocess.run(
        [str(VENV_BIN / "vigie-collector"), "token", "list", "--config",
         str(tmp_path / "collector.toml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"the PostgreSQL state at 127.0.0.1:{postgres.port}/no_such_db cannot be used" in (
        done.stderr
    )
    assert "no_such_db" in done.stderr and "s3cret" not in done.stderr + done.stdout


def test_a_url_listing_several_servers_finds_the_primary(tmp_path: Path, state_url: str) -> None:
    """Patroni's clients list every server and ask for the writable one (libpq's
    target_session_attrs=read-write): the first listed being down, the collector's state opens
    on the next; a message about such a URL names the servers, never the password."""
    parts = urllib.parse.urlsplit(state_url)
    dead = f"127.0.0.1:{free_port()}"
    listed = parts._replace(netloc=f"vigie:s3cret@{dead},{parts.hostname}:{parts.port}",
                            query="target_session_attrs=read-write").geturl()  # fmt: skip
    state = PgState(listed)
    state.open(PARTS)
    try:
        assert state.connection().execute("SELECT 1").fetchone() == (1,)
    finally:
        state.close()
    assert where(listed) == f"{dead},{parts.hostname}:{parts.port}{parts.path}"


def test_a_state_url_that_is_not_postgresql_is_refused_at_load(tmp_path: Path) -> None:
    from collector.config import ConfigError, load_collector_config

    path = tmp_path / "collector.toml"
    path.write_text(f'[storage]\npath = "{tmp_path}/c.db"\n[state]\nurl = "mysql://u:pw@h/db"\n')
    with pytest.raises(ConfigError, match="must be a postgresql:// URL") as caught:
        load_collector_config(path)
    assert "pw" not in str(caught.value)


def logged_in(collector: CollectorProcess) -> httpx.Client:
    """A web session on `collector` as the reader marie."""
    client = httpx.Client(base_url=collector.url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf
    answer = client.post("/login", data={"csrf": csrf.group(1), "username": "marie",
                                         "password": "un mot de passe assez long"})  # fmt: skip
    assert answer.status_code in (200, 303), answer.text
    return client


def test_pages_show_the_same_devices_and_readings_from_either_collector(
    tmp_path: Path, state_url: str
) -> None:
    """Each collector received half of a site's data; both pages show all of it, text too
    (each series' newest sample goes from the outbox to the shared state)."""
    with (
        run_collector(tmp_path / "c1", collector_state(state_url)) as first,
        run_collector(tmp_path / "c2", collector_state(state_url)) as second,
    ):
        subprocess.run(
            [str(VENV_BIN / "vigie-collector"), "user", "add", "marie", "--role", "reader",
             "--config", str(first.config)],
            input="un mot de passe assez long\n", capture_output=True, text=True, timeout=30,
            check=True,
        )  # fmt: skip
        now = int(time.time())
        poller = first.token("Lens", "poller", role="poller")
        ups = (f"ups,site=Lens,host=onduleur charge_percent=87.5,runtime_minutes=42i,"
               f"output_source=5i {now}")  # fmt: skip
        poll = f'device_poll,site=Lens,host=imprimante ok=false,error="délai dépassé" {now}'
        assert post(f"{first.url}/write?precision=s", f"{ups}\n{poll}".encode(), poller)[0] == 204
        agent = second.token("Lens", "pc-accueil")
        mine = f"vigie_agent,site=Lens,host=pc-accueil,version=1.2.3 cycle_seconds=0.1 {now}"
        assert post(f"{second.url}/write?precision=s", mine.encode(), agent)[0] == 204
        for each in (first, second):
            wait_for(lambda: get_json(f"{each.url}/healthz", "")["latest"]["outbox_requests"]  # noqa: B023
                     == 0, 30, "the newest samples in the state")  # fmt: skip
        # The site page lists the site's alerts too, which the collector evaluating Lens raises
        # when its turn comes (here, each evaluates the store it received: which one holds Lens
        # may change while both start receiving): the pages agree once that has settled.
        pages: list[list[str]] = []

        def page_cells(each: CollectorProcess) -> list[str]:
            with contextlib.closing(logged_in(each)) as client:
                site = client.get("/sites/Lens").text
                assert all(h in site for h in ("onduleur", "imprimante", "pc-accueil")), site
                device = client.get("/sites/Lens/hosts/onduleur").text
                assert "42" in device and "87,5" in device, device
                agent_page = client.get("/sites/Lens/hosts/pc-accueil").text
                assert "1.2.3" in agent_page
                return list(re.findall(r"<td[^>]*>(.*?)</td>", site, re.S))

        def agree() -> bool:
            pages[:] = [page_cells(each) for each in (first, second)]
            return pages[0] == pages[1]

        wait_for(agree, 30, "both collectors' pages of Lens to agree", own=True)
        assert any("onduleur" in cell for cell in pages[0]), pages
        # the text VictoriaMetrics cannot keep is in the state, for every collector
        with contextlib.closing(psycopg.connect(state_url)) as conn:
            row = conn.execute("SELECT fields FROM latest WHERE host = 'imprimante'").fetchone()
        assert row is not None and json.loads(row[0]) == {"ok": False, "error": "délai dépassé"}


def test_the_rules_see_the_whole_fleet_whichever_collector_received_each_part(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """Round robin gives each collector part of each host's data. The lease holder's rules read
    the windows from VictoriaMetrics and the newest values from the shared state: a UPS that
    reported only to the other collector is mailed about (once), and an agent that moved to the
    other collector is not taken for silent."""
    clock = Clock(int(time.time()))
    recipient = "rondes@example.org"  # the SMTP sink is the module's: a recipient of its own
    with run_victoriametrics(tmp_path / "vm") as node:
        series = SeriesConfig("victoriametrics", (node.url,), retry_max_seconds=1)
        labs = two_collectors(tmp_path, smtp, recipient, state_url, clock, series=series)
        with labs[0] as first, labs[1] as second:
            poller = first.token("Lens", "poller", "poller")
            agent = first.token("Lens", "pc-1")
            heartbeat = "vigie_agent,site=Lens,host=pc-1 cycle_seconds=0.1 {}"
            first.write(agent, [heartbeat.format(int(clock.now))])  # first seen on c1...
            first.step()
            assert first.alerting.lease and first.alerting.lease.epoch == 1
            for _ in range(15):  # ...then only on c2, every minute for 15 min
                clock.advance(60)
                second.write(agent, [heartbeat.format(int(clock.now))])
                first.step()
            second.write(poller, [on_battery(int(clock.now) - s) for s in (120, 60, 0)])
            first.step()
            first.step()
            firing = [a["rule"] for a in first.alerts("firing")]
            assert firing == ["ups_on_battery"], firing  # and no agent_silent for pc-1
            subjects = [str(m["Subject"]) for m in first.mails()]
            assert len(subjects) == 1, subjects
            # c1's own store never received the UPS: the rule read the shared data
            local = first.app.state.services.reader()
            assert (
                local.execute("SELECT count(*) FROM series WHERE host='onduleur'").fetchone()[0]
                == 0
            )


def test_a_collector_stopped_cleanly_hands_its_sites_over_at_once(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """A collector stopped for an upgrade gives its sites and the mail planning up as it
    stops: the other takes them at its next look, not once the leases ran out (30 s)."""
    clock = Clock()
    communes = {f"Village-{n}" for n in range(12)}
    labs = two_collectors(tmp_path, smtp, "arret@example.org", state_url, clock)
    with labs[0] as first, labs[1] as second:
        for site in sorted(communes):  # both receive data (neither is a backup)
            token, line = first.token(site, "poller", "poller"), on_mains(int(clock.now))
            for lab in (first, second):
                lab.write(token, [line.replace("Lens", site)])
        share_out(labs, clock)
        assert first.alerting.sites and second.alerting.sites
        mine = set(first.alerting.sites.held) & communes
        assert mine and mine != communes
        lead = first if first.alerting.lease and first.alerting.lease.epoch else second
        first.alerting.stop()  # what the collector does on SIGTERM
        clock.advance(1)
        second.step()
        assert set(second.alerting.sites.held) >= communes
        assert second.alerting.sites.members == 1
        assert second.alerting.lease and second.alerting.lease.epoch
        assert lead is second or second.alerting.lease.epoch == 2  # taken over from the first


def test_a_threshold_crossed_on_another_collector_is_mailed_at_the_next_look(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """Round robin brings a UPS's readings to the collector that does not evaluate its site:
    the site's evaluator learns it from the state and raises the alert at its next look (every
    second), not at its next full pass (every 30 s)."""
    clock = Clock(int(time.time()))
    recipient = "regard@example.org"
    with run_victoriametrics(tmp_path / "vm") as node:
        series = SeriesConfig("victoriametrics", (node.url,), retry_max_seconds=1)
        labs = two_collectors(tmp_path, smtp, recipient, state_url, clock, series=series)
        with labs[0] as first, labs[1] as second:
            poller = first.token("Lens", "poller", "poller")
            first.write(poller, [on_mains(int(clock.now) - 300)])
            share_out(labs, clock)
            held = [lab for lab in (first, second) if "Lens" in lab.alerting.sites.held]  # type: ignore[union-attr]
            assert len(held) == 1
            evaluator, other = (first, second) if held[0] is first else (second, first)
            evaluator.alerting.tick(full=False)
            other.write(poller, [on_battery(int(clock.now) - s) for s in (120, 60, 0)])
            forwarded(other, node)
            clock.advance(1)
            evaluator.alerting.tick(full=False)  # a look, not a full pass
            firing = [a["rule"] for a in evaluator.alerts("firing")]
            assert firing == ["ups_on_battery"], firing


def test_a_look_reads_afresh_a_series_the_node_answered_without(
    tmp_path: Path, smtp: MailSink, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VictoriaMetrics may answer a selector from a cache that /internal/force_flush does not
    reset: a UPS series new to the node was then missing from a look's read, and its mail
    waited for the next full pass (17 to 30 s of 40 mails in bench.alerts). The look sees that
    the state has a newer sample than the node showed and asks again with a selector the node
    never saw; a node that still lacks it (not caught up) has the host looked at again."""
    clock = Clock(int(time.time()))
    hidden: set[str] = set()  # what the node's answers leave out: "cached", "fresh" or both
    export = VictoriaQuery.export_match

    def stale(query: VictoriaQuery, match: str, start: int, end: int) -> Any:
        found = export(query, match, start, end)
        if ("fresh" if "vigie_fresh" in match else "cached") in hidden:
            return {key: points for key, points in found.items()
                    if dict(key[1]).get("site") != "Lens"}  # fmt: skip
        return found

    monkeypatch.setattr(VictoriaQuery, "export_match", stale)
    lens = ups_on_mains(tmp_path, smtp, "nouveau@example.org", state_url, clock)
    with lens as (lab, node, poller):

        def firing() -> list[str]:
            return [a["rule"] for a in lab.alerts("firing")]

        hidden.add("cached")
        lab.write(poller, [on_battery(int(clock.now) - s) for s in (180, 120, 60)])
        forwarded(lab, node)
        lab.alerting.tick(full=False)  # a look, not a full pass
        assert firing() == ["ups_on_battery"]
        # The node is behind even for a fresh selector: the look sees nothing yet, and
        # the next look (nothing new written) reads the host again.
        hidden.add("fresh")
        second = [line.replace("host=onduleur", "host=onduleur2") for line in
                  (on_battery(int(clock.now) - s) for s in (120, 60, 0))]  # fmt: skip
        lab.write(poller, second)
        forwarded(lab, node)
        clock.advance(1)
        lab.alerting.tick(full=False)
        assert firing() == ["ups_on_battery"]
        hidden.clear()
        clock.advance(1)
        lab.alerting.tick(full=False)
        assert firing() == ["ups_on_battery", "ups_on_battery"]


def test_a_look_that_read_stale_shared_data_looks_again(
    tmp_path: Path, smtp: MailSink, state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the state's newest samples lag behind what the collector accepted (PostgreSQL
    slow, or the store's write lock held), a look cannot see the value that crossed a
    threshold: it looks at those hosts again next time, not at the next full pass."""
    clock = Clock(int(time.time()))
    lens = ups_on_mains(tmp_path, smtp, "retard@example.org", state_url, clock)
    with lens as (lab, _, poller):
        latest = lab.app.state.services.latest
        slow, send = threading.Event(), latest._target.send

        def lagging(lines: list[str]) -> None:
            if slow.is_set():
                raise Retry("PostgreSQL too slow (test)")
            send(lines)

        monkeypatch.setattr(latest._target, "send", lagging)
        slow.set()
        lab.write(poller, [on_battery(int(clock.now) - s) for s in (120, 60, 0)])
        lab.app.state.services.writer.sync()
        lab.alerting.tick(full=False)  # the state does not have the power cut yet
        assert lab.alerts("firing") == []
        slow.clear()
        wait_for(lambda: lab.client.get("/healthz").json()["latest"]["outbox_requests"] == 0,
                 30, "the state catching up")  # fmt: skip
        lab.alerting.tick(full=False)  # nothing new arrived: the host is looked at again
        assert [a["rule"] for a in lab.alerts("firing")] == ["ups_on_battery"]


def test_a_node_down_is_alerted_from_the_collectors_own_health(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """With a shared state, each collector files its own health (its outbox's backlog) under
    its own host on site _vigie and forwards it with the agents' data: the rules, which read
    the nodes and `latest`, then see one VictoriaMetrics node falling behind on the other
    node, and raise `influxdb_outbox_growing` (it never fired in this set-up before)."""
    rules = tmp_path / "rules.toml"
    rules.write_text('[[override]]\nrule = "influxdb_outbox_growing"\nvalue = 2\nclear = 0\n'
                     'for = "1m"\n')  # fmt: skip
    clock = Clock(int(time.time()))
    with run_victoriametrics(tmp_path / "vm") as node:
        down = f"http://127.0.0.1:{free_port()}"  # a node that does not answer
        with forwarding_lab(tmp_path, smtp, "sante@example.org", state_url, clock,
                            (node.url, down), rules=load_rules([rules])) as lab:  # fmt: skip
            poller = lab.token("Lens", "poller", "poller")
            for _ in range(2):
                for seconds in (30, 20, 10):
                    lab.write(poller, [on_mains(int(clock.now) - seconds)])
                lab.step()  # files the backlog: the batches the second node lacks
                clock.advance(61)
            lab.step()
            (alert,) = [a for a in lab.alerts("firing") if a["rule"] == "influxdb_outbox_growing"]
            me = own_host(True, lab.config.server.port)
            assert alert["labels"] == {"site": OWN_SITE, "host": me}
            assert alert["value"] >= 6
            # ...and the pages still list only the fleet's devices.
            assert lab.app.state.services.newest().hosts_seen() == [("Lens", "onduleur", ANY)]


def test_a_token_revoked_on_one_collector_is_refused_everywhere_within_seconds(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """With a shared state, a collector trusts a token it checked there for TOKEN_TTL seconds
    (one PostgreSQL round trip per token every few seconds, not one per write): a revocation
    holds at once where the token was not just used, and everywhere within TOKEN_TTL."""
    clock = Clock(int(time.time()))
    labs = two_collectors(tmp_path, smtp, "jeton@example.org", state_url, clock)
    with labs[0] as first, labs[1] as second:
        token = first.token("Lens", "pc-1")
        body = f"cpu,site=Lens,host=pc-1 usage_idle=50 {int(clock.now)}"

        def status(lab: Lab) -> int:
            answer = lab.client.post("/write?db=vigie&precision=s", content=body.encode(),
                                     headers={"Authorization": f"Token {token}"})  # fmt: skip
            return int(answer.status_code)

        assert status(second) == 204  # checked in the state, then trusted for a few seconds
        repo = first.app.state.services.repository()
        (token_id,) = [t.token_id for t in repo.list_tokens() if t.host == "pc-1"]
        assert repo.revoke_token(token_id, int(clock.now))
        revoked = time.monotonic()
        assert status(first) == 401
        assert status(second) == 204  # still trusted: the price of not asking at each write
        time.sleep(max(0.0, revoked + TOKEN_TTL - time.monotonic()))
        assert status(second) == 401


def test_with_no_node_answering_the_rules_that_read_the_state_still_raise_alerts(
    tmp_path: Path, smtp: MailSink, state_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The rules that read windows need a VictoriaMetrics node; the absence rules read each
    host's last contact in the state. With every node down, a silent agent is still reported
    (a pass used to stop at the first rule that could not read), and the rules that cannot
    read are logged once and leave their alerts as they were."""
    clock = Clock(int(time.time()))
    down = f"http://127.0.0.1:{free_port()}"  # no node answers
    with forwarding_lab(tmp_path, smtp, "panne@example.org", state_url, clock,
                        (down,)) as lab:  # fmt: skip
        agent = lab.token("Lens", "pc-1")
        lab.write(agent, [f"vigie_agent,site=Lens,host=pc-1 cycle_seconds=0.2 {int(clock.now)}"])
        wait_for(lambda: lab.client.get("/healthz").json()["latest"]["outbox_requests"] == 0,
                 30, "latest")  # fmt: skip
        clock.advance(11 * 60)
        lab.step()
        firing = [(a["rule"], a["labels"].get("host")) for a in lab.alerts("firing")]
        assert ("agent_silent", "pc-1") in firing
        assert lab.alerting.engine.unreadable.startswith("no VictoriaMetrics node answered")
        lab.step()
        said = [r.message for r in caplog.records if "rules not evaluated" in r.message]
        assert len(said) == 1, said


def test_a_series_postgresql_cannot_name_is_set_aside_and_the_rest_arrives(
    tmp_path: Path, smtp: MailSink, state_url: str
) -> None:
    """A NUL in a tag (from a third-party writer): the embedded store and the nodes keep the
    point, PostgreSQL's text cannot; that point goes to the dead letters with the reason and
    the newest samples keep reaching the state."""
    clock = Clock()
    now = int(clock.now)
    with (
        run_victoriametrics(tmp_path / "vm") as node,
        forwarding_lab(tmp_path, smtp, "x@example.org", state_url, clock, (node.url,)) as lab,
    ):
        poller = lab.token("Lens", "poller", "poller")
        lab.write(poller, [f"ups,site=Lens,host=ond\x00uleur charge_percent=50 {now}",
                           f"ups,site=Lens,host=onduleur charge_percent=80 {now}"])  # fmt: skip
        forwarded(lab, node)
        lab.write(poller, [f"ups,site=Lens,host=onduleur charge_percent=70 {now + 60}"])
        forwarded(lab, node)
        assert lab.client.get("/healthz").json()["latest"]["dead_letters"] == 1
        with contextlib.closing(psycopg.connect(state_url)) as conn:
            rows = conn.execute("SELECT host, ts, fields FROM latest WHERE measurement = 'ups'")
            [(host, at, fields)] = rows.fetchall()
        assert (host, at, json.loads(fields)) == ("onduleur", now + 60, {"charge_percent": 70.0})
        with contextlib.closing(open_store(lab.config.storage.path)) as store:
            [(reason,)] = store.execute("SELECT reason FROM dead_letter WHERE target = 'latest'")
        assert "NUL" in reason and "ond\\x00uleur" in reason
