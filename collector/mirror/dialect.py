"""Line protocol as each target reads it: InfluxDB's major versions, and VictoriaMetrics.

InfluxDB 2.x and 3.x read `\\\\` in names and tag values as one backslash (protocol.lineproto's
form). InfluxDB 1.x keeps a backslash literally unless it precedes an escapable character, so
`\\\\` stays two characters and a value ending in a backslash cannot be written at all: such a
point is refused here (it goes to the dead-letter table with the reason), never altered.
"""

from __future__ import annotations

from collector.ingest.lineproto import ParsedPoint
from protocol.lineproto import Point, format_fields, format_point


class Unstorable(ValueError):
    """A point the target cannot store as it is."""


def to_point(parsed: ParsedPoint) -> Point:
    """A parsed line as the agent's Point."""
    return Point(parsed.measurement, dict(parsed.tags), parsed.fields, parsed.time)


def _v1_escape(text: str, specials: str, what: str) -> str:
    for i, char in enumerate(text):
        if char == "\\" and (i + 1 == len(text) or text[i + 1] in specials):
            where = "ends with" if i + 1 == len(text) else f"has '\\{text[i + 1]}' in"
            raise Unstorable(f"{what} {text!r} {where} a backslash InfluxDB 1.x cannot store")
    out = text
    for char in specials:
        if char != "\\":
            out = out.replace(char, "\\" + char)
    return out.replace("\n", " ")


def format_v1(point: Point) -> str:
    """One line for InfluxDB 1.x; raises Unstorable."""
    head = _v1_escape(point.measurement, ", ", "measurement")
    for key in sorted(point.tags):
        tag = point.tags[key]
        if tag:
            head += f",{_v1_escape(key, ',= ', 'tag key')}={_v1_escape(tag, ',= ', 'tag value')}"
    fields = format_fields(point.fields, lambda name: _v1_escape(name, ",= ", "field key"))
    if not fields:
        raise Unstorable("no field left to write")
    return f"{head} {fields} {point.time}"


def format_victoria(point: Point) -> str:
    """One line for VictoriaMetrics: its numbers and booleans only (it would store a string
    field as 0; the text stays in the embedded store); "" when nothing is left to send."""
    numeric = {k: v for k, v in point.fields.items() if not isinstance(v, str)}
    return (format_point(point._replace(fields=numeric)) or "") if numeric else ""


def format_v2(point: Point) -> str:
    """One line for InfluxDB 2.x/3.x; raises Unstorable."""
    line = format_point(point)
    if line is None:
        raise Unstorable("no field left to write")
    return line
