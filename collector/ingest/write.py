"""Checks on a write request before it is appended: size, gzip, syntax, limits, identity."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from collector.config import Limits
from collector.ingest.lineproto import PRECISIONS, LineError, ParsedPoint, parse_lines
from collector.repository import Identity


class Refused(Exception):
    """A request refused for good (4xx): the status and a reason naming the limit or line."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A request that passed every check."""

    points: list[ParsedPoint]
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


def check_limits(points: list[ParsedPoint], limits: Limits) -> None:
    """Tag count and string lengths, naming the line that breaks one."""
    for point in points:
        if len(point.tags) > limits.max_tags:
            raise Refused(
                400,
                f"line {point.lineno}: {len(point.tags)} tags exceed max_tags ({limits.max_tags})",
            )
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


def check_identity(points: list[ParsedPoint], identity: Identity) -> None:
    """Refuse the whole batch (403) at the first point the token may not write."""
    for point in points:
        tags = dict(point.tags)
        site, host = tags.get("site", identity.site), tags.get("host", identity.host)
        if not identity.may_write(site, host):
            raise Refused(
                403,
                f"line {point.lineno}: this token may not write site={site!r} host={host!r} "
                f"(it is bound to site={identity.site!r} host={identity.host!r}, "
                f"role {identity.role})",
            )


def check_write(
    body: bytes,
    content_encoding: str,
    precision: str,
    identity: Identity,
    limits: Limits,
    now: int,
) -> CheckedBatch:
    """Every check a write request goes through; raises Refused."""
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
        points = parse_lines(text, precision, now)
    except LineError as err:
        raise Refused(400, f"line {err.lineno}: {err.reason}") from None
    if len(points) > limits.max_lines:
        raise Refused(413, f"{len(points)} lines exceed max_lines ({limits.max_lines})")
    check_limits(points, limits)
    check_identity(points, identity)
    return CheckedBatch(points, gzipped)
