"""Line charts drawn as SVG on the server: no JavaScript, no chart library. Each point carries
its value in a <title>, which browsers show on hover; a dashed line can extend a forecast."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

# The legend's .c0….c6 classes in vigie.css use the same colours (no inline styles: the CSP).
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#0a7ea4")
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 24


@dataclass(frozen=True, slots=True)
class Line:
    """One series on a chart."""

    label: str
    points: Sequence[tuple[int, float]]
    dashed: bool = False


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = (high - low) / count or 1.0
    return [low + i * step for i in range(count + 1)]


def _fmt(value: float) -> str:
    if abs(value) >= 1e9:
        return f"{value / 1e9:.1f} G"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f} M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def line_chart(
    title: str,
    lines: Sequence[Line],
    start: int,
    end: int,
    zone: ZoneInfo,
    unit: str = "",
    floor: float | None = None,
    ceiling: float | None = None,
) -> str:
    """An SVG chart of `lines` over [start, end] (times in `zone` on the x axis)."""
    values = [v for line in lines for _, v in line.points]
    if not values:
        return ""
    low = min(values) if floor is None else min(floor, min(values))
    high = max(values) if ceiling is None else max(ceiling, max(values))
    if high == low:
        high = low + 1
    span = max(1, end - start)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ts: int) -> float:
        return LEFT + (ts - start) / span * plot_w

    def y(value: float) -> float:
        return TOP + (1 - (value - low) / (high - low)) * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in _ticks(low, high):
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'class="grid"/>'
            f'<text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" class="axis" text-anchor="end">'
            f"{html.escape(_fmt(tick))}</text>"
        )
    pattern = "%d/%m" if span > 2 * 86400 else "%H:%M"
    for tick in _ticks(start, end):
        label = datetime.fromtimestamp(tick, zone).strftime(pattern)
        out.append(
            f'<text x="{x(int(tick)):.1f}" y="{HEIGHT - 6}" class="axis" text-anchor="middle">'
            f"{label}</text>"
        )
    for number, line in enumerate(lines):
        colour = COLOURS[number % len(COLOURS)]
        path = " ".join(f"{x(ts):.1f},{y(v):.1f}" for ts, v in line.points)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        out.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{path}">'
            f"<title>{html.escape(line.label)}</title></polyline>"
        )
        # Hover targets: at most ~120 per line keeps big ranges light.
        every = max(1, len(line.points) // 120)
        for ts, value in list(line.points)[::every]:
            when = datetime.fromtimestamp(ts, zone).strftime("%d/%m %H:%M")
            out.append(
                f'<circle cx="{x(ts):.1f}" cy="{y(value):.1f}" r="3" class="dot" fill="{colour}">'
                f"<title>{html.escape(line.label)} — {when} : {html.escape(_fmt(value))}"
                f"{html.escape(unit)}</title></circle>"
            )
    out.append("</svg>")
    legend = "".join(
        f'<span class="key"><i class="c{n % len(COLOURS)}"></i>{html.escape(line.label)}</span>'
        for n, line in enumerate(lines)
    )
    caption = f"<figcaption>{html.escape(title)}</figcaption>"
    return f'<figure>{caption}{"".join(out)}<div class="legend">{legend}</div></figure>'
