"""The mail text as pure functions: numbers, durations, states, forecasts, device details."""

from __future__ import annotations

from collector.notify.compose import Words, details, summary
from collector.notify.facts import Device, Disk, device_facts
from collector.rules.load import load_rules
from collector.state import AlertRow

RULES = {r.name: r for r in load_rules([]).rules}
NOW = 1_780_000_000  # 28 May 2026, 22:26 in Paris
FR, EN = Words("fr", "Europe/Paris"), Words("en", "Europe/Paris")


def alert(rule: str, value: float, eta: int | None = None, **labels: str) -> AlertRow:
    return AlertRow(
        1, "k", rule, RULES[rule].severity, "Die", "pc", {"site": "Die", "host": "pc", **labels},
        "firing", NOW - 3600, NOW - 3000, None, None, value, eta, NOW, None, None, None, None,
    )  # fmt: skip


def test_numbers_and_durations_read_as_each_language_writes_them() -> None:
    assert [FR.number(v) for v in (95, 95.0, 1.5, 12.25)] == ["95", "95", "1,5", "12,2"]
    assert EN.number(1.5) == "1.5"
    durations = [FR.duration(s) for s in (30, 27 * 60, 3 * 3600 + 300, 3 * 3600, 50 * 3600)]
    assert durations == ["1 min", "27 min", "3 h 05", "3 h", "2 j 2 h"]
    assert EN.duration(3 * 86400) == "3 d"


def test_values_in_words_states_units_and_silences() -> None:
    assert FR.value(alert("ups_on_battery", 5), RULES["ups_on_battery"]) == (
        "sur batterie (code 5)"
    )
    assert EN.value(alert("ups_on_battery", 5), RULES["ups_on_battery"]) == "on battery (code 5)"
    assert FR.value(alert("disk_above_90", 95.5, path="C:"), RULES["disk_above_90"]) == "95,5 %"
    assert FR.value(alert("agent_silent", 27), RULES["agent_silent"]) == (
        "silencieux depuis 27 min"
    )
    # a code the rule has no word for stays a number
    assert FR.value(alert("ups_on_battery", 9), RULES["ups_on_battery"]) == "9"


def test_summary_says_the_forecast_in_words() -> None:
    found = alert("disk_full_7d", 80, eta=NOW + 5 * 86400, path="D:")
    assert summary(found, RULES["disk_full_7d"], FR, NOW) == (
        "Le disque D: de pc sera plein vers le 2 juin, dans 5 jours"
    )
    soon = alert("disk_full_24h", 96, eta=NOW + 3 * 3600, path="D:")
    assert "vers 1 h 26, dans 3 heures" in summary(soon, RULES["disk_full_24h"], FR, NOW)
    # plurals agree with the count, in both languages
    assert FR.counted("eta_days", 1, date="2 juin") == "vers le 2 juin, dans 1 jour"
    assert EN.counted("eta_hours", 1, time="1:26") == "around 1:26, in 1 hour"
    assert EN.counted("eta_hours", 2, time="1:26") == "around 1:26, in 2 hours"


def test_details_name_the_device_the_disk_and_what_to_do() -> None:
    device = device_facts(
        {
            "content": {
                "networks": [{"ipaddress": "127.0.0.1"}, {"ipaddress": "192.168.1.12"}],
                "storages": [{"name": "sda", "model": "WDC WD10EZEX ", "serial": "WD-123"}],
            }
        }
    )
    assert device == Device("192.168.1.12", (Disk("sda", "WDC WD10EZEX", "WD-123"),))
    lines = details(alert("disk_above_90", 95, path="/"), RULES["disk_above_90"], device, FR)
    assert lines == [
        "depuis le 28 mai 2026 à 21 h 26 — 95 %",
        "adresse IP 192.168.1.12 — disque WDC WD10EZEX, n° de série WD-123",
        "À faire : " + RULES["disk_above_90"].action["fr"],
    ]
    # several disks: a mount point does not say which one, so none is named
    two = device._replace(disks=(*device.disks, Disk("sdb", "X", "Y")))
    assert "disque" not in " ".join(details(alert("disk_above_90", 95, path="/"), None, two, FR))


def test_digest_puts_the_most_urgent_commune_first_and_renders_as_html() -> None:
    """Grouped by commune: the one whose disk fills soonest first, then the one with the most
    warnings; the HTML part holds the same items, with clickable links."""
    import dataclasses

    from collector.notify.compose import digest_mail
    from collector.notify.html import html_body

    def at(site: str, rule: str, value: float, eta: int | None = None) -> AlertRow:
        return dataclasses.replace(alert(rule, value, eta), site=site, labels={"path": "C:"})

    alerts = [
        at("Alboussière", "disk_above_90", 93), at("Alboussière", "disk_above_90", 94),
        at("Boffres", "disk_full_7d", 88, NOW + 2 * 86400),
        at("Cornas", "disk_above_90", 91),
    ]  # fmt: skip
    subject, body = digest_mail(alerts, [], RULES, FR, "https://vigie.example.org", NOW)
    assert subject.endswith(": 4 avertissements")
    order = [body.index(f"{site} :") for site in ("Boffres", "Alboussière", "Cornas")]
    assert order == sorted(order), body
    page = html_body(body)
    assert (
        page.count("<li") == 4 and '<h3 style="margin:14px 0 4px;font-size:15px">Boffres :' in page
    )
    assert '<a href="https://vigie.example.org/sites/Boffres/hosts/pc">' in page
    one = digest_mail(alerts[3:], [], RULES, FR, "", NOW)[0]
    assert one.endswith(": 1 avertissement")
