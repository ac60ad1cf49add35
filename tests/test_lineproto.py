"""Line protocol: the agent's escaper and the collector's parser agree, and follow InfluxDB."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.lineproto import Point, format_point
from collector.ingest.lineproto import LineError, parse_line, parse_lines

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and not s.startswith("#")
)
values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=30),
)


@given(
    measurement=names,
    tags=st.dictionaries(names, names, max_size=5),
    fields=st.dictionaries(names, values, min_size=1, max_size=5),
    time=st.integers(0, 2**40),
)
def test_every_formatted_point_parses_back_unchanged(
    measurement: str, tags: dict[str, str], fields: dict[str, object], time: int
) -> None:
    point = Point(measurement, tags, fields, time)  # type: ignore[arg-type]
    line = format_point(point)
    assert line is not None
    parsed = parse_line(line, 1, 1, 0)
    assert parsed.measurement == measurement
    assert dict(parsed.tags) == tags
    assert parsed.time == time
    for key, value in fields.items():
        got = parsed.fields[key]
        assert got == value and type(got) is type(value)


@given(st.text(max_size=200))
def test_arbitrary_input_raises_only_line_errors(text: str) -> None:
    with contextlib.suppress(LineError):
        parse_lines(text, "s", 0)


@pytest.mark.parametrize(
    ("line", "measurement", "tags", "fields"),
    [
        # InfluxDB's documented escaping examples.
        (
            (
                '"measurement\\ with\\ quo⚡es\\ and\\ emoji",tag\\ key\\ with\\ sp🚀ces='
                'tag\\,value\\,with"commas" field_k\\ey="string field value, only \\" need be '
                'esc🍭ped"'
            ),
            '"measurement with quo⚡es and emoji"',
            {"tag key with sp🚀ces": 'tag,value,with"commas"'},
            {"field_k\\ey": 'string field value, only " need be esc🍭ped'},
        ),
        (
            "weather,location=us\\,midwest temperature=82",
            "weather",
            {"location": "us,midwest"},
            {"temperature": 82.0},
        ),
        (
            'weather,location=us-midwest temperature_str="too\\\\hot\\cool"',
            "weather",
            {"location": "us-midwest"},
            {"temperature_str": "too\\hot\\cool"},
        ),
        (
            "wea\\,ther,location=us temperature=82",
            "wea,ther",
            {"location": "us"},
            {"temperature": 82.0},
        ),
        ("wea=ther,loc=x t=1", "wea=ther", {"loc": "x"}, {"t": 1.0}),
        (
            "m,k=a\\=b f=1i,g=2u,h=T,i=-1.5e3",
            "m",
            {"k": "a=b"},
            {"f": 1, "g": 2, "h": True, "i": -1500.0},
        ),
        ('m f="with space, comma",g=1', "m", {}, {"f": "with space, comma", "g": 1.0}),
    ],
)
def test_influxdb_escaping_rules(
    line: str, measurement: str, tags: dict[str, str], fields: dict[str, object]
) -> None:
    point = parse_line(line, 1, 1, 99)
    assert point.measurement == measurement
    assert dict(point.tags) == tags
    assert point.fields == fields
    assert point.time == 99


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("cpu", "missing fields"),
        ("cpu value", "expected"),
        ("cpu v=1 notatime", "invalid timestamp"),
        ("cpu,host v=1", "invalid tag"),
        ("cpu v=abc", "invalid field value"),
        ("cpu v=1_000", "invalid field value"),
        ("cpu v=nan", "invalid field value"),
        ('cpu v="open', "unterminated string"),
        ("cpu v=99999999999999999999i", "out of range"),
        ("cpu,a=1,a=2 v=1", "duplicate tag"),
        (",a=1 v=1", "missing measurement"),
    ],
)
def test_malformed_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_lines("ok v=1\n" + line, "s", 0)
    assert caught.value.lineno == 2
    assert reason in caught.value.reason


def test_precisions_convert_to_seconds() -> None:
    for precision, stamp in (
        ("s", "1700000000"),
        ("ms", "1700000000123"),
        ("us", "1700000000123456"),
        ("ns", "1700000000123456789"),
    ):
        assert parse_lines(f"m v=1 {stamp}", precision, 0)[0].time == 1700000000


def test_nan_and_infinity_are_not_sent() -> None:
    assert format_point(Point("m", {}, {"v": math.nan}, 1)) is None
    assert format_point(Point("m", {}, {"v": math.inf, "w": 1}, 1)) == "m w=1i 1"
