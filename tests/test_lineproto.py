"""Line protocol: the agent's escaper and the collector's parser agree, and follow InfluxDB."""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from collector.ingest.lineproto import (
    Head,
    HeadCache,
    LineError,
    make_head,
    parse_line,
    parse_lines,
    parse_rows,
    parse_value,
)
from protocol.lineproto import Point, format_point

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and not s.startswith("#") and s != "time"  # time: the timestamp
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
    time=st.integers(0, 9_223_372_036),  # InfluxDB's range: up to 2262
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
    # The ingest path's rows say the same; twice, the second one from the head cache.
    text = f"{line}\n{line}\n"
    same_values(decoded(parse_rows(text, "s", 9, HeadCache())), rows_as_parse_lines_has_them(text))


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
        ("cpu v=+3", "invalid field value"),
        ("cpu v=+3i", "invalid field value"),
        ("cpu,time=x v=1", "invalid tag key 'time'"),
        ("cpu time=1", "invalid field key 'time'"),
        ("cpu v=1,time=2i", "invalid field key 'time'"),
        ("cpu v=1 99999999999999999999", "out of range"),
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


# InfluxDB's float grammar, as InfluxDB 1.6.7 applies it (a leading plus sign is refused: see
# test_grammar_parity_with_influxdb): what the parser's fast path must agree with.
FLOAT_GRAMMAR = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


@given(st.text(alphabet="0123456789+-.eE_ intfa١²", min_size=1, max_size=12))
def test_float_values_follow_influxdb_grammar(text: str) -> None:
    if text[-1] in "iu" or text in ("t", "T", "f", "F", "true", "false", "True", "False"):
        return  # integers and booleans, tested elsewhere
    if FLOAT_GRAMMAR.fullmatch(text) and math.isfinite(float(text)):
        value = parse_value(text)
        assert type(value) is float and value == float(text)
    elif FLOAT_GRAMMAR.fullmatch(text):  # 1e999: InfluxDB refuses it, JSON cannot hold it
        with pytest.raises(ValueError, match="float out of range"):
            parse_value(text)
    else:
        with pytest.raises(ValueError):
            parse_value(text)


@given(st.text(alphabet="0123456789-_ ١²", min_size=1, max_size=22))
@example("10000000000")  # year 2286 in seconds: beyond what nanoseconds hold
def test_integer_values_and_timestamps_take_ascii_digits_only(digits: str) -> None:
    valid = re.fullmatch(r"-?[0-9]+", digits) is not None
    in_range = valid and -(2**63) <= int(digits) < 2**63
    if in_range:
        assert parse_value(digits + "i") == int(digits)
        if abs(int(digits)) <= (2**63 - 2) // 10**9:  # seconds that nanoseconds can hold
            assert parse_lines(f"m v=1 {digits}", "s", 0)[0].time == int(digits)
        else:
            with pytest.raises(LineError, match="out of range"):
                parse_lines(f"m v=1 {digits}", "s", 0)
    else:
        with pytest.raises(ValueError):
            parse_value(digits + "i")
    if not valid and " " not in digits:  # a space makes it a line of four parts instead
        with pytest.raises(LineError, match="invalid timestamp"):
            parse_lines(f"m v=1 {digits}", "s", 0)


@given(st.lists(st.sampled_from(["cpu", "m,host=a", "m,site=s,host=a", "m,b=2,a=1"]), max_size=30))
def test_head_cache_parses_as_without_it_and_stays_bounded(heads: list[str]) -> None:
    cache = HeadCache(max_entries=2)
    for head in heads:
        line = f"{head} v=1.5 7"
        assert parse_rows(line, "s", 0, cache) == parse_rows(line, "s", 0)
        assert len(cache) <= 2


def test_head_cache_keeps_what_it_has_when_full_and_starts_afresh_daily() -> None:
    now = [0.0]
    cache = HeadCache(max_entries=2, clock=lambda: now[0])
    first = cache.parse("m,host=a")
    cache.parse("m,host=b")
    assert cache.parse("m,host=c").measurement_and_tags() == ("m", (("host", "c"),))
    assert len(cache) == 2
    assert cache.parse("m,host=a") is first  # kept: still the cached object
    now[0] += 86400
    cache.parse("m,host=c")
    assert len(cache) == 1 and cache.parse("m,host=a") is not first


def test_head_cache_never_keeps_a_bad_head() -> None:
    cache = HeadCache()
    for _ in range(2):  # refused the second time too: nothing was cached
        with pytest.raises(LineError, match="duplicate tag"):
            parse_rows("m,a=1,a=2 v=1.5", "s", 0, cache)
    assert len(cache) == 0


def rows_as_parse_lines_has_them(text: str) -> list[tuple[object, ...]]:
    """What parse_rows must give: parse_lines' points as rows, fields decoded for comparing."""
    return [
        (make_head(p.measurement, p.tags), p.time, p.fields, p.lineno)
        for p in parse_lines(text, "s", 9)
    ]


def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    assert len(set(keys)) == len(keys), f"a key twice in {pairs}"  # json.loads would hide it
    return dict(pairs)


def decoded(rows: list[tuple[Head, int, str, int]]) -> list[tuple[object, ...]]:
    return [
        (head, time, json.loads(fields, object_pairs_hook=unique), lineno)
        for head, time, fields, lineno in rows
    ]


