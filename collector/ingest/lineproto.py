"""InfluxDB line-protocol parser, with InfluxDB's escaping rules.

Measurement: `\\,` and `\\ ` are escapes. Tag keys, tag values and field keys: `\\,`, `\\=` and
`\\ `. String field values: `\\"` and `\\\\`. A backslash before any other character is literal.
`\\\\` in names and tags decodes to one backslash (InfluxDB 2.x behaviour), which is what
protocol.lineproto writes. `parse_lines` gives points with their fields decoded (the mirror's
view); `parse_rows` gives what the store takes, and turns a body of simple lines (what agents
send) into rows in a few C-level passes. The series head of each unescaped line is remembered
(`HeadCache`): an agent sends the same series every minute, so most lines of a steady fleet
skip tag parsing altogether.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from protocol.lineproto import FieldValue, escape_key, escape_measurement

PRECISIONS = {"s": 1, "ms": 10**3, "us": 10**6, "u": 10**6, "ns": 10**9, "n": 10**9}

# ASCII: `\d` alone also takes other scripts' digits, which InfluxDB refuses.
# Numbers as InfluxDB takes them: a minus sign may lead, a plus sign may not (v=+3 is refused).
_FLOAT = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
# A value whose first and last characters are these, with no `_`, is a float if float() takes
# it (float() also takes "1_0", "nan", "inf" and non-ASCII digits, which these rule out).
_FLOAT_FIRST, _FLOAT_LAST = frozenset("-.0123456789"), frozenset(".0123456789")
_INT = re.compile(r"^-?\d+$", re.ASCII)
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
            value = float(text)
        except ValueError:
            raise ValueError(f"invalid field value {text!r}") from None
        return _finite(value, text)
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
        return _finite(float(text), text)
    raise ValueError(f"invalid field value {text!r}")


def _finite(value: float, text: str) -> float:
    # InfluxDB refuses a float that overflows (1e400); JSON could not hold it either.
    if not math.isfinite(value):
        raise ValueError(f"float out of range: {text}")
    return value


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
        if key == "time":
            raise ValueError("invalid tag key 'time': it names the timestamp (InfluxDB refuses it)")
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


Tags = tuple[tuple[str, str], ...]  # sorted by key


def parse_head(section: str) -> tuple[str, Tags]:
    """The measurement and tags of a head section (`cpu,host=a,site=b`), escapes and all."""
    if "\\" not in section:
        pieces = section.split(",")
        return pieces[0], _tags(pieces[1:], unescape=False)
    pieces = _split_unescaped(section, ",")
    return _unescape(pieces[0], ", \\"), _tags(pieces[1:], unescape=True)


class Head(NamedTuple):
    """A series as each of its lines needs it: its canonical key (see `series_key`, which the
    store keys series on), its `site` and `host` tags ("" when absent) and how many tags it
    has. Heads are cached by the hundred thousand, so the measurement and tags are parsed
    again from the key when needed (for a new series)."""

    key: str
    site: str
    host: str
    tag_count: int

    def measurement_and_tags(self) -> tuple[str, Tags]:
        """The measurement and sorted tags, from the key."""
        return parse_head(self.key)


def make_head(measurement: str, tags: Tags, key: str = "") -> Head:
    """A Head for sorted `tags`; `key` is the canonical series key when already known."""
    named = dict(tags)
    return Head(
        key or series_key(measurement, tags),
        sys.intern(named.get("site", "")),  # shared by every series of a host
        sys.intern(named.get("host", "")),
        len(tags),
    )


def series_key(measurement: str, tags: Tags) -> str:
    """The canonical key of a series: measurement and sorted tags, escaped as line protocol."""
    return escape_measurement(measurement) + "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in tags
    )


def _parse_head(text: str) -> Head:
    """The Head of an unescaped head section (`cpu,host=a,site=b`)."""
    measurement, tags = parse_head(text)
    # Nothing in an unescaped head needs escaping, so its canonical key is the text with the
    # tags in order: the text itself when they already are.
    key = ",".join([measurement, *(f"{k}={v}" for k, v in tags)])
    return make_head(measurement, tags, text if key == text else key)


class HeadCache:
    """Parsed measurement+tags sections by their text. Bounded: once full it keeps what it has
    (a fleet with more series than the bound still gets its first series cached; emptying and
    refilling would cost memory for no hits) and starts afresh once a day, so the series of
    machines that are gone do not hold their places for ever. A head's key is the cached text
    itself when its tags are in order, so the indexer's series cache keys on the same string
    objects; site and host are interned, shared by every series of a host. Lists of field keys
    are remembered the same way (`repeats_a_key`)."""

    def __init__(
        self, max_entries: int = 250_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._heads: dict[str, Head] = {}
        self._keys: dict[str, bool] = {}
        self._max = max_entries
        self._clock = clock
        self._since = clock()

    def parse(self, text: str) -> Head:
        """The Head of an unescaped head section (`cpu,host=a,site=b`)."""
        head = self._heads.get(text)
        if head is not None:
            return head
        head = _parse_head(text)
        if len(self._heads) >= self._max and self._clock() - self._since >= 86400:
            self._heads.clear()
            self._keys.clear()
            self._since = self._clock()
        if len(self._heads) < self._max:
            self._heads[text] = head
        return head

    def repeats_a_key(self, keys: str) -> bool:
        """Whether a comma-separated list of field keys names one key twice (remembered: an
        agent sends the same keys every minute)."""
        repeats = self._keys.get(keys)
        if repeats is None:
            names = keys.split(",")
            repeats = len(set(names)) != len(names)
            if len(self._keys) < self._max:
                self._keys[keys] = repeats
        return repeats

    def __len__(self) -> int:
        return len(self._heads)


# InfluxDB keeps nanoseconds in a signed 64-bit integer: a time beyond it (a millisecond
# stamp sent with precision=s: year 58,000) is refused, as InfluxDB refuses it.
_MAX_TIME = (2**63 - 2) // 10**9
_MIN_TIME = -_MAX_TIME


def _out_of_range(stamp: str) -> str:
    return (
        f"timestamp {stamp} out of range (years 1677 to 2262): check the precision "
        "parameter (s, ms, us, ns) against the timestamps sent"
    )


def _field_key(key: str) -> str:
    # InfluxDB refuses a point whose only field is `time` and silently drops the field
    # otherwise; Vigie refuses the line either way, so that nothing written is invisible.
    if key == "time":
        raise ValueError("invalid field key 'time': it names the timestamp")
    return key


def parse_line(line: str, lineno: int, divisor: int, default_time: int) -> ParsedPoint:
    """Parse one non-empty, non-comment line."""
    try:
        if "\\" not in line and '"' not in line:
            parts = line.split(" ")
            if len(parts) == 1:
                raise ValueError("missing fields")
            if len(parts) > 3 or not all(parts):
                raise ValueError("expected 'measurement[,tags] fields [timestamp]'")
            measurement, tags = parse_head(parts[0])
            if not measurement:
                raise ValueError("missing measurement")
            fields: dict[str, FieldValue] = {}
            for piece in parts[1].split(","):
                key, sep, value = piece.partition("=")
                if not sep or not key or not value:
                    raise ValueError(f"invalid field {piece!r}: expected key=value")
                fields[_field_key(key)] = parse_value(value)
            stamp = parts[2] if len(parts) == 3 else ""
        else:
            section, i = _scan_key_section(line)
            measurement, tags = parse_head(section)
            if not measurement:
                raise ValueError("missing measurement")
            raw_fields, i = _scan_fields(line, i)
            fields = {}
            for key, value, quoted in raw_fields:
                if not key:
                    raise ValueError("empty field key")
                fields[_field_key(key)] = value if quoted else parse_value(value)
            stamp = line[i:]
        if stamp:
            if not (_is_digits(stamp) or _INT.match(stamp)):
                raise ValueError(f"invalid timestamp {stamp!r}")
            time = int(stamp) // divisor
            if not _MIN_TIME <= time <= _MAX_TIME:
                raise ValueError(_out_of_range(stamp))
        else:
            time = default_time
    except ValueError as err:
        raise LineError(lineno, str(err)) from None
    return ParsedPoint(measurement, tags, fields, time, lineno)


def parse_lines(text: str, precision: str = "ns", default_time: int = 0) -> list[ParsedPoint]:
    """Parse a whole body; raise LineError at the first bad line (the batch is refused whole)."""
    divisor = PRECISIONS[precision]
    points = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if line and line[0] != "#":
            points.append(parse_line(line, lineno, divisor, default_time))
    return points


# One C encoder built once: JSONEncoder.encode builds a new one on every call, which costs more
# than encoding a point's few fields. NaN and infinities never get here (see parse_value).
_fields_json = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, None, json.encoder.encode_basestring, None, ":", ",", False, False, False
)


def encode_fields(fields: dict[str, FieldValue]) -> str:
    """A point's fields as compact JSON (what the store's `sample.fields` holds)."""
    return "".join(_fields_json(fields, 0))


Row = tuple[Head, int, str, int]
"""A point as the store takes it: head, time in seconds, fields as a JSON object, line number."""

# A simple line has no escape, no quote and no string field, and each of its values is written
# as JSON writes it: floats with a dot or an exponent (at most 15 integer digits and a 2-digit
# exponent, so always finite), integers that fit 64 bits whatever their digits, true and false.
# Agents send simple lines; a body of them becomes rows in a few C-level passes over the whole
# text (one regex, a few str.replace) instead of a Python parse per field.
_NAME = r'[^\x00-\x20,=\\"\x7f]++'
_VALUE = (
    r"(?:-?+(?:0|[1-9][0-9]{0,14}+)(?:\.[0-9]++(?:[eE][+-]?+[0-9]{1,2}+)?+|[eE][+-]?+[0-9]{1,2}+)"
    r"|-?+(?:0|[1-9][0-9]{0,17}+)i|(?:0|[1-9][0-9]{0,18}+)u|true|false)"
)
_SIMPLE_LINE = re.compile(
    rf'^([^\x00-\x20,=\\"\x7f#][^\x00-\x20,=\\"\x7f]*+(?:,{_NAME}={_NAME})*+) '
    rf"({_NAME}={_VALUE}(?:,{_NAME}={_VALUE})*+)(?: (-?+[0-9]++))?+$",
    re.MULTILINE,
)
_VALUES = re.compile(r"=[^,\n]*+")


def _as_json(fields: str) -> list[str]:
    """The field sections of simple lines (one per line) as JSON objects. In a simple field
    section `=` and `,` only separate, and an `i` or `u` before a separator only ends an
    integer."""
    text = (fields + "\n").replace("=", '":').replace(",", ',"')
    text = text.replace('i,"', ',"').replace('u,"', ',"').replace("i\n", "\n").replace("u\n", "\n")
    return ('{"' + text[:-1].replace("\n", '}\n{"') + "}").split("\n")


def _simple_rows(
    matches: list[tuple[str, str, str]],
    linenos: Sequence[int],
    divisor: int,
    default_time: int,
    heads: HeadCache,
) -> list[Row]:
    blob = "\n".join([fields for _, fields, _ in matches])
    names = _VALUES.sub("", blob)
    keys = names.split("\n")
    timed = "time" in names and any("time" in k.split(",") for k in keys)
    if timed or any(map(heads.repeats_a_key, keys)):
        # A key given twice (the last value wins) or a field named time (refused): as
        # parse_line has it.
        return [
            _row(parse_line(f"{head} {fields} {stamp}".rstrip(), n, divisor, default_time))
            for (head, fields, stamp), n in zip(matches, linenos, strict=True)
        ]
    parse = heads.parse
    rows = []
    for (text, _, stamp), fields, lineno in zip(matches, _as_json(blob), linenos, strict=True):
        try:
            head = parse(text)
        except ValueError as err:
            raise LineError(lineno, str(err)) from None
        time = int(stamp) // divisor if stamp else default_time
        if not _MIN_TIME <= time <= _MAX_TIME:
            raise LineError(lineno, _out_of_range(stamp))
        rows.append((head, time, fields, lineno))
    return rows


def _row(point: ParsedPoint) -> Row:
    return (
        make_head(point.measurement, point.tags),
        point.time,
        encode_fields(point.fields),
        point.lineno,
    )


def parse_rows(
    text: str, precision: str = "ns", default_time: int = 0, heads: HeadCache | None = None
) -> list[Row]:
    """Parse a whole body into rows for the store, as `parse_lines` would parse it; raise
    LineError at the first bad line (the batch is refused whole)."""
    divisor = PRECISIONS[precision]
    heads = heads if heads is not None else HeadCache()
    matches = _SIMPLE_LINE.findall(text)
    if len(matches) == text.count("\n") + (not text.endswith("\n")):
        return _simple_rows(matches, range(1, len(matches) + 1), divisor, default_time, heads)
    # Some lines are not simple (or blank, or comments): sort them out one by one.
    simple: list[tuple[str, str, str]] = []
    linenos: list[int] = []
    rows: list[Row] = []
    error = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t\r")
        if not line or line[0] == "#":
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match:
            head, fields, stamp = match.groups("")
            simple.append((head, fields, stamp))
            linenos.append(lineno)
        else:
            try:
                rows.append(_row(parse_line(line, lineno, divisor, default_time)))
            except LineError as err:
                error = err  # unless a simple line before it is bad too
                break
    if simple:
        rows += _simple_rows(simple, linenos, divisor, default_time, heads)
        rows.sort(key=lambda row: row[3])
    if error is not None:
        raise error
    return rows
