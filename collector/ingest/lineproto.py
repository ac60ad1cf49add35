"""InfluxDB line-protocol parser, with InfluxDB's escaping rules.

Measurement: `\\,` and `\\ ` are escapes. Tag keys, tag values and field keys: `\\,`, `\\=` and
`\\ `. String field values: `\\"` and `\\\\`. A backslash before any other character is literal.
`\\\\` in names and tags decodes to one backslash (InfluxDB 2.x behaviour), which is what
agent.lineproto writes. Lines with no backslash and no quote take a fast path, and the parsed
measurement and tags of such a line are remembered (`HeadCache`): an agent sends the same series
every minute, so most lines of a steady fleet skip tag parsing altogether.
"""

from __future__ import annotations

import itertools
import re
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

from agent.lineproto import FieldValue

PRECISIONS = {"s": 1, "ms": 10**3, "us": 10**6, "u": 10**6, "ns": 10**9, "n": 10**9}

# ASCII: `\d` alone also takes other scripts' digits, which InfluxDB refuses.
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
# A value whose first and last characters are these, with no `_`, is a float if float() takes
# it (float() also takes "1_0", "nan", "inf" and non-ASCII digits, which these rule out).
_FLOAT_FIRST, _FLOAT_LAST = frozenset("+-.0123456789"), frozenset(".0123456789")
_INT = re.compile(r"^[+-]?\d+$", re.ASCII)
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


class LineError(ValueError):
    """A line that is not valid line protocol; says which line and why."""

    def __init__(self, lineno: int, reason: str) -> None:
        self.lineno, self.reason = lineno, reason
        super().__init__(f"line {lineno}: {reason}")


class ParsedPoint(NamedTuple):
    """A parsed line: tags sorted by key, time in Unix seconds. A NamedTuple: the parser makes
    one per line and a tuple is built in half the time of a frozen dataclass."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, FieldValue]
    time: int
    lineno: int


def _is_digits(text: str) -> bool:
    """Plain ASCII digits: int() takes them, so the regex can be skipped."""
    return text.isdigit() and text.isascii()


def parse_value(text: str) -> FieldValue:
    """Decode one unquoted field value (float, integer `i`, unsigned `u`, boolean)."""
    last = text[-1:] if text else ""
    if last in _FLOAT_LAST and text[0] in _FLOAT_FIRST and text.isascii() and "_" not in text:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"invalid field value {text!r}") from None
    if last == "i" and (_is_digits(text[:-1]) or _INT.match(text[:-1])):
        value = int(text[:-1])
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer out of range: {text}")
        return value
    if last == "u" and _is_digits(text[:-1]):
        value = int(text[:-1])
        if value > _UINT64_MAX:
            raise ValueError(f"unsigned integer out of range: {text}")
        return value
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _FLOAT.match(text):
        return float(text)
    raise ValueError(f"invalid field value {text!r}")


def _unescape(text: str, specials: str) -> str:
    if "\\" not in text:
        return text
    out = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in specials:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not preceded by an escaping backslash."""
    parts, start, i, n = [], 0, 0, len(text)
    while i < n:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _scan_key_section(line: str) -> tuple[str, int]:
    """The measurement+tags part (still escaped) and the index just after its space."""
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\":
            i += 2
        elif char == " ":
            return line[:i], i + 1
        else:
            i += 1
    raise ValueError("missing fields")


def _scan_fields(line: str, i: int) -> tuple[list[tuple[str, str, bool]], int]:
    """(key, raw value, quoted) for each field, and the index where the timestamp starts."""
    fields: list[tuple[str, str, bool]] = []
    n = len(line)
    while True:
        start = i
        while i < n and line[i] != "=":
            if line[i] == "\\":
                i += 1
            elif line[i] in ", ":
                raise ValueError(f"field {line[start:i]!r} has no value")
            i += 1
        if i >= n:
            raise ValueError(f"field {line[start:]!r} has no value")
        key = _unescape(line[start:i], ",= \\")
        i += 1
        if i < n and line[i] == '"':
            i += 1
            chars = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\':
                    i += 1
                chars.append(line[i])
                i += 1
            if i >= n:
                raise ValueError(f"unterminated string in field {key!r}")
            fields.append((key, "".join(chars), True))
            i += 1
        else:
            start = i
            while i < n and line[i] not in ", ":
                i += 1
            fields.append((key, line[start:i], False))
        if i >= n:
            return fields, n
        if line[i] == " ":
            return fields, i + 1
        i += 1  # a comma: another field follows


