"""The inventory: search across communes (system, model, serial, memory), CSV export, and a
device's inventory at a glance."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from collector.services import services
from collector.web.common import HEADERS, Page, page_of, render
from collector.web.rows import InventoryLine, Table
from collector.web.words import WORDS

router = APIRouter(include_in_schema=False)
CSV_COLUMNS = [f.name for f in dataclasses.fields(InventoryLine)]


def inventory_rows(request: Request, q: str, max_ram: str) -> list[InventoryLine]:
    """The summary of every inventory matching `q`, with at most `max_ram` GiB when given."""
    repo = services(request).repository()
    found = repo.search_inventory(q) if q else repo.all_inventories()
    rows = [summary_of(site, host, itemtype, document) for site, host, itemtype, document in found]
    try:
        limit = float(max_ram) if max_ram else None
    except ValueError:
        limit = None
    if limit is not None:
        rows = [r for r in rows if r.ram != "" and float(r.ram) <= limit]
    return rows


@router.get("/inventory")
def inventory(request: Request, q: str = "", max_ram: str = "") -> HTMLResponse:
    """The search page."""
    page = page_of(request)
    rows = inventory_rows(request, q, max_ram)
    return render(request, "inventory.html", page, rows=rows, q=q, max_ram=max_ram)


@router.get("/inventory.csv")
def inventory_csv(request: Request, q: str = "", max_ram: str = "") -> Response:
    """The same rows as a spreadsheet."""
    page_of(request)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    for row in inventory_rows(request, q, max_ram):
        # a leading = + - @ would be a formula in a spreadsheet
        writer.writerow(
            {
                k: ("'" + v if isinstance(v, str) and v[:1] and v[:1] in "=+-@" else v)
                for k, v in dataclasses.asdict(row).items()
            }
        )
    headers = {"Content-Disposition": 'attachment; filename="vigie-inventaire.csv"', **HEADERS}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def summary_of(site: str, host: str, itemtype: str, document: str) -> InventoryLine:
    """The inventory columns of one stored document."""
    return summary_of_document(site, host, itemtype, json.loads(document))


def summary_of_document(
    site: str, host: str, itemtype: str, document: dict[str, Any]
) -> InventoryLine:
    """The inventory columns of one parsed document."""
    content = document.get("content", {})
    os_info = content.get("operatingsystem", {})
    hardware = content.get("hardware", {})
    device = content.get("network_device", {})
    bios = content.get("bios", {})
    memory_mb = hardware.get("memory") or sum(
        int(m.get("capacity", 0) or 0) for m in content.get("memories", [])
    )
    return InventoryLine(
        site,
        host,
        itemtype,
        os=os_info.get("full_name") or os_info.get("name") or device.get("firmware", ""),
        model=bios.get("smodel") or device.get("model", ""),
        serial=bios.get("ssn") or device.get("serial", ""),
        ram=f"{memory_mb / 1024:.1f}" if memory_mb else "",
    )


def inventory_table(document: dict[str, Any], page: Page) -> Table:
    """The device's inventory at a glance: system, model, serial, CPU, memory, disks, software."""
    t = WORDS[page.language]
    content = document.get("content", {})
    summary = summary_of_document("", "", "", document)
    cpus = ", ".join(str(c.get("name", "")) for c in content.get("cpus", []))
    disks = ", ".join(
        f"{d.get('model', d.get('name', ''))} ({round(int(d.get('disksize', 0) or 0) / 1024)} Go)"
        for d in content.get("storages", [])
    )
    rows: list[list[object]] = [
        [t["os"], summary.os],
        [t["model"], summary.model],
        [t["serial"], summary.serial],
        ["CPU", cpus],
        [t["ram"], summary.ram.replace(".", ",") if page.language == "fr" else summary.ram],
        [t["disks_inventory"], disks],
        [t["software"], str(len(content.get("softwares", [])))],
    ]
    return Table(t["inventory"], ["", ""], [r for r in rows if r[1]])