def same_values(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> None:
    assert a == b
    for (_, _, fa, _), (_, _, fb, _) in zip(a, b, strict=True):
        assert [type(v) for v in fa.values()] == [type(v) for v in fb.values()]  # type: ignore[attr-defined]


# Lines as agents, Telegraf and influxdb-client write them, and their corner cases: unsorted
# tags, integers, unsigned, booleans, exponents, escapes, strings, comments, blank lines,
# CRLF, no timestamp, a field key given twice, and values only the general parser takes.
corner_lines = st.sampled_from(
    [
        "cpu,host=a,site=s usage_idle=97.5,usage_user=1.25 1700000000",
        "cpu,site=s,host=a usage_idle=97.5 1700000000",
        "mem,host=a total=8589934592i,free=0i,avail=18446744073709551615u 17",
        "mem,host=a n=5u,free=0i,k=7u 17",
        "disk used=1.5e-07,free=1E+20,x=-0.0 5",
        "disk used=1 5",
        "disk used=1.,w=.5,z=+1.5 5",
        "flag,host=a up=true,down=false 3",
        "flag,host=a up=t,down=F 3",
        "m v=1.0,v=2.0 4",
        "m v=1.0,w=2.0",
        "m,path=C:\\ v=1i 2",
        'm s="a \\"quoted\\" value",v=1i 2',
        "m\\ x,t\\=k=v\\,w v=1i 2",
        "# a comment",
        "",
        "m v=1i 2\r",
        "m,é=à ü=1.5 2",
        "m v=123456789012345678i 2",
        "m v=1e999 2",
        "m,a=1,a=2 v=1.5 2",
        "m v= 2",
    ]
)


@given(st.lists(corner_lines, max_size=8))
def test_rows_are_what_parse_lines_gives(lines: list[str]) -> None:
    text = "\n".join(lines)
    try:
        expected = rows_as_parse_lines_has_them(text)
    except LineError as err:
        with pytest.raises(LineError) as raised:
            parse_rows(text, "s", 9, HeadCache())
        assert raised.value.lineno == err.lineno  # the first bad line, as parse_lines says
        return
    same_values(decoded(parse_rows(text, "s", 9, HeadCache())), expected)


def test_equal_series_written_two_ways_have_one_key() -> None:
    rows = parse_rows('m,b=2,a=1 v=1i 1\nm,a=1,b=2 v=2i 1\nm,a=1,b=2 s="x" 1', "s", 0)
    assert {head.key for head, _, _, _ in rows} == {"m,a=1,b=2"}


# Where Vigie's grammar deliberately differs from InfluxDB 1.6.7's, and why. Every other line
# that one refuses, the other refuses too (test_grammar_parity_with_influxdb).
DIFFERENCES = {
    # SNMP counters are unsigned 64-bit; InfluxDB 1.6 takes `u` only when built with a flag.
    "m v=18446744073709551615u": "accepted by Vigie only",
    # InfluxDB drops a `time` field silently when the line has other fields (204); Vigie
    # refuses the line, so that nothing acknowledged is invisible.
    "m v=1,time=2i": "refused by Vigie only",
}
BOTH_REFUSE = [
    "m v=+3",
    "m v=+3i",
    "m,time=x v=1",
    "m time=1",
    "m v=1e999",
    "m v=1 99999999999999999999",
    "m v=nan",
    "m v=1_000",
]
# A millisecond timestamp sent as seconds: year 58,000.
BOTH_REFUSE_AT_SECONDS = ["m v=1 1764660000000"]
# One measurement each: InfluxDB also refuses a field whose type changes.
BOTH_ACCEPT = ["a v=-3", "b v=.5", "c v=5.", "d v=1 -1", "e v=-3i", "f,t=x v=1,w=true"]


@pytest.mark.services
def test_grammar_parity_with_influxdb(influxdb: Any) -> None:
    """The real InfluxDB 1.6.7 judges the same lines."""
    import urllib.error

    influxdb.query("CREATE DATABASE parity")

    def influx_accepts(line: str) -> bool:
        try:
            return bool(influxdb.write("parity", line) == 204)
        except urllib.error.HTTPError as err:
            assert err.code == 400, err.code
            return False

    def vigie_accepts(line: str) -> bool:
        try:
            parse_rows(line, "s", 0)
        except LineError:
            return False
        return True

    for line in BOTH_REFUSE:
        assert not influx_accepts(line) and not vigie_accepts(line), line
    for line in BOTH_ACCEPT:
        assert influx_accepts(line) and vigie_accepts(line), line
    for line in BOTH_REFUSE_AT_SECONDS:  # both write helpers send precision=s
        assert not influx_accepts(line) and not vigie_accepts(line), line
    for line, why in DIFFERENCES.items():
        expected = (False, True) if why == "accepted by Vigie only" else (True, False)
        assert (influx_accepts(line), vigie_accepts(line)) == expected, line


def test_an_agents_own_lines_go_to_victoriametrics_unchanged_only_when_they_can() -> None:
    """The forwarder skips parsing an agent's lines when VictoriaMetrics would read them as the
    collector did: seconds, a timestamp, site and host tags, no text field, no escape."""
    from collector.mirror.forwarder import as_sent

    agent = "cpu,host=pc-1,site=Privas usage_idle=71.5,usage_user=20i 1796000000\n\n"
    assert as_sent(agent, "s") == [agent.strip()]
    for text, precision in (
        (agent, "ns"),  # another precision: the batch would be read in seconds
        ('device_poll,host=pc-1,site=Privas ok=false,error="délai" 1796000000', "s"),  # text
        ("disk,host=pc-1,site=Privas,path=C:\\ D used=1 1796000000", "s"),  # an escape
        ("cpu,host=pc-1,site=Privas usage_idle=71.5", "s"),  # no time: the collector's
        ("cpu,site=Privas usage_idle=71.5 1796000000", "s"),  # no host tag (Telegraf)
        ("# a comment\n" + agent, "s"),
    ):
        assert as_sent(text, precision) is None, text
