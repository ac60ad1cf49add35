"""The collector's own health: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

import shutil
import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from collector import __version__
from collector.api.auth import Reader
from collector.mirror.forwarder import Forwarder
from collector.services import Services, now, services

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Liveness and the state of the store."""
    svc = services(request)
    try:
        svc.reader().execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        store = f"error: {svc.writer.store_error}" if svc.writer.store_error else "ok"
    except sqlite3.Error as err:
        store = f"error: {err}"
    state = _state_health(svc)
    healthy = store == "ok" and not state.startswith("error")
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "store": store,
        "state": state,
        "disk_free_bytes": shutil.disk_usage(svc.config.storage.path.parent).free,
        "index_backlog": svc.writer.backlog(),
        "last_ingest": int(svc.writer.last_ingest) or None,
        "version": __version__,
    }
    if svc.mirror is not None:
        body["influxdb"] = outbox_health(svc.mirror, svc.reader())
    if svc.nodes:
        body["victoriametrics"] = {f.target_url: outbox_health(f, svc.reader()) for f in svc.nodes}
    if svc.latest is not None:  # newest samples on their way to the shared state
        body["latest"] = outbox_health(svc.latest, svc.reader())
    lease = svc.alerting.lease if svc.alerting else None
    sites = svc.alerting.sites if svc.alerting else None
    if lease is not None and sites is not None:  # several collectors: who evaluates what
        body["alerting"] = {
            "lease": "held" if lease.epoch else "standby",  # mail planning, digest
            "epoch": lease.epoch,
            "sites": len(sites.held),  # whose rules this collector evaluates
            "collectors": sites.members,
        }
    return JSONResponse(body, status_code=200 if healthy else 503)


def _state_health(svc: Services) -> str:
    """ "ok", "in the store", or the error of the shared PostgreSQL state (a collector that
    cannot reach it cannot check a token: the load balancer must send agents elsewhere)."""
    if not svc.state.shared:
        return "in the store"
    try:
        svc.state.connection(svc.reader()).execute("SELECT 1").fetchone()
    except sqlite3.Error as err:
        return f"error: {err}"
    return "ok"


def outbox_health(forwarder: Forwarder, conn: sqlite3.Connection) -> dict[str, Any]:
    """What a forwarder lacks: requests not sent yet (read through the request thread's `conn`,
    never the forwarder's own, which may wait seconds for the write lock), dead letters, the
    last error."""
    return {
        "outbox_requests": forwarder.depth(conn),
        "dead_letters": forwarder.dead_letters,
        "last_error": forwarder.last_error or None,
    }


@router.get("/metrics")
def metrics(request: Request, _: Reader) -> PlainTextResponse:
    """The collector's own health in Prometheus text format (a reader token: Prometheus
    sends it with `authorization: {credentials_file: ...}`)."""
    svc = services(request)
    counters, gauges = _figures(svc, now(request))
    dropped = (
        "Points dropped from partial writes, by reason (too_old, future).",
        "reason",
        svc.skewed.dropped,
    )
    text = svc.telemetry.render(gauges, counters, {"vigie_dropped_points_total": dropped})
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


Figures = dict[str, tuple[str, float]]  # name: (help, value)


def _figures(svc: Services, moment: int) -> tuple[Figures, Figures]:
    """The counters and the gauges of the store, the writer and the mirror."""
    path = svc.config.storage.path
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    writer = svc.writer
    counters: Figures = {
        "vigie_accepted_lines_total": ("Lines accepted since start.", writer.accepted_lines),
        "vigie_duplicate_batches_total": ("Replayed batches acknowledged.", writer.duplicates),
    }
    gauges: Figures = {
        "vigie_index_backlog": ("Accepted requests not yet indexed.", writer.backlog()),
        "vigie_db_size_bytes": ("SQLite database and WAL size.", size),
        "vigie_last_ingest_timestamp_seconds": ("Last accepted write.", writer.last_ingest),
        "vigie_skewed_senders": (
            "Hosts that sent points outside the time window in the last day.",
            len(svc.skewed.recent(moment)),
        ),
    }
    if svc.mirror is not None:
        mirror = svc.mirror
        gauges["vigie_outbox_requests"] = ("Requests InfluxDB lacks.", mirror.depth(svc.reader()))
        counters["vigie_mirror_sent_lines_total"] = ("Lines sent to InfluxDB.", mirror.sent_lines)
        counters["vigie_mirror_dead_letters_total"] = ("Kept in dead_letter.", mirror.dead_letters)
    if svc.nodes:
        gauges["vigie_victoriametrics_outbox_requests"] = (
            "Requests the VictoriaMetrics node furthest behind lacks.",
            max(node.depth(svc.reader()) for node in svc.nodes),
        )
    return counters, gauges
