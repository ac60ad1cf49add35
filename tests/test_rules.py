"""Rule files (errors name the line), overrides, and the evaluators as pure functions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from collector.rules.evaluate import FIRING, OK, PENDING, change, forecast, threshold
from collector.rules.load import RuleError, effective, load_rules, parse_rules
from collector.rules.model import Rule
from tests.services import VENV_BIN

HEADER = '[[rule]]\nname = "r"\nkind = "threshold"\nseverity = "warning"\nmeasurement = "disk"\n'
SUMMARY = 'summary.fr = "a"\nsummary.en = "b"\n'


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (HEADER + 'field = "used"\nfor = "soon"\n' + SUMMARY, 7, "expected a duration"),
        (HEADER + 'field = "used"\nop = "=>"\n' + SUMMARY, 7, "op must be one of"),
        (HEADER + 'field = "used"\ncolour = 1\n' + SUMMARY, 7, "unknown key 'colour'"),
        (HEADER + SUMMARY, 1, "needs a field"),
        (HEADER + 'field = "used"\nsummary.fr = "a"\n', 7, r"English \(en\)"),
        (HEADER.replace('"threshold"', '"magic"') + 'field = "f"\n' + SUMMARY, 3, "kind must be"),
        ('[[override]]\nrule = "nope"\n', 2, "unknown rule 'nope'"),
        ('[[override]]\nrule = "disk_above_90"\nfield = "x"\n', 3, "cannot be overridden"),
        ("[[rule]\n", 1, "Expected"),
    ],
)
def test_rule_errors_name_the_line(text: str, line: int, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    defaults = load_rules([]).rules
    with pytest.raises(RuleError, match=message) as caught:
        parse_rules("\n" * 0 + text, path, defaults)
    assert caught.value.line == line, str(caught.value)


def test_rules_check_command(tmp_path: Path) -> None:
    import subprocess

    good = tmp_path / "site.toml"
    good.write_text('[[override]]\nrule = "disk_above_90"\nsite = "Annonay"\nvalue = 95\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(HEADER + 'field = "used"\nfor = "soon"\n' + SUMMARY)
    command = str(VENV_BIN / "vigie-collector")
    ok = subprocess.run([command, "rules", "check", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "1 overrides" in ok.stdout
    ko = subprocess.run([command, "rules", "check", str(bad)], capture_output=True, text=True)
    assert ko.returncode == 2 and f"{bad}:7:" in ko.stderr


def test_rules_check_reports_every_mistake_of_every_file_in_one_run(tmp_path: Path) -> None:
    import subprocess

    first = tmp_path / "a.toml"
    first.write_text(
        HEADER + 'field = "used"\nfor = "soon"\n' + SUMMARY  # line 7: a bad duration
        + '[[override]]\nrule = "nope"\n'  # line 11: an unknown rule
        + HEADER.replace('"threshold"', '"magic"') + 'field = "f"\n' + SUMMARY  # line 14
    )  # fmt: skip
    second = tmp_path / "b.toml"
    second.write_text('[[override]]\nrule = "disk_above_90"\nfield = "x"\n')
    command = str(VENV_BIN / "vigie-collector")
    done = subprocess.run(
        [command, "rules", "check", str(first), str(second)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "4 rule errors" in done.stderr
    for where in (f"{first}:7:", f"{first}:11:", f"{first}:14:", f"{second}:3:"):
        assert where in done.stderr, done.stderr


def test_rules_list_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`rules list | head -1`, made deterministic: the reader is gone before anything is
    written."""
    import subprocess

    config = tmp_path / "collector.toml"
    config.write_text(f'[storage]\npath = "{tmp_path}/c.db"\n')
    command = [str(VENV_BIN / "vigie-collector"), "rules", "list", "--config", str(config)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    error = proc.stderr.read().decode()
    assert proc.wait(30) == 0 and error == "", error


def test_overrides_by_site_and_host() -> None:
    text = (
        '[[override]]\nrule = "disk_above_90"\nsite = "Annonay"\nvalue = 95\n'
        '[[override]]\nrule = "disk_above_90"\nsite = "Annonay"\nhost = "nas"\nenabled = false\n'
        '[[override]]\nrule = "disk_above_90"\nhost = "srv"\nfor = "2h"\n'
    )
    defaults = load_rules([])
    overrides = parse_rules(text, Path("site.toml"), defaults.rules).overrides
    (rule,) = [r for r in defaults.rules if r.name == "disk_above_90"]
    annonay = effective(rule, overrides, "Annonay", "pc1")
    assert annonay is not None and annonay.value == 95 and annonay.for_ == rule.for_
    assert effective(rule, overrides, "Annonay", "nas") is None
    srv = effective(rule, overrides, "Privas", "srv")
    assert srv is not None and srv.for_ == 7200 and srv.value == 90


def make(**values: object) -> Rule:
    base: dict[str, object] = {
        "name": "t", "kind": "threshold", "severity": "warning", "measurement": "m", "field": "f"
    }  # fmt: skip
    base.update(values)
    return Rule(**base)  # type: ignore[arg-type]


def test_threshold_duration_and_hysteresis() -> None:
    rule = make(op=">", value=90.0, clear=85.0, for_=600)
    rising = [(t * 60, 91.0) for t in range(5)]
    assert threshold(rule, rising, firing=False).state == PENDING
    held = [(t * 60, 91.0) for t in range(11)]
    verdict = threshold(rule, held, firing=False)
    assert verdict.state == FIRING and verdict.since == 0
    # between clear and threshold: a firing alert stays, a new one does not start
    assert threshold(rule, [*held, (700, 87.0)], firing=True).state == FIRING
    assert threshold(rule, [*held, (700, 87.0)], firing=False).state == OK
    assert threshold(rule, [*held, (700, 84.0)], firing=True).state == OK


def test_forecast_is_exact_on_a_line_and_gated() -> None:
    rule = make(kind="prediction", value=100.0, horizon=7 * 86400, window=3 * 86400, gate=70.0)
    day = 86400
    line = [(t * 600, 60 + 5 * t * 600 / day) for t in range(3 * 144)]  # 5 %/day
    verdict = forecast(rule, line)
    full = (100 - 60) / 5 * day
    assert verdict.state == FIRING and verdict.eta is not None
    assert abs(verdict.eta - full) < 60
    low = [(ts, v - 30) for ts, v in line]  # same slope, below the gate
    assert forecast(rule, low).state == OK
    rng = random.Random(3)
    noisy = [(t * 600, 60 + rng.uniform(-5, 5)) for t in range(3 * 144)]
    assert forecast(rule, noisy).state == OK


def test_consumption_restarts_after_a_refill() -> None:
    rule = make(kind="consumption", value=0.0, horizon=7 * 86400, window=14 * 86400)
    day = 86400
    used = [(d * day, 60 - 10 * d) for d in range(6)]  # 10 %/day: empty in 1 day after day 5
    refill = [(6 * day + d * day, 100 - 1 * d) for d in range(8)]  # new toner, 1 %/day
    assert forecast(rule, used).state == FIRING
    assert forecast(rule, used + refill).state == OK  # ~92 days left on the new cartridge


def test_change_modes() -> None:
    rise = make(kind="change", mode="rise", window=86400)
    assert change(rise, [(0, 0.0), (60, 0.0), (120, 8.0)]).value == 8
    assert change(rise, [(0, 3.0), (60, 3.0)]).state == OK
    reboots = make(kind="change", mode="reset", window=86400, count=2)
    uptimes = [(0, 5000.0), (60, 30.0), (120, 90.0), (180, 20.0)]
    assert change(reboots, uptimes).state == FIRING
    assert change(reboots, uptimes[:3]).state == OK
    flap = make(kind="change", mode="flap", window=3600, count=4)
    states = [(t * 60, float(1 + t % 2)) for t in range(6)]
    assert change(flap, states).state == FIRING
