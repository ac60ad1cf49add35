"""Line charts drawn on the server: an SVG plot stretched to the page's width, with the axes'
labels in HTML so they keep their size on a phone and on a wide screen (no inline style: the
CSP; the tick positions are fixed classes in vigie.css). Every chart of a page shares one time
axis. Hovering a column shows every line's value at that time in a <title>; dragging across a
plot zooms (static/vigie.js)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.web.units import moment, reading

# The legend's .c0….c6 classes in vigie.css use the same colours.
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#0a7ea4")
WIDTH, HEIGHT = 1000, 200  # the plot's own units, stretched to the box (non-scaling strokes)
TICKS = 5  # y0…y4 and x0…x4 in vigie.css
COLUMNS = 120  # hover targets per chart


@dataclass(frozen=True, slots=True)
class Line:
    """One series on a chart."""

    label: str
    points: Sequence[tuple[int, float]]
    dashed: bool = False
    colour: int = -1  # the colour of another line (a forecast's), else its own place


@dataclass(frozen=True, slots=True)
class Axis:
    """The time axis every chart of a page shares."""

    start: int
    end: int
    now: int
    zone: ZoneInfo
    language: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What one chart shows: its lines, their unit and the range of values to include."""

    title: str
    lines: Sequence[Line]
    unit: str = ""
    floor: float | None = None
    ceiling: float | None = None
    note: str = ""  # a sentence under the chart (a forecast in words)


def _colour(line: Line, number: int) -> int:
    return (line.colour if line.colour >= 0 else number) % len(COLOURS)


def _bounds(chart: Chart) -> tuple[float, float]:
    values = [v for line in chart.lines for _, v in line.points]
    low = min(values) if chart.floor is None else min(chart.floor, min(values))
    high = max(values) if chart.ceiling is None else max(chart.ceiling, max(values))
    return (low, high) if high > low else (low, low + 1)


def _hover(chart: Chart, axis: Axis) -> list[str]:
    """Transparent columns whose title gives every line's value at that time."""
    span = max(1, axis.end - axis.start)
    values: list[dict[int, float]] = [{} for _ in range(COLUMNS)]
    for number, line in enumerate(chart.lines):
        for ts, value in line.points:
            column = int((ts - axis.start) / span * COLUMNS)
            if 0 <= column < COLUMNS:
                values[column][number] = value
    width = WIDTH / COLUMNS
    out = []
    for column, found in enumerate(values):
        if not found:
            continue
        # a day and a time, whatever the range: "3 déc. 14:05"
        middle = axis.start + int((column + 0.5) * span / COLUMNS)
        when = moment(middle, axis.zone, axis.language, 2 * 86400)
        text = " · ".join(
            f"{chart.lines[n].label} : {reading(v, chart.unit, axis.language)}"
            for n, v in sorted(found.items())
        )
        out.append(
            f'<rect class="hover" x="{column * width:.1f}" y="0" width="{width:.1f}" '
            f'height="{HEIGHT}"><title>{html.escape(when)} — {html.escape(text)}</title></rect>'
        )
    return out


def render(chart: Chart, axis: Axis) -> str:
    """The chart as HTML (empty when no line has a point)."""
    if not any(line.points for line in chart.lines):
        return ""
    low, high = _bounds(chart)
    span = max(1, axis.end - axis.start)

    def x(ts: int) -> float:
        return (ts - axis.start) / span * WIDTH

    def y(value: float) -> float:
        return (1 - (value - low) / (high - low)) * HEIGHT

    svg = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-label="{html.escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    svg += [
        f'<line class="grid" x1="0" x2="{WIDTH}" y1="{HEIGHT * i / (TICKS - 1):.1f}" '
        f'y2="{HEIGHT * i / (TICKS - 1):.1f}"/>'
        for i in range(TICKS)
    ]
    if axis.start < axis.now < axis.end:
        svg.append(f'<line class="now" x1="{x(axis.now):.1f}" x2="{x(axis.now):.1f}" '
                   f'y1="0" y2="{HEIGHT}"/>')  # fmt: skip
    for number, line in enumerate(chart.lines):
        path = " ".join(f"{x(ts):.1f},{y(v):.1f}" for ts, v in line.points)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        svg.append(
            f'<polyline class="line" stroke="{COLOURS[_colour(line, number)]}"{dash} '
            f'points="{path}"><title>{html.escape(line.label)}</title></polyline>'
        )
    svg += _hover(chart, axis)
    svg.append("</svg>")
    ticks = [low + (high - low) * i / (TICKS - 1) for i in range(TICKS)]
    y_labels = "".join(
        f'<span class="y{TICKS - 1 - i}">{html.escape(reading(t, chart.unit, axis.language))}'
        "</span>"
        for i, t in enumerate(ticks)
    )
    times = [axis.start + span * i // (TICKS - 1) for i in range(TICKS)]
    x_labels = "".join(
        f'<span class="x{i}">{html.escape(moment(ts, axis.zone, axis.language, span))}</span>'
        for i, ts in enumerate(times)
    )
    legend = "".join(
        f'<span class="key"><i class="c{_colour(line, n)}{" dashed" if line.dashed else ""}">'
        f"</i>{html.escape(line.label)}</span>"
        for n, line in enumerate(chart.lines)
    )
    note = f'<p class="note">{html.escape(chart.note)}</p>' if chart.note else ""
    return (
        f'<figure class="chart"><figcaption>{html.escape(chart.title)}</figcaption>'
        f'<div class="frame"><div class="yaxis">{y_labels}</div>'
        f'<div class="plot" data-start="{axis.start}" data-end="{axis.end}">{"".join(svg)}'
        f'</div></div><div class="xaxis">{x_labels}</div>'
        f'<div class="legend">{legend}</div>{note}</figure>'
    )
