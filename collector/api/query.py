"""GET /api/v1/query: one field's series, raw, per step, or as a rate."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from collector.api.auth import Reader, parse_time
from collector.ingest.write import Refused
from collector.services import now, services
from collector.store.query import QueryError, SeriesQuery
from collector.store.victoria import NodeError

MAX_QUERY_RANGE = 5 * 366 * 86400
router = APIRouter()


@router.get("/api/v1/query")
def query(
    request: Request,
    measurement: str,
    field: str,
    _: Reader,
    site: str | None = None,
    host: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: Annotated[int, Query(ge=0, le=366 * 86400)] = 0,
    rate: bool = False,
    agg: Annotated[str, Query(pattern="^(mean|min|max|last)$")] = "mean",
) -> dict[str, Any]:
    """Series of one field, raw or averaged per `step` seconds; `rate` for counters."""
    svc = services(request)
    moment = now(request)
    t_end = parse_time(end, moment, "end", moment)
    t_start = parse_time(start, t_end - 3600, "start", moment)
    if t_start > t_end:
        raise Refused(400, "start is after end")
    if t_end - t_start > MAX_QUERY_RANGE:
        raise Refused(400, "range exceeds 5 years")
    tags = {k[4:]: v for k, v in request.query_params.items() if k.startswith("tag.")}
    started = time.perf_counter()
    svc.writer.sync()
    asked = SeriesQuery(measurement, field, t_start, t_end, site, host, tags, step, rate, agg)
    reads = svc.series(moment)
    try:
        series = reads.run_query(asked)
        missing = None if series else reads.unknown_names(asked)
    except QueryError as err:
        raise Refused(400, str(err)) from None
    except NodeError as err:
        raise Refused(503, f"cannot read the series now: {err}; retry shortly") from None
    if missing:
        raise Refused(404, missing)
    svc.telemetry.observe_query(time.perf_counter() - started)
    return {"series": series}
