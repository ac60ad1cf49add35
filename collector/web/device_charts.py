"""The charts of a device page: what is drawn for each measurement, named as a technician
says it, and the forecasts of the shipped rules where they hold (the rules' own `forecast`, on
the rules' own window, so the page never shows a forecast that no alert would follow)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.notify.compose import Words
from collector.rules.evaluate import FIRING, forecast
from collector.rules.load import effective
from collector.rules.model import Rule, RuleSet
from collector.store.query import SeriesQuery
from collector.store.reads import LatestReads, SeriesReads
from collector.web.charts import Axis, Chart, Line, render
from collector.web.units import reading, supply_label

FORECAST_KINDS = ("prediction", "consumption")


@dataclass(frozen=True, slots=True)
class Source:
    """Where the device's data is read from."""

    newest: LatestReads
    site: str
    host: str
    reads: SeriesReads


@dataclass(frozen=True, slots=True)
class Forecast:
    """A rule's forecast for one line: the crossing and the rule's level."""

    line: str
    eta: int
    level: float
    rule: Rule


def series(
    source: Source, measurement: str, field: str, span: tuple[int, int],
    *, rate: bool = False, tags: dict[str, str] | None = None,
) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:  # fmt: skip
    """(tags, points) per series of a field over `span`, about 240 points."""
    start, end = span
    step = max(60, (end - start) // 240)
    asked = SeriesQuery(measurement, field, start, end, source.site, source.host, tags or {},
                        step, rate)  # fmt: skip
    out = []
    for found in source.reads.run_query(asked):
        raw, named = found["points"], found["tags"]
        assert isinstance(raw, list) and isinstance(named, dict)  # run_query's shape
        points = [(int(ts), float(v)) for ts, v in raw if isinstance(v, int | float)]
        out.append(({str(k): str(v) for k, v in named.items()}, points))
    return out


def forecasts(source: Source, rules: RuleSet, measurement: str, field: str,
              label: str, now: int) -> list[Forecast]:  # fmt: skip
    """The earliest crossing each line's rules forecast now, on each rule's own window, as
    the rule applies to this device (its overrides, its tag filters)."""
    found: dict[str, Forecast] = {}
    for shipped in rules.rules:
        rule = effective(shipped, rules.overrides, source.site, source.host)
        if rule is None or rule.kind not in FORECAST_KINDS:
            continue
        if (rule.measurement, rule.field) != (measurement, field):
            continue
        for tags, points in series(source, measurement, field, (now - rule.window, now)):
            if not points or any(tags.get(k) not in v for k, v in rule.where.items()):
                continue
            verdict = forecast(rule, points)
            eta = verdict.eta if verdict.state == FIRING else None
            name = tags.get(label, "") or "—"
            if eta is not None and (name not in found or eta < found[name].eta):
                found[name] = Forecast(name, eta, rule.value, rule)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class Drawn:
    """One field drawn on a chart: a line per series, named by a tag (with a word before or
    after it: "Disque C:", "eth0 entrée") or by a fixed word."""

    measurement: str
    field: str
    label: str
    before: str = ""  # word key
    after: str = ""  # word key
    fixed: str = ""  # word key naming the only line
    rate: bool = False
    scale: float = 1.0
    flip: bool = False  # 100 - value (idle -> busy)
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Kind:
    """A chart of the device page: its title, unit and range of values, and what it draws."""

    title: str  # word key
    unit: str
    floor: float | None
    ceiling: float | None
    drawn: tuple[Drawn, ...]


KINDS = (
    Kind("cpu", "%", 0, 100, (
        Drawn("cpu", "usage_idle", "cpu", fixed="cpu_line", flip=True,
              tags=(("cpu", "cpu-total"),)),
        Drawn("cpu", "usage_active", "cpu", fixed="cpu_line"),
    )),
    Kind("memory", "%", 0, 100, (Drawn("mem", "used_percent", "host", fixed="memory_line"),)),
    Kind("disks", "%", 0, 100, (Drawn("disk", "used_percent", "path", before="disk"),)),
    Kind("network", "bit/s", 0, None, (
        Drawn("net", "bytes_recv", "interface", after="inbound", rate=True, scale=8),
        Drawn("net", "bytes_sent", "interface", after="outbound", rate=True, scale=8),
        Drawn("interface", "in_octets", "ifname", after="inbound", rate=True, scale=8),
        Drawn("interface", "out_octets", "ifname", after="outbound", rate=True, scale=8),
    )),
    Kind("temperatures", "°C", None, None, (Drawn("temp", "temp", "sensor"),)),
    Kind("supplies", "%", 0, 100, (Drawn("printer_supply", "percent", "supply"),)),
    Kind("runtime", "min", 0, None,
         (Drawn("ups", "runtime_minutes", "mib", fixed="runtime_line"),)),
    Kind("charge", "%", 0, 100, (Drawn("ups", "charge_percent", "mib", fixed="charge_line"),)),
)  # fmt: skip
MAX_LINES = 8  # the busiest lines of a chart (a 48-port switch draws its 4 busiest ports)


def _name(drawn: Drawn, tag: str, t: dict[str, str], language: str) -> str:
    if drawn.fixed:
        return t[drawn.fixed]
    if drawn.measurement == "printer_supply":
        tag = supply_label(tag, language)
    parts = [t[drawn.before] if drawn.before else "", tag, t[drawn.after] if drawn.after else ""]
    return " ".join(p for p in parts if p)


def _lines(
    source: Source, drawn: Drawn, span: tuple[int, int], t: dict[str, str], language: str
) -> list[Line]:
    found = series(source, drawn.measurement, drawn.field, span, rate=drawn.rate,
                   tags=dict(drawn.tags))  # fmt: skip
    return [
        Line(
            _name(drawn, tags.get(drawn.label, "") or "—", t, language),
            [(ts, 100 - v if drawn.flip else v * drawn.scale) for ts, v in points],
        )
        for tags, points in found
    ]


def _kind_lines(
    source: Source, rules: RuleSet, kind: Kind, span: tuple[int, int], words: Words,
    t: dict[str, str],
) -> tuple[list[Line], list[str]]:  # fmt: skip
    """A chart's lines (the busiest first), then its forecasts dashed in their line's colour,
    and the forecasts in words."""
    now = span[1]
    lines: list[Line] = []
    wanted: list[tuple[str, Forecast]] = []
    for drawn in kind.drawn:
        lines += _lines(source, drawn, span, t, words.language)
        found = forecasts(source, rules, drawn.measurement, drawn.field, drawn.label, now)
        wanted += [(_name(drawn, f.line, t, words.language), f) for f in found]
    lines.sort(key=lambda ln: -sum(v for _, v in ln.points))
    lines = lines[:MAX_LINES]
    notes = []
    for name, f in wanted:
        index = next((n for n, ln in enumerate(lines) if ln.label == name and ln.points), None)
        if index is None:
            continue
        last = lines[index].points[-1]
        lines.append(Line(f"{name} ({t['forecast']})", [last, (f.eta, f.level)], True, index))
        level = reading(f.level, kind.unit, words.language)
        notes.append(t["forecast_note"].format(line=name, level=level, eta=words.eta(f.eta, now)))
    return lines, notes


def device_charts(
    source: Source, rules: RuleSet, span: tuple[int, int], zone: ZoneInfo,
    language: str, t: dict[str, str],
) -> tuple[list[str], Axis]:  # fmt: skip
    """The HTML of every chart with data, on one time axis (stretched into the future when a
    rule forecasts a crossing, so the dashed line shows where it goes)."""
    start, now = span
    words = Words(language, zone.key)
    built = [(kind, *_kind_lines(source, rules, kind, span, words, t)) for kind in KINDS]
    etas = [ln.points[-1][0] for _, lines, _ in built for ln in lines if ln.dashed]
    end = min(max(etas) + (now - start) // 20, now + (now - start) // 3) if etas else now
    axis = Axis(start, end, now, zone, language)
    charts = [
        render(
            Chart(t[kind.title], lines, kind.unit, kind.floor, kind.ceiling, " ".join(notes)), axis
        )
        for kind, lines, notes in built
    ]
    return [c for c in charts if c], axis
