"""Checks on a write request before it is appended: size, gzip, syntax, limits, identity."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import NamedTuple

from collector.config import Limits
from collector.ingest.lineproto import (
    PRECISIONS,
    Head,
    HeadCache,
    LineError,
    ParsedPoint,
    Row,
    Tags,
    make_head,
    parse_line,
    parse_rows,
)
from collector.ingest.timewindow import Outside, Window, outside
from collector.state import Identity


class Refused(Exception):
    """A request refused for good (4xx): the status and a reason naming the limit or line."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


class OutsideWindow(Refused):
    """A request none of whose points falls inside the time window (400)."""

    def __init__(self, found: Outside) -> None:
        super().__init__(400, f"line {found.first_line}: {found.reason}; no point stored")
        self.found = found


class Identified(NamedTuple):
    """Rows whose heads all carry their `site` and `host` tags, and each host's newest time
    among them (what the indexer keeps in the `host` table)."""

    rows: list[Row]
    hosts: dict[tuple[str, str], int]


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A request that passed every check. When some of its points fall outside the time
    window, `outside` says which and `body` holds the request without them (to be stored
    instead of the body as sent)."""

    parsed: Identified
    gzip: bool
    outside: Outside | None = None
    body: bytes | None = None


def without_lines(text: str, rows: list[Row], window: Window) -> tuple[bytes, list[Row]]:
    """The body and rows with the points outside the window left out."""
    drop = {row[3] for row in rows if not window.holds(row[1])}
    kept = [line for number, line in enumerate(text.split("\n"), 1) if number not in drop]
    return "\n".join(kept).encode(), [row for row in rows if row[3] not in drop]


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """Decompress gzip, refusing more than `limit` bytes of output (a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise Refused(400, f"body is not valid gzip: {err}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise Refused(413, f"decompressed body exceeds max_decompressed_bytes ({limit})")
    if not inflater.eof:
        raise Refused(400, "gzip body is truncated")
    return out


def decompress(body: bytes, content_encoding: str, limit: int) -> tuple[bytes, bool]:
    """The body as sent, gunzipped when declared or recognised as gzip (bounded by `limit`);
    also says whether it was gzip."""
    gzipped = content_encoding.strip().lower() == "gzip" or body[:2] == b"\x1f\x8b"
    if gzipped:
        return gunzip_bounded(body, limit), True
    if len(body) > limit:
        raise Refused(413, f"body exceeds max_decompressed_bytes ({limit})")
    return body, False


def check_limits(rows: list[Row], limits: Limits, lines: list[str]) -> None:
    """Tag count and string lengths, naming the line that breaks one."""
    for head, _, _, lineno in rows:
        if head.tag_count > limits.max_tags:
            raise Refused(
                400, f"line {lineno}: {head.tag_count} tags exceed max_tags ({limits.max_tags})"
            )
    # Every tag and field is part of a line, so only a line longer than the limit can break it.
    if max(map(len, lines), default=0) <= limits.max_string_length:
        return
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip(" \t\r")
        if len(line) > limits.max_string_length and line[0] != "#":
            _check_strings(parse_line(line, lineno, 1, 0), limits)


def _check_strings(point: ParsedPoint, limits: Limits) -> None:
    for key, tag in point.tags:
        if len(key) > limits.max_string_length or len(tag) > limits.max_string_length:
            raise Refused(400, f"line {point.lineno}: tag {key[:40]!r} exceeds max_string_length")
    for key, value in point.fields.items():
        if isinstance(value, str) and len(value) > limits.max_string_length:
            raise Refused(
                400,
                f"line {point.lineno}: field {key[:40]!r} exceeds max_string_length "
                f"({limits.max_string_length})",
            )


def _with_site_and_host(tags: Tags, site: str, host: str) -> Tags:
    named = dict(tags)
    named.setdefault("site", site)
    named.setdefault("host", host)
    return tuple(sorted(named.items()))


def identified(point: ParsedPoint, site: str, host: str) -> ParsedPoint:
    """The point with the `site` and `host` tags it leaves out set to `site` and `host`
    (Telegraf-style clients send neither: they are the token's)."""
    names = {name for name, _ in point.tags}
    if "site" in names and "host" in names:
        return point  # what agents send: nothing to copy
    return point._replace(tags=_with_site_and_host(point.tags, site, host))


def with_identity(
    rows: list[Row], site: str, host: str, token: Identity | None = None
) -> Identified:
    """Every row with its `site` and `host` tags (see `identified`); with a `token`, refuses
    the whole batch (403) at the first row that token may not write."""
    out = []
    hosts: dict[tuple[str, str], int] = {}
    filled: dict[str, Head] = {}  # heads that lacked site or host, by their key
    allowed: set[str] = set()  # keys of the heads the token may write
    for row in rows:
        head, time, fields, lineno = row
        if not (head.site and head.host):
            if head.key not in filled:
                measurement, tags = head.measurement_and_tags()
                filled[head.key] = make_head(measurement, _with_site_and_host(tags, site, host))
            head = filled[head.key]
            row = (head, time, fields, lineno)
        if token is not None and head.key not in allowed:
            if not token.may_write(head.site, head.host):
                raise Refused(
                    403,
                    f"line {lineno}: this token may not write site={head.site!r} "
                    f"host={head.host!r} (it is bound to site={token.site!r} "
                    f"host={token.host!r}, role {token.role})",
                )
            allowed.add(head.key)
        key = (head.site, head.host)
        if time > hosts.get(key, time - 1):
            hosts[key] = time
        out.append(row)
    return Identified(out, hosts)


def check_write(
    body: bytes,
    content_encoding: str,
    precision: str,
    identity: Identity,
    limits: Limits,
    now: int,
    heads: HeadCache | None = None,
    window: Window | None = None,
) -> CheckedBatch:
    """Every check a write request goes through; raises Refused. `heads` remembers parsed
    series heads from one request to the next. Points outside `window` are left out (see
    CheckedBatch); a request with no point inside is refused."""
    if precision not in PRECISIONS:
        raise Refused(400, f"unknown precision {precision!r}: use one of s, ms, us, ns")
    text_bytes, gzipped = decompress(body, content_encoding, limits.max_decompressed_bytes)
    try:
        text = text_bytes.decode()
    except UnicodeDecodeError as err:
        raise Refused(400, f"body is not UTF-8 (byte {err.start})") from None
    if text.count("\n") + 1 > limits.max_lines * 2 + 1000:
        raise Refused(413, f"more than max_lines ({limits.max_lines}) lines")
    try:
        rows = parse_rows(text, precision, now, heads)
    except LineError as err:
        raise Refused(400, f"line {err.lineno}: {err.reason}") from None
    if len(rows) > limits.max_lines:
        raise Refused(413, f"{len(rows)} lines exceed max_lines ({limits.max_lines})")
    check_limits(rows, limits, text.split("\n"))
    parsed = with_identity(rows, identity.site, identity.host, identity)
    found = outside(rows, window) if window is not None else None
    if found is None or window is None:
        return CheckedBatch(parsed, gzipped)
    if found.points == len(rows):
        raise OutsideWindow(found)
    body, kept = without_lines(text, rows, window)
    return CheckedBatch(with_identity(kept, identity.site, identity.host), False, found, body)