def _tags(pieces: list[str], unescape: bool) -> tuple[tuple[str, str], ...]:
    tags = []
    for piece in pieces:
        key, sep, value = piece.partition("=") if not unescape else _partition(piece)
        if not sep or not key or not value:
            raise ValueError(f"invalid tag {piece!r}: expected key=value")
        if unescape:
            key, value = _unescape(key, ",= \\"), _unescape(value, ",= \\")
        elif "=" in value:
            raise ValueError(f"invalid tag {piece!r}: unescaped '=' in value")
        tags.append((key, value))
    tags.sort()
    for (a, _), (b, _) in itertools.pairwise(tags):
        if a == b:
            raise ValueError(f"duplicate tag {a!r}")
    return tuple(tags)


def _partition(piece: str) -> tuple[str, str, str]:
    parts = _split_unescaped(piece, "=")
    if len(parts) != 2:
        return piece, "", ""
    return parts[0], "=", parts[1]


Head = tuple[str, tuple[tuple[str, str], ...]]  # measurement and sorted tags


def _parse_head(text: str) -> Head:
    """The measurement and tags of an unescaped head section (`cpu,host=a,site=b`)."""
    pieces = text.split(",")
    return pieces[0], _tags(pieces[1:], unescape=False)


class HeadCache:
    """Parsed measurement+tags sections by their text. Bounded: once full it keeps what it has
    (a fleet with more series than the bound still gets its first series cached; emptying and
    refilling would cost memory for no hits) and starts afresh once a day, so the series of
    machines that are gone do not hold their places for ever. Tag strings are interned: the
    indexer's series cache keys on these same objects, and every series of a host shares its
    site and host strings."""

    def __init__(
        self, max_entries: int = 250_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._heads: dict[str, Head] = {}
        self._max = max_entries
        self._clock = clock
        self._since = clock()

    def parse(self, text: str) -> Head:
        """The measurement and tags of an unescaped head section (`cpu,host=a,site=b`)."""
        head = self._heads.get(text)
        if head is not None:
            return head
        measurement, tags = _parse_head(text)
        head = (sys.intern(measurement), tuple((sys.intern(k), sys.intern(v)) for k, v in tags))
        if len(self._heads) >= self._max and self._clock() - self._since >= 86400:
            self._heads.clear()
            self._since = self._clock()
        if len(self._heads) < self._max:
            self._heads[text] = head
        return head

    def __len__(self) -> int:
        return len(self._heads)


def parse_line(
    line: str, lineno: int, divisor: int, default_time: int, heads: HeadCache | None = None
) -> ParsedPoint:
    """Parse one non-empty, non-comment line."""
    try:
        if "\\" not in line and '"' not in line:
            parts = line.split(" ")
            if len(parts) == 1:
                raise ValueError("missing fields")
            if len(parts) > 3 or not all(parts):
                raise ValueError("expected 'measurement[,tags] fields [timestamp]'")
            measurement, tags = (heads.parse if heads is not None else _parse_head)(parts[0])
            if not measurement:
                raise ValueError("missing measurement")
            fields: dict[str, FieldValue] = {}
            for piece in parts[1].split(","):
                key, sep, value = piece.partition("=")
                if not sep or not key or not value:
                    raise ValueError(f"invalid field {piece!r}: expected key=value")
                fields[key] = parse_value(value)
            stamp = parts[2] if len(parts) == 3 else ""
        else:
            section, i = _scan_key_section(line)
            head = _split_unescaped(section, ",")
            measurement = _unescape(head[0], ", \\")
            tags = _tags(head[1:], unescape=True)
            if not measurement:
                raise ValueError("missing measurement")
            raw_fields, i = _scan_fields(line, i)
            fields = {}
            for key, value, quoted in raw_fields:
                if not key:
                    raise ValueError("empty field key")
                fields[key] = value if quoted else parse_value(value)
            stamp = line[i:]
        if stamp:
            if not (_is_digits(stamp) or _INT.match(stamp)):
                raise ValueError(f"invalid timestamp {stamp!r}")
            time = int(stamp) // divisor
        else:
            time = default_time
    except ValueError as err:
        raise LineError(lineno, str(err)) from None
    return ParsedPoint(measurement, tags, fields, time, lineno)


def parse_lines(
    text: str, precision: str = "ns", default_time: int = 0, heads: HeadCache | None = None
) -> list[ParsedPoint]:
    """Parse a whole body; raise LineError at the first bad line (the batch is refused whole)."""
    divisor = PRECISIONS[precision]
    points = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if line and line[0] != "#":
            points.append(parse_line(line, lineno, divisor, default_time, heads))
    return points
