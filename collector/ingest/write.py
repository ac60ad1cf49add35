"""Checks on a write request before it is appended: size, gzip, syntax, limits, identity."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from collector.config import Limits
from collector.ingest.lineproto import PRECISIONS, HeadCache, LineError, ParsedPoint, parse_lines
from collector.repository import Identity


class Refused(Exception):
    """A request refused for good (4xx): the status and a reason naming the limit or line."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


class Identified(NamedTuple):
    """Points that all carry their `site` and `host` tags, and each host's newest time among
    them (what the indexer keeps in the `host` table)."""

    points: list[ParsedPoint]
    hosts: dict[tuple[str, str], int]


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A request that passed every check."""

    parsed: Identified
    gzip: bool


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


def check_limits(points: list[ParsedPoint], limits: Limits, longest_line: int) -> None:
    """Tag count and string lengths, naming the line that breaks one."""
    for point in points:
        if len(point.tags) > limits.max_tags:
            raise Refused(
                400,
                f"line {point.lineno}: {len(point.tags)} tags exceed max_tags ({limits.max_tags})",
            )
    if longest_line <= limits.max_string_length:
        return  # every tag and field is part of a line, so none can be longer
    for point in points:
        for key, tag in point.tags:
            if len(key) > limits.max_string_length or len(tag) > limits.max_string_length:
                raise Refused(
                    400, f"line {point.lineno}: tag {key[:40]!r} exceeds max_string_length"
                )
        for key, value in point.fields.items():
            if isinstance(value, str) and len(value) > limits.max_string_length:
                raise Refused(
                    400,
                    f"line {point.lineno}: field {key[:40]!r} exceeds max_string_length "
                    f"({limits.max_string_length})",
                )


def identified(point: ParsedPoint, site: str, host: str) -> tuple[ParsedPoint, str, str]:
    """The point with the `site` and `host` tags it leaves out set to `site` and `host`
    (Telegraf-style clients send neither: they are the token's), and its site and host."""
    own_site = own_host = None
    for key, value in point.tags:
        if key == "site":
            own_site = value
        elif key == "host":
            own_host = value
    if own_site is not None and own_host is not None:
        return point, own_site, own_host
    tags = dict(point.tags)
    tags.setdefault("site", site)
    tags.setdefault("host", host)
    return point._replace(tags=tuple(sorted(tags.items()))), tags["site"], tags["host"]


def with_identity(
    points: Iterable[ParsedPoint], site: str, host: str, token: Identity | None = None
) -> Identified:
    """Every point with its `site` and `host` tags (see `identified`); with a `token`, refuses
    the whole batch (403) at the first point that token may not write."""
    out = []
    hosts: dict[tuple[str, str], int] = {}
    for point in points:
        point, own_site, own_host = identified(point, site, host)
        if token is not None and not token.may_write(own_site, own_host):
            raise Refused(
                403,
                f"line {point.lineno}: this token may not write site={own_site!r} "
                f"host={own_host!r} (it is bound to site={token.site!r} host={token.host!r}, "
                f"role {token.role})",
            )
        key = (own_site, own_host)
        hosts[key] = max(point.time, hosts.get(key, point.time))
        out.append(point)
    return Identified(out, hosts)


def check_write(
    body: bytes,
    content_encoding: str,
    precision: str,
    identity: Identity,
    limits: Limits,
    now: int,
    heads: HeadCache | None = None,
) -> CheckedBatch:
    """Every check a write request goes through; raises Refused. `heads` remembers parsed
    series heads from one request to the next."""
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
        points = parse_lines(text, precision, now, heads)
    except LineError as err:
        raise Refused(400, f"line {err.lineno}: {err.reason}") from None
    if len(points) > limits.max_lines:
        raise Refused(413, f"{len(points)} lines exceed max_lines ({limits.max_lines})")
    check_limits(points, limits, max(map(len, text.split("\n"))))
    return CheckedBatch(with_identity(points, identity.site, identity.host, identity), gzipped)
