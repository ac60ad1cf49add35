"""A SeriesQuery answered by one VictoriaMetrics node, with the embedded store's answers.

Steps go through MetricsQL (`avg_over_time` and its kin over each step's own window, so the
node aggregates and only the steps travel); raw points and counter rates through
/api/v1/export, read as the embedded store reads them (the same 32-bit wrap handling). A step
is the embedded store's bucket [t, t + step) aligned on the epoch, cut to [start, end]: a
MetricsQL window (t - d, t] evaluated at t + step - 1 ms is that bucket, since samples carry
whole milliseconds. The node must answer up to now (`-search.latencyOffset=0s`).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator

from collector.ingest.lineproto import series_key
from collector.store.query import SeriesQuery, Value, numeric_points

Fetch = Callable[[str, float], bytes]  # (URL, timeout) -> body; raises NodeError
Labels = tuple[tuple[str, str], ...]  # a series' tags, sorted, without __name__

FUNCTIONS = {"mean": "avg_over_time", "min": "min_over_time", "max": "max_over_time",
             "last": "last_over_time"}  # fmt: skip
MAX_POINTS = 10_000  # per query_range (the node refuses more than 30,000 by default)


class NodeError(Exception):
    """A node that did not answer, or answered with an error."""


def http_get(url: str, timeout: float) -> bytes:
    """GET `url`; NodeError with the node's message on failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (config URL)
            return bytes(answer.read())
    except urllib.error.HTTPError as err:
        raise NodeError(f"HTTP {err.code}: {err.read(500).decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as err:
        raise NodeError(str(getattr(err, "reason", err))) from None


def quoted(text: str) -> str:
    """A MetricsQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def alternatives(values: Iterable[str]) -> str:
    """A regular expression matching exactly these values (RE2, as VictoriaMetrics reads)."""
    return "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", v) for v in sorted(values))


def selector(q: SeriesQuery, name: str | None = None) -> str:
    """The MetricsQL series selector of a query (metric `measurement_field`, as the node names
    a line protocol field)."""
    labels = {"__name__": name or f"{q.measurement}_{q.field}", **q.tags}
    labels.update({k: v for k, v in (("site", q.site), ("host", q.host)) if v is not None})
    matchers = [f"{k}={quoted(v)}" for k, v in sorted(labels.items())]
    if q.sites:
        matchers.append(f"site=~{quoted(alternatives(q.sites))}")
    return "{" + ",".join(matchers) + "}"


def _labels(metric: dict[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in metric.items() if k != "__name__"))


def _seconds(value: float) -> str:
    return f"{value:.3f}"


class VictoriaQuery:
    """One node's answers to SeriesQuery."""

    def __init__(self, url: str, fetch: Fetch, timeout: float = 30.0) -> None:
        self._url, self._fetch, self._timeout = url, fetch, timeout

    def _get(self, path: str, params: dict[str, str]) -> bytes:
        return self._fetch(f"{self._url}{path}?{urllib.parse.urlencode(params)}", self._timeout)

    def _json(self, path: str, params: dict[str, str]) -> dict[str, object]:
        answer = json.loads(self._get(path, params))
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise NodeError(f"{path}: {str(answer)[:300]}")
        return answer

    def export_match(
        self, match: str, start: int, end: int
    ) -> dict[tuple[str, Labels], list[tuple[int, float]]]:
        """Raw samples (seconds, value) in [start, end] of each series `match` selects, by
        metric name and labels."""
        body = self._get("/api/v1/export", {"match[]": match, "start": str(start),
                                            "end": str(end)})  # fmt: skip
        out: dict[tuple[str, Labels], dict[int, float]] = {}
        for line in body.decode().splitlines():
            if line:
                series = json.loads(line)
                metric = series["metric"]
                points = out.setdefault((metric.get("__name__", ""), _labels(metric)), {})
                points.update(zip((t // 1000 for t in series["timestamps"]), series["values"],
                                  strict=True))  # fmt: skip
        return {key: sorted(points.items()) for key, points in out.items()}

    def export(self, q: SeriesQuery, start: int, end: int) -> dict[Labels, list[tuple[int, float]]]:
        """Raw samples (seconds, value) in [start, end] of each series the query matches."""
        found = self.export_match(selector(q), start, end)
        return {labels: points for (_, labels), points in found.items()}

    def _windows(
        self, q: SeriesQuery, since: int, through: int
    ) -> Iterator[tuple[str, dict[str, str], int]]:
        """(path, parameters, shift) of the queries that answer each step of [since, through]: an
        instant query per partial step at either end, query_range for the whole ones; a
        returned time less `shift` (rounded to the second) is its step's start."""
        step, function = q.step, FUNCTIONS[q.agg]
        first, last = since - since % step, through - through % step
        head, tail = since != first, through + 1 != last + step
        if first == last and (head or tail):
            partial, whole = [(since, through + 1)], range(0)
        else:
            partial = [(since, first + step)] if head else []
            partial += [(last, through + 1)] if tail else []
            whole = range(first + step if head else first, (last - step if tail else last) + 1)
        for a, b in partial:
            expr = f"{function}({selector(q)}[{(b - a) * 1000}ms])"
            yield "/api/v1/query", {"query": expr, "time": _seconds(b - 0.001)}, b - a + a % step
        expr = f"{function}({selector(q)}[{step}s])"
        for chunk in range(whole.start, whole.stop, step * MAX_POINTS):
            end = min(whole.stop - 1, chunk + step * (MAX_POINTS - 1))
            yield "/api/v1/query_range", {"query": expr, "start": _seconds(chunk + step - 0.001),
                                          "end": _seconds(end + step - 0.001), "step": str(step),
                                          "nocache": "1"}, step  # fmt: skip

    def steps(
        self, q: SeriesQuery, since: int, through: int
    ) -> dict[Labels, list[tuple[int, Value]]]:
        """(step start, aggregate) of each step of each matching series over [since, through],
        by MetricsQL."""
        out: dict[Labels, dict[int, Value]] = {}
        for path, params, shift in self._windows(q, since, through):
            data = self._json(path, params)["data"]
            assert isinstance(data, dict)  # the Prometheus API's shape
            for series in data["result"]:
                values = series["values"] if "values" in series else [series["value"]]
                points = out.setdefault(_labels(series["metric"]), {})
                for at, value in values:
                    if math.isfinite(float(value)):
                        points[round(float(at) + 0.001) - shift] = float(value)
        return {labels: sorted(points.items()) for labels, points in out.items()}

    def _rates(self, q: SeriesQuery, res: int, until: int) -> dict[Labels, list[tuple[int, Value]]]:
        """Counter rates from raw samples; before `until`, from the last sample of each
        `res`-second bucket (the embedded store's rollups keep only that much)."""
        lead = max(q.step, res, 300)
        begin = q.start - lead - (q.start - lead) % res if res else q.start - lead
        out = {}
        for labels, points in self.export(q, begin, q.end).items():
            if res:
                lasts = {ts - ts % res: v for ts, v in points if ts < until}
                points = sorted(lasts.items()) + [(ts, v) for ts, v in points if ts >= until]
            out[labels] = numeric_points([], points, q)
        return out

    def run(self, q: SeriesQuery, res: int = 0, until: int = 0) -> list[dict[str, object]]:
        """Every matching series with its points, as collector.store.query.run_query gives
        them when the embedded store reads rollups of `res` seconds before `until` (booleans
        come back as 0/1: the node keeps numbers only)."""
        found: dict[Labels, list[tuple[int, Value]]]
        if q.rate:
            found = self._rates(q, res, until)
        elif q.step:
            # rolled-up buckets are read whole: from their boundary before `start`, to their
            # end after `end` (raw samples after `until`)
            since = q.start - q.start % res if res and q.start < until else q.start
            through = min(q.end - q.end % res + res, until) - 1 if res and q.end < until else q.end
            found = self.steps(q, since, through)
        else:
            raw = self.export(q, q.start, q.end)
            found = {labels: numeric_points([], points, q) for labels, points in raw.items()}
        ordered = sorted(found.items(), key=lambda item: series_key(q.measurement, item[0]))
        return [{"tags": dict(labels), "points": [[ts, v] for ts, v in points]}
                for labels, points in ordered if points]  # fmt: skip

    def fields(self, q: SeriesQuery) -> list[str]:
        """The fields the node holds for the query's measurement, site and host."""
        scope = selector(q, name="").replace('__name__="",', "").replace('__name__=""', "")
        match = scope if scope != "{}" else f'{{__name__=~"{q.measurement}_.+"}}'
        answer = self._json("/api/v1/label/__name__/values", {"match[]": match,
                                                              "start": "0"})  # fmt: skip
        names = answer["data"]
        assert isinstance(names, list)
        prefix = f"{q.measurement}_"
        return [str(n)[len(prefix) :] for n in names if str(n).startswith(prefix)]
