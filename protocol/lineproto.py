"""Points and their InfluxDB line-protocol form: escaping lives here and nowhere else."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

FieldValue = float | int | bool | str


class Point(NamedTuple):
    """One measurement at one instant: the unit that agents send and the collector stores."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time: int  # Unix seconds: the whole system works at second precision.


_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": " ", "\\": "\\\\"})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": " ", "\\": "\\\\"})


def escape_measurement(name: str) -> str:
    """Escape a measurement name (commas, spaces and backslashes)."""
    return name.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (commas, equals signs, spaces, backslashes)."""
    return text.translate(_KEY)


def escape_string_field(text: str) -> str:
    """Escape a string field value, quotes included."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_field(value: FieldValue) -> str | None:
    """Render one field value; None for values the protocol cannot carry (NaN, infinities)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return repr(value)
    return escape_string_field(value)


def format_fields(fields: Mapping[str, FieldValue], key: Callable[[str], str] = escape_key) -> str:
    """The field set of a line, `key` escaping the names; "" when no value can be sent."""
    pairs = []
    for name, value in fields.items():
        text = format_field(value)
        if text is not None:
            pairs.append(f"{key(name)}={text}")
    return ",".join(pairs)


def format_point(point: Point) -> str | None:
    """Render a point as one line; None when no field survives (a line needs one field)."""
    fields = format_fields(point.fields)
    if not fields:
        return None
    head = escape_measurement(point.measurement)
    for key in sorted(point.tags):
        value = point.tags[key]
        if value != "":  # An empty tag value is invalid in line protocol: leave the tag out.
            head += f",{escape_key(key)}={escape_key(value)}"
    return f"{head} {fields} {point.time}"


def stamp(points: Sequence[Point], site: str, host: str) -> list[Point]:
    """Add the `site` and `host` tags every point carries."""
    return [
        Point(p.measurement, {**p.tags, "site": site, "host": host}, p.fields, p.time)
        for p in points
    ]


def format_points(points: list[Point]) -> list[str]:
    """Render many points, skipping those with nothing to send."""
    return [line for line in map(format_point, points) if line is not None]
