"""The forwarder target that keeps each series' newest sample in the shared state
(state.latest), from the same durable outbox as VictoriaMetrics: a batch a collector
acknowledged reaches the pages of every collector, even after PostgreSQL was down."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable

from collector.ingest.lineproto import Head, HeadCache, parse_head, parse_rows
from collector.ingest.write import with_identity
from collector.mirror.forwarder import DurableTarget, Request, Retry, Unstorables
from collector.state import Repository
from collector.state.latest import Row

# A key with none of these is `measurement,k=v,…` split on its commas and equals signs alone
# (the line protocol escapes them with a backslash), and its tags need no JSON escape.
_NOT_PLAIN = re.compile(r'[\x00-\x1f"\\]')
# What separates the columns of a row between lines_of and send: no row holds one (a series
# with a NUL is set aside; JSON escapes it in the fields).
_SEP = "\x00"


def _described(key: str) -> tuple[str, str]:
    """The measurement and the tags (JSON) of a series, from its key (a new object per call:
    the keys of a fleet outnumber any cache kept for them)."""
    if _NOT_PLAIN.search(key) is None:
        measurement, _, tags = key.partition(",")
        pairs = tags.replace("=", '":"').replace(",", '","')
        return measurement, '{"' + pairs + '"}' if tags else "{}"
    measurement, parsed = parse_head(key)
    return measurement, json.dumps(dict(parsed))


class LatestTarget(DurableTarget):
    """`latest` in the shared state, written through `repository` (the calling thread's)."""

    name = "latest"
    mark = "latest_log_id"
    own_health = True  # every collector's rules read it

    def __init__(
        self,
        repository: Callable[[], Repository],
        clock: Callable[[], float] = time.time,
        by: str = "",
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._by = by  # this collector's name in the state (collector.lease)
        self._heads = HeadCache()  # the forwarder thread's own (the write path's is the loop's)

    def lines_of(self, request: Request) -> tuple[list[str], Unstorables]:
        """The newest sample of each series of the request, as rows of `latest`."""
        # Parsed as the index parses it (heads cached, fields already JSON): the series are
        # the same every minute, so a row costs little more than the line's fields.
        rows = parse_rows(request.text, request.precision, request.received, self._heads)
        newest: dict[str, tuple[int, Head, str, int]] = {}  # by series key
        for head, at, fields, lineno in with_identity(rows, request.site, request.host).rows:
            if head.key not in newest or at >= newest[head.key][0]:
                newest[head.key] = (at, head, fields, lineno)
        lines: list[str] = []
        unstorable: Unstorables = []
        for key, (at, head, fields, lineno) in newest.items():
            if "\x00" in key:  # the embedded store and the nodes keep it; PostgreSQL cannot
                reason = f"a NUL character in the series {key!r}: PostgreSQL cannot keep it"
                unstorable.append((reason, request.text.split("\n")[lineno - 1]))
                continue
            measurement, tags = _described(key)
            lines.append(_SEP.join((key, head.site, head.host, measurement, tags, str(at), fields)))
        return lines, unstorable

    def prepare(self) -> None:
        """Nothing to create: the state's migrations made the table."""

    def send(self, lines: list[str]) -> None:
        """Upsert the newest row of each series; raises Retry while the state is down."""
        newest: dict[str, Row] = {}
        for line in lines:
            key, site, host, measurement, tags, at, fields = line.split(_SEP)
            if key not in newest or int(at) >= newest[key][5]:
                newest[key] = (key, site, host, measurement, tags, int(at), fields)
        try:
            self._repository().record_latest(
                list(newest.values()), int(self._clock() * 1000), self._by
            )
        except sqlite3.Error as err:  # the state's errors, PostgreSQL's included
            raise Retry(str(err)) from None
