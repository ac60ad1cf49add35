"""Alert scenarios replayed through the real ingest path into a real SMTP server (aiosmtpd),
with a simulated clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.alert_support import Lab, replay
from tests.services import (
    TEST_DATA,
    MailSink,
    SnmpAgent,
    free_port,
    html_part,
    plain,
    post,
    run_smtp,
)  # fmt: skip

DAY = 86400


def subjects(lab: Lab) -> list[str]:
    return [str(m["Subject"]) for m in lab.mails()]


def test_disk_filling_is_announced_the_day_it_crosses_seven_days(
    tmp_path: Path, smtp: MailSink
) -> None:
    with Lab(tmp_path, smtp, "disk-fill@example.org") as lab:
        token = lab.token("Annonay", "pc-mairie")
        start = int(lab.clock.now)
        full_at = start + 30 * DAY  # 40 % -> 100 % at 2 % a day

        def disk(ts: int) -> str:
            used = 40 + 60 * (ts - start) / (30 * DAY)
            return f"disk,site=Annonay,host=pc-mairie,path=C: used_percent={used} {ts}"

        announced = None
        for now in replay(lab, token, 29 * 24, 600, disk, tick_every=6 * 3600):
            if any("sera plein" in s for s in subjects(lab)):
                announced = now
                break
        assert announced is not None, subjects(lab)
        # the 7-day horizon is crossed at day 23: announced that day
        assert (announced - start) // DAY == 23, (announced - start) / DAY
        (alert,) = [a for a in lab.alerts("firing") if a["rule"] == "disk_full_7d"]
        assert abs(alert["eta"] - full_at) <= 0.1 * (full_at - announced)
        body = plain(lab.mails()[0])
        assert "Le disque C: de pc-mairie sera plein vers le" in body
        assert "dans 7 jours" in body or "dans 6 jours" in body
        assert "https://vigie.example.org/sites/Annonay/hosts/pc-mairie" in body
        assert "AVERTISSEMENT" in lab.mails()[0]["Subject"]


def test_noisy_flat_disk_never_alerts(tmp_path: Path, smtp: MailSink) -> None:
    rng = random.Random(7)
    with Lab(tmp_path, smtp, "disk-flat@example.org") as lab:
        token = lab.token("Annonay", "pc-ecole")

        def disk(ts: int) -> str:
            used = 60 + rng.uniform(-4, 4)
            return f"disk,site=Annonay,host=pc-ecole,path=/ used_percent={used} {ts}"

        for _ in replay(lab, token, 30 * 24, 600, disk, tick_every=12 * 3600):
            pass
        assert lab.alerts("all") == [] and lab.mails() == []


def test_reallocated_sectors_rising_alerts_once(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "smart@example.org") as lab:
        token = lab.token("Privas", "pc-compta")
        start = int(lab.clock.now)

        def smart(ts: int) -> str:
            raw = 0 if ts < start + DAY else 8
            return (
                "smart_attribute,site=Privas,host=pc-compta,device=sda,id=5,"
                f"name=Reallocated_Sector_Ct,fail=- raw_value={raw}i {ts}"
            )

        for _ in replay(lab, token, 3 * 24, 1800, smart, tick_every=1800):
            pass
        firing = [s for s in subjects(lab) if "RÉSOLU" not in s]
        assert len(firing) == 1, subjects(lab)
        assert "Reallocated_Sector_Ct a augmenté de 8" in plain(lab.mails()[0])


def test_silent_agent_alerts_once_and_resolves_once(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "silent@example.org") as lab:
        a = lab.token("Cruas", "pc-1")
        b = lab.token("Cruas", "pc-2")  # a neighbour keeps reporting: the site is up
        start = int(lab.clock.now)

        def beat(host: str, ts: int) -> str:
            return f"vigie_agent,site=Cruas,host={host} spool_batches=0i {ts}"

        for minute in range(180):
            ts = start + minute * 60
            lab.clock.now = ts + 60
            lab.write(b, [beat("pc-2", ts)])
            if not 30 <= minute < 90:  # pc-1 is silent for an hour
                lab.write(a, [beat("pc-1", ts)])
            lab.step()
        assert subjects(lab) == [
            "[Vigie] AVERTISSEMENT — Cruas : L'agent de pc-1 ne donne plus de nouvelles",
            "[Vigie] RÉSOLU — Cruas : 1 alerte terminée",
        ]


def test_flapping_link_mails_at_most_once_per_repeat(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "flap@example.org") as lab:
        token = lab.token("Tain", "switch-ecole", "poller")
        start = int(lab.clock.now)

        def port(ts: int) -> str:
            oper = 1 if ((ts - start) // 120) % 2 == 0 else 2  # down 2 min, up 2 min
            return (
                f"interface,site=Tain,host=switch-ecole,ifname=3 oper_status={oper}i,"
                f"admin_status=1i,in_errors=0i {ts}"
            )

        for _ in replay(lab, token, 12, 60, port, tick_every=60):
            pass
        assert len(lab.mails()) == 1, subjects(lab)
        assert "change d'état sans arrêt" in plain(lab.mails()[0])
        fired = {a["rule"] for a in lab.alerts("all") if a["fired_at"]}
        assert fired == {"interface_flapping"}  # never down for 5 minutes in a row


def test_site_outage_sends_one_site_alert(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "outage@example.org") as lab:
        hosts = [f"pc-{i}" for i in range(4)]
        tokens = {h: lab.token("Vals", h) for h in hosts}
        start = int(lab.clock.now)
        for minute in range(60):
            ts = start + minute * 60
            lab.clock.now = ts + 60
            if minute < 20:  # the commune's line is cut after 20 minutes
                for host in hosts:
                    lab.write(tokens[host], [f"vigie_agent,site=Vals,host={host} x=1i {ts}"])
            lab.step()
        assert len(lab.mails()) == 1, subjects(lab)
        assert subjects(lab)[0] == (
            "[Vigie] CRITIQUE — Vals : La commune Vals est injoignable : aucun de ses postes "
            "ne répond"
        )
        quiet = {a["host"]: a["quiet"] for a in lab.alerts("firing") if a["rule"] == "agent_silent"}
        assert quiet == {h: "inhibited" for h in hosts}
        # since the last data (19 min past the start), not since the alert fired
        body = plain(lab.mails()[0])
        assert "depuis le 28 mai 2026 à 22 h 45" in body, body
        assert "silencieux depuis" in body


def test_silence_suppresses_and_its_expiry_restores(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "silence@example.org") as lab:
        ups = lab.token("Lens", "onduleur", "poller")
        tech = lab.token("", "", "technician")
        start = int(lab.clock.now)
        response = lab.client.post(
            "/api/v1/silences",
            json={"host": "onduleur", "duration": 7200, "comment": "battery swap"},
            headers={"Authorization": f"Token {tech}"},
        )
        assert response.status_code == 201, response.text
        reader = lab.token("", "", "reader")
        refused = lab.client.post(
            "/api/v1/silences", json={"host": "x", "duration": 60},
            headers={"Authorization": f"Token {reader}"},
        )  # fmt: skip
        assert refused.status_code == 403

        def on_battery(ts: int) -> str:
            return f"ups,site=Lens,host=onduleur,mib=rfc1628 output_source=5i {ts}"

        for _ in replay(lab, ups, 1, 60, on_battery, tick_every=300):
            pass
        assert lab.mails() == []
        (alert,) = lab.alerts("firing")
        assert alert["quiet"] == "silenced" and alert["rule"] == "ups_on_battery"
        lab.clock.now = start + 7200 + 60
        lab.step()
        assert len(lab.mails()) == 1
        assert "fonctionne sur batterie" in subjects(lab)[0]
        # acknowledged: no reminder after the repeat interval (4 h for critical)
        ack = lab.client.post(
            f"/api/v1/alerts/{alert['id']}/ack", headers={"Authorization": f"Token {tech}"}
        )
        assert ack.status_code == 200
        for _ in replay(lab, ups, 6, 300, on_battery, tick_every=1800):
            pass
        assert len(lab.mails()) == 1


def test_backfilled_hour_fires_at_once(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "late@example.org") as lab:
        token = lab.token("Alba", "nas")
        now = int(lab.clock.now)
        # an agent back from an outage sends its spooled hour in one go
        lab.write(
            token,
            [
                f"disk,site=Alba,host=nas,path=/data used_percent=95 {now - 3600 + m * 60}"
                for m in range(60)
            ],
        )
        lab.step()
        firing = [a for a in lab.alerts("firing") if a["rule"] == "disk_above_90"]
        # held for the 30 minutes of `for` on the data's own clock: fired on the first pass
        assert firing and firing[0]["since"] <= now - 1800 and firing[0]["state"] == "firing"
        assert len(lab.mails()) == 1


def test_smtp_outage_then_recovery_delivers_each_mail_once(tmp_path: Path) -> None:
    port = free_port()
    sink = MailSink("127.0.0.1", port)
    with Lab(tmp_path, sink, "queue@example.org", max_mails_per_hour=100) as lab:
        for number in range(5):  # five sites, five mails, while the server is down
            token = lab.token(f"site{number}", "onduleur", "poller")
            ts = int(lab.clock.now)
            lab.write(token, [f"ups,site=site{number},host=onduleur battery_status=3i {ts}"])
        lab.step()
        lab.clock.advance(60)
        lab.step()
        assert sink.messages == []
        queued = lab.client.app.state.services.repository().mail_counts()  # type: ignore[attr-defined]
        assert queued == {"queued": 5}
        with run_smtp(sink=sink):
            lab.clock.advance(600)  # past the backoff
            lab.alerting.sender.send_due()
            lab.alerting.sender.send_due()
        assert sorted(str(m["Subject"]) for m in sink.messages) == sorted(
            f"[Vigie] CRITIQUE — site{n} : La batterie de l'onduleur onduleur est faible ou épuisée"
            for n in range(5)
        )


def test_refused_recipient_is_recorded_not_retried(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "refused-support@example.org") as lab:
        token = lab.token("Mars", "onduleur", "poller")
        lab.write(token, [f"ups,site=Mars,host=onduleur battery_status=3i {int(lab.clock.now)}"])
        lab.step()
        repo = lab.client.app.state.services.repository()  # type: ignore[attr-defined]
        assert repo.mail_counts() == {"failed": 1}
        row = repo._conn.execute("SELECT error FROM mail").fetchone()
        assert row[0].startswith("550")


def test_a_storm_is_folded_into_a_summary(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "storm@example.org", max_mails_per_hour=3) as lab:
        for number in range(8):
            token = lab.token(f"storm{number}", "onduleur", "poller")
            ts = int(lab.clock.now)
            lab.write(token, [f"ups,site=storm{number},host=onduleur battery_status=3i {ts}"])
        lab.step()
        assert len(lab.mails()) == 3
        lab.clock.advance(3601)
        lab.step()
        mails = lab.mails()
        assert len(mails) == 4
        assert mails[-1]["Subject"] == "[Vigie] Résumé : trop d'alertes en une heure"
        assert plain(mails[-1]).count("--- [Vigie] CRITIQUE") == 5


@pytest.mark.parametrize("language", ["fr", "en"])
def test_language_of_the_mail(tmp_path: Path, smtp: MailSink, language: str) -> None:
    recipient = f"lang-{language}@example.org"
    with Lab(tmp_path, smtp, recipient, language=language) as lab:
        token = lab.token("Die", "onduleur", "poller")
        lab.write(
            token,
            [
                f"ups,site=Die,host=onduleur runtime_minutes=4i {int(lab.clock.now) - 300}",
                f"ups,site=Die,host=onduleur runtime_minutes=4i {int(lab.clock.now)}",
            ],
        )
        lab.step()
        (mail,) = lab.mails()
        expected = {
            "fr": "[Vigie] CRITIQUE — Die : L'onduleur onduleur ne tiendrait plus que 4 minutes",
            "en": "[Vigie] CRITICAL — Die: UPS onduleur would last only 4 minutes",
        }[language]
        assert mail["Subject"] == expected


def test_running_collector_mails_within_seconds(tmp_path: Path, smtp: MailSink) -> None:
    import time

    from tests.services import run_collector

    recipient = "live@example.org"
    extra = (
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
        f'[alerts]\nrecipients = ["{recipient}"]\ngroup_wait = 0\ndigest = false\n'
    )
    with run_collector(tmp_path, extra) as collector:
        token = collector.token("Vernoux", "onduleur", role="poller")
        started = time.monotonic()
        body = f"ups,site=Vernoux,host=onduleur battery_status=3i {int(time.time())}".encode()
        assert post(f"{collector.url}/write?db=vigie&precision=s", body, token)[0] == 204
        while not smtp.to(recipient) and time.monotonic() - started < 15:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        assert smtp.to(recipient), "no mail within 15 s"
        assert elapsed < 5, elapsed
        assert "est faible ou épuisée" in str(smtp.to(recipient)[0]["Subject"])


def test_warnings_wait_for_the_daily_digest_criticals_do_not(
    tmp_path: Path, smtp: MailSink
) -> None:
    with Lab(tmp_path, smtp, "digest@example.org", digest=True, digest_hour=8) as lab:
        # START is 22:26 in Paris: the digest comes the next morning at 8
        disk = lab.token("Tournon", "pc-accueil")
        ups = lab.token("Tournon", "onduleur", "poller")
        start = int(lab.clock.now)
        lines = [
            f"disk,site=Tournon,host=pc-accueil,path=C: used_percent=95 {start - 3600 + 60 * m}"
            for m in range(61)
        ]
        lab.write(disk, lines)
        lab.write(ups, [f"ups,site=Tournon,host=onduleur battery_status=3i {start}"])
        lab.step()
        assert subjects(lab) == [
            "[Vigie] CRITIQUE — Tournon : La batterie de l'onduleur onduleur est faible ou épuisée"
        ]
        lab.clock.now = start + 9 * 3600  # 07:26: not yet (the critical's 4 h reminder, though)
        lab.step()
        assert not [s for s in subjects(lab) if "Récapitulatif" in s]
        assert "(rappel)" in plain(lab.mails()[-1])
        lab.clock.now = start + 10 * 3600  # 08:26
        lab.step()
        lab.step()  # once a day only
        (digest,) = [m for m in lab.mails() if "Récapitulatif" in str(m["Subject"])]
        assert str(digest["Subject"]).startswith(
            "[Vigie] Récapitulatif du 29 mai : 1 avertissement"
        )
        assert "Le disque C: de pc-accueil est rempli à 95 %" in plain(digest)


def test_replayed_hours_of_a_filling_disk_are_mailed_at_once(
    tmp_path: Path, smtp: MailSink
) -> None:
    """An agent back from a six-hour outage sends its spool: a disk at 75 % rising 3 %/h
    will be full in 8 h 20, before tomorrow's digest; the warning is mailed within a minute
    with the right ETA. A noisy flat disk beside it stays silent."""
    import time

    from tests.services import get_json, run_collector

    recipient = "urgent@example.org"
    hour = time.gmtime().tm_hour  # the digest has just gone: the next one is ~24 h away
    extra = (
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
        f'[alerts]\nrecipients = ["{recipient}"]\ndigest = true\ndigest_hour = {hour}\n'
        'timezone = "UTC"\n'
    )
    rng = random.Random(3)
    with run_collector(tmp_path, extra) as collector:
        token = collector.token("Tournon", "pc-compta")
        now = int(time.time())
        full_at = now + int(25 / 3 * 3600)
        started = time.monotonic()
        for batch in range(6):  # oldest hour first, one request per hour, as the spool does
            lines = []
            for ts in range(now - 6 * 3600 + batch * 3600, now - 5 * 3600 + batch * 3600, 60):
                rising = 75 - 3 * (now - ts) / 3600
                flat = 74 + rng.uniform(-2, 2)
                lines += [
                    f"disk,host=pc-compta,path=D: used_percent={rising:.3f} {ts}",
                    f"disk,host=pc-compta,path=C: used_percent={flat:.3f} {ts}",
                ]
            status, text = post(
                f"{collector.url}/write?db=vigie&precision=s",
                "\n".join(lines).encode(),
                token,
                {"X-Vigie-Batch": f"pc-compta:{batch}"},
            )
            assert status == 204, text
        while not smtp.to(recipient) and time.monotonic() - started < 60:
            time.sleep(0.2)
        assert smtp.to(recipient), "the urgent forecast waited for the digest"
        (mail,) = smtp.to(recipient)
        assert "pc-compta" in str(mail["Subject"]) and "AVERTISSEMENT" in str(mail["Subject"])
        assert "Le disque D: de pc-compta sera plein" in plain(mail)
        reader = collector.token("", "", "reader")
        alerts = get_json(f"{collector.url}/api/v1/alerts?state=firing", reader)["alerts"]
        (alert,) = alerts  # the flat disk C: has none
        assert alert["labels"]["path"] == "D:" and alert["rule"] == "disk_full_7d"
        assert abs(alert["eta"] - full_at) <= 0.1 * (full_at - now), (alert["eta"], full_at)


def test_a_warning_firing_too_long_is_mailed_without_waiting(
    tmp_path: Path, smtp: MailSink
) -> None:
    with Lab(
        tmp_path, smtp, "long@example.org", digest=True, digest_hour=8, urgent_after=3 * 3600
    ) as lab:
        # START is 22:26 in Paris: the digest would come at 8, ten hours on
        token = lab.token("Tournon", "nas")
        start = int(lab.clock.now)

        def disk(level: float) -> Callable[[int], str]:
            return lambda ts: f"disk,site=Tournon,host=nas,path=/data used_percent={level} {ts}"

        for _ in replay(lab, token, 2, 60, disk(95)):
            pass
        assert [a["rule"] for a in lab.alerts("firing")] == ["disk_above_90"]
        assert lab.mails() == []  # firing for 1 h 30: it can wait for the digest
        for _ in replay(lab, token, 2, 60, disk(95)):
            pass
        assert subjects(lab) == [
            "[Vigie] AVERTISSEMENT — Tournon : Le disque /data de nas est rempli à 95 %"
        ], int(lab.clock.now) - start
        for _ in replay(lab, token, 1, 60, disk(50)):
            pass
        # announced on its own, so is its end (not in the morning's digest)
        assert len(lab.mails()) == 2 and "RÉSOLU" in subjects(lab)[1]
        lab.clock.now = start + 10 * 3600
        lab.step()
        assert len(lab.mails()) == 2, subjects(lab)


def test_mail_says_what_the_value_means(tmp_path: Path, smtp: MailSink) -> None:
    with Lab(tmp_path, smtp, "words@example.org") as lab:
        ups = lab.token("Die", "onduleur", "poller")
        pc = lab.token("Die", "pc-mairie")
        document = {
            "deviceid": "onduleur-1",
            "itemtype": "NetworkEquipment",
            "content": {"network_device": {"name": "onduleur", "ips": ["192.168.1.30"]}},
        }
        response = lab.client.post(
            "/api/v1/inventory", json=document, headers={"Authorization": f"Token {ups}"}
        )
        assert response.status_code == 204, response.text
        now = int(lab.clock.now)
        lab.write(
            ups,
            [f"ups,site=Die,host=onduleur output_source=5i {now - 120 + m * 60}" for m in range(3)],
        )
        smart = (
            "smart_device,site=Die,host=pc-mairie,device=/dev/sda,model=ST500DM002,"
            "serial_no=Z3T8K2LL health_ok=0i"
        )
        lab.write(pc, [f"{smart} {now}"])
        lab.step()
        (mail,) = lab.mails()
        body = plain(mail)
        assert "sur batterie (code 5)" in body, body
        assert "adresse IP 192.168.1.30" in body
        assert "À faire : Vérifier le courant à la mairie" in body
        assert "défaillant (code 0)" in body
        assert "disque ST500DM002, n° de série Z3T8K2LL" in body
        assert "À faire : Sauvegarder les données tout de suite" in body
        # the HTML part says the same, readable: severity badges, the action in bold, links
        page = html_part(mail)
        assert ">CRITIQUE</span>" in page and "<b>À faire : Sauvegarder les données" in page
        assert '<a href="https://vigie.example.org/sites/Die/hosts/onduleur">' in page
        assert "disque ST500DM002, n° de série Z3T8K2LL" in page and "<script" not in page
        # the API (and the pages) say the same
        (row,) = [a for a in lab.alerts("firing") if a["rule"] == "ups_on_battery"]
        assert row["value_text"] == "sur batterie (code 5)"
        assert row["action"].startswith("Vérifier le courant")
        lab.write(ups, [f"ups,site=Die,host=onduleur output_source=3i {now + 60}"])
        lab.clock.advance(120)
        lab.step()
        resolved = plain(lab.mails()[-1])
        assert "RÉSOLU" in str(lab.mails()[-1]["Subject"])
        assert "À faire" not in resolved and "onduleur" in resolved


def ups_lines(snmpsim: SnmpAgent, recording: str, times: list[int]) -> list[str]:
    """The `ups` point of one poll of a recording through snmpsim, sent as the poller sends it
    at each of `times`."""
    from protocol.lineproto import format_points
    from tests.poller_support import by, poll, snmp_device

    device = snmp_device(snmpsim, "onduleur", "ups", f"vigie/{recording}")
    (point,) = by(poll(device)["onduleur"], "ups")
    tags = {**point.tags, "site": "Lens", "host": "onduleur"}
    return format_points([point._replace(time=ts, tags=tags) for ts in times])


def test_battery_to_replace_and_failed_self_test_alert(
    tmp_path: Path, smtp: MailSink, snmpsim: SnmpAgent
) -> None:
    """APC's and Socomec's recordings through the poller: the shipped rules see the battery to
    replace and the failed self-test."""
    with Lab(tmp_path, smtp, "ups@example.org") as lab:
        token = lab.token("Lens", "", "poller")
        now = int(lab.clock.now)
        lab.write(
            token, ups_lines(snmpsim, "ups-apc-powernet", [now - 660 + 60 * m for m in range(12)])
        )
        lab.step()
        firing = {a["rule"]: a for a in lab.alerts("firing")}
        assert {"ups_battery_replace", "ups_selftest_failed"} <= set(firing)
        assert firing["ups_battery_replace"]["value_text"] == "à remplacer (code 1)"
        assert "À faire : Commander une batterie" in plain(lab.mails()[0])
    with Lab(tmp_path / "socomec", smtp, "ups@example.org") as lab:
        token = lab.token("Lens", "", "poller")
        lab.write(token, ups_lines(snmpsim, "ups-socomec-netvision", [int(lab.clock.now)]))
        lab.step()
        assert "ups_selftest_failed" in {a["rule"] for a in lab.alerts("firing")}


# What each vendor's card says when the power goes and when it comes back: (OID, on battery,
# on mains), set with net-snmp's snmpset on the recordings' writable (writecache) records.
POWER_CUTS = {
    "ups-apc-powernet": [("1.3.6.1.4.1.318.1.1.1.4.1.1.0", 3, 2)],  # upsBasicOutputStatus
    "ups-cyberpower-cps": [("1.3.6.1.4.1.3808.1.1.1.4.1.1.0", 3, 2)],  # upsBaseOutputStatus
    "ups-socomec-netvision": [  # upsAlarmOnBattery, upsBatteryStatus (discharging)
        ("1.3.6.1.4.1.4555.1.1.1.1.6.3.2.0", 1, 0), ("1.3.6.1.4.1.4555.1.1.1.1.2.1.0", 5, 2),
    ],
}  # fmt: skip


def snmpset(snmpsim: SnmpAgent, recording: str, oid: str, value: int) -> None:
    import subprocess

    subprocess.run(
        ["snmpset", *snmpsim.v2c_args(f"vigie/{recording}"), snmpsim.address, oid, "i", str(value)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("recording", sorted(POWER_CUTS))
def test_power_cut_and_return_per_ups_vendor(
    tmp_path: Path, smtp: MailSink, snmpsim: SnmpAgent, recording: str
) -> None:
    """Each vendor's card goes on battery and back: the poller reads it, the shipped rule fires
    (one mail), then resolves (one RÉSOLU mail)."""
    try:
        with Lab(tmp_path, smtp, "ups@example.org") as lab:
            token = lab.token("Lens", "", "poller")
            for oid, battery, _ in POWER_CUTS[recording]:
                snmpset(snmpsim, recording, oid, battery)
            now = int(lab.clock.now)
            lab.write(token, ups_lines(snmpsim, recording, [now - 120, now - 60, now]))
            lab.step()
            assert "ups_on_battery" in {a["rule"] for a in lab.alerts("firing")}
            assert any("sur batterie (code 5)" in plain(m) for m in lab.mails())
            for oid, _, mains in POWER_CUTS[recording]:
                snmpset(snmpsim, recording, oid, mains)
            lab.clock.advance(120)
            now = int(lab.clock.now)
            lab.write(token, ups_lines(snmpsim, recording, [now - 60, now]))
            lab.clock.advance(120)
            lab.step()
            assert "ups_on_battery" not in {a["rule"] for a in lab.alerts("firing")}
            resolved = [m for m in lab.mails() if "RÉSOLU" in str(m["Subject"])]
            assert resolved and "onduleur" in plain(resolved[-1])
    finally:  # the recording as written, for the other tests of the session
        recorded = (TEST_DATA / "snmp" / f"{recording}.snmprec").read_text()
        for oid, _, _ in POWER_CUTS[recording]:
            value = recorded.split(f"{oid}|2:writecache|value=")[1].split()[0]
            snmpset(snmpsim, recording, oid, int(value))


def test_mail_over_starttls_with_authentication(tmp_path: Path) -> None:
    """STARTTLS required by the server, certificate verified against a pinned CA, SMTP AUTH."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.services import make_ca

    ca, cert, key = make_ca(tmp_path / "pki", "Mail")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        logins.append((data.login, data.password))  # type: ignore[attr-defined]
        return AuthResult(success=data.password == b"mail-secret")  # type: ignore[attr-defined]

    sink = MailSink("127.0.0.1", free_port())
    controller = Controller(
        sink, hostname=sink.host, port=sink.port, tls_context=server_tls, require_starttls=True,
        authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        settings: dict[str, object] = {"security": "starttls", "username": "vigie"}
        settings["password"] = "mail-secret"
        settings["ca_file"] = ca
        with Lab(tmp_path / "lab", sink, "tls@example.org", smtp_settings=settings) as lab:
            token = lab.token("Die", "onduleur", "poller")
            lab.write(token, [f"ups,site=Die,host=onduleur battery_status=3i {int(lab.clock.now)}"])
            lab.step()
            assert len(lab.mails()) == 1
            assert logins == [(b"vigie", b"mail-secret")]
    finally:
        controller.stop()


def test_new_data_is_judged_on_arrival_with_filters_and_overrides(
    tmp_path: Path, smtp: MailSink
) -> None:
    """The pass over hosts with new data (not the periodic full pass) reads only what can
    change an alert, yet honours `where` filters and per-site overrides."""
    from collector.rules.load import load_rules, parse_rules

    defaults = load_rules([])
    override = '[[override]]\nrule = "disk_above_90"\nsite = "Lamastre"\nvalue = 95\n'
    rules = parse_rules(override, tmp_path / "site.toml", defaults.rules)
    ruleset = type(defaults)(defaults.rules, rules.overrides)
    with Lab(tmp_path, smtp, "arrival@example.org", rules=ruleset) as lab:
        now = int(lab.clock.now)
        for site in ("Lamastre", "Vernoux"):
            token = lab.token(site, "pc")
            lab.write(token, [f"disk,site={site},host=pc,path=C: used_percent=92 {now}"])
        ssd = lab.token("Lamastre", "nas")
        tags = "site=Lamastre,host=nas,device=nvme0"
        lab.write(ssd, [
            f"smart_attribute,{tags},name=Power_On_Hours raw_value=4000i {now}",
            f"smart_attribute,{tags},name=Critical_Warning raw_value=1i {now}",
        ])  # fmt: skip
        lab.app.state.services.writer.sync()
        lab.alerting.tick(full=False)
        found = {(a["rule"], a["site"], a["state"]) for a in lab.alerts("all")}
        assert found == {
            ("disk_above_90", "Vernoux", "pending"),  # 92 % is past 90 here, not past 95
            ("nvme_critical_warning", "Lamastre", "firing"),
        }


def test_replayed_hosts_are_forecast_once_their_burst_settles() -> None:
    """Six hours arriving as a burst of batches are forecast once, after the burst; a replay
    that goes on for minutes is still forecast every minute."""
    from collector.alerting import Replays

    now = [0.0]
    replays = Replays(lambda: now[0])
    host = ("Tournon", "pc-compta")
    for _ in range(6):  # one batch every 0.2 s
        assert replays.settled({host}) == set()
        now[0] += 0.2
    now[0] += Replays.SETTLE
    assert replays.settled(set()) == {host}
    assert replays.settled(set()) == set()  # once
    due = []
    for second in range(130):  # a long replay: a batch every second for two minutes
        now[0] = 100 + second
        due += [second for _ in replays.settled({host})]
    assert due == [60, 121]
