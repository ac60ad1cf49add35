"""A living fleet for the demo: three communes with a week of history that every page can
show on first run — a disk filling, a toner running out, a UPS on battery, a silent PC, an
inventory that changed. Sent through the collector's own HTTP API, as pollers would."""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

STEP = 600  # one point every 10 minutes
DAYS = 7
COMMUNES = ("Saint-Agrève", "Lamastre", "Vernoux")
Lines = Iterator[str]


def _esc(value: str) -> str:
    return value.replace(" ", "\\ ").replace(",", "\\,")


def _times(now: int, until: int = 0) -> range:
    return range(now - DAYS * 86400, now - until + 1, STEP)


def _workstation(site: str, host: str, now: int, disk: Callable[[float], float],
                 silent_for: int = 0) -> Lines:  # fmt: skip
    """A PC of the town hall: busy in office hours, its C: drive following `disk`."""
    tags = f"site={_esc(site)},host={host}"
    for ts in _times(now, silent_for):
        hour = (ts // 3600 + 1) % 24
        busy = 35 + 25 * math.sin(ts / 5000) ** 2 if 8 <= hour < 18 else 4
        age = (ts - now + DAYS * 86400) / (DAYS * 86400)  # 0 a week ago, 1 now
        yield f"cpu,{tags},cpu=cpu-total usage_idle={100 - busy:.1f} {ts}"
        yield f"mem,{tags} used_percent={52 + busy / 4:.1f} {ts}"
        yield f"disk,{tags},path=C: used_percent={disk(age):.2f} {ts}"
        yield f"system,{tags} uptime={(ts - now) % (5 * 86400) + 3600}i {ts}"
        yield f"vigie_agent,{tags},version=demo spool_batches=0i {ts}"


def _printer(site: str, host: str, now: int) -> Lines:
    """A copier whose black toner runs out in a few days."""
    tags = f"site={_esc(site)},host={host}"
    supply = f"printer_supply,{tags},type=toner,supply="
    for ts in _times(now):
        age = (ts - now + DAYS * 86400) / (DAYS * 86400)
        yield f"{supply}Black\\ Toner percent={48 - 38 * age:.1f} {ts}"
        yield f"{supply}Cyan\\ Toner percent={81 - 3 * age:.1f} {ts}"
        yield f"ping,{tags},kind=printer up=true,rtt_ms=1.2 {ts}"


def _ups(site: str, host: str, now: int) -> Lines:
    """A UPS on mains all week, on battery for the last quarter of an hour."""
    tags = f"site={_esc(site)},host={host},mib=powernet"
    for ts in _times(now):
        cut = now - ts < 900
        runtime = 42 - (900 - (now - ts)) // 60 if cut else 42
        source, charge = (5, 100 - (900 - (now - ts)) // 30) if cut else (3, 100)
        yield (f"ups,{tags} output_source={source}i,runtime_minutes={runtime}i,"
               f"charge_percent={charge}i,battery_status=2i,load_percent=31.0 {ts}")  # fmt: skip
        yield f"ping,site={_esc(site)},host={host},kind=ups up=true,rtt_ms=0.8 {ts}"


def _router(site: str, host: str, now: int) -> Lines:
    tags = f"site={_esc(site)},host={host}"
    total_in = total_out = 0
    for ts in _times(now):
        total_in += int(4e6 * STEP * (1.2 + math.sin(ts / 20000)))
        total_out += int(1e6 * STEP * (1.1 + math.cos(ts / 17000)))
        yield f"interface,{tags},ifname=wan in_octets={total_in}i,out_octets={total_out}i {ts}"
        yield f"ping,{tags},kind=router up=true,rtt_ms=2.5 {ts}"


def history(now: int) -> dict[str, list[str]]:
    """Every commune's lines."""
    saint, lamastre, vernoux = COMMUNES
    return {
        saint: [*_workstation(saint, "pc-mairie", now, lambda a: 71 + 17 * a**1.5),
                *_printer(saint, "copieur", now), *_router(saint, "box-internet", now)],
        lamastre: [*_workstation(lamastre, "pc-accueil", now, lambda a: 40 + a),
                   *_ups(lamastre, "onduleur", now)],
        vernoux: [*_workstation(vernoux, "pc-secretariat", now, lambda a: 55 + 2 * a, 3 * 3600),
                  *_workstation(vernoux, "pc-maire", now, lambda a: 33 + a)],
    }  # fmt: skip


def _inventory(version: str) -> dict[str, object]:
    return {
        "deviceid": "pc-mairie-demo", "itemtype": "Computer",
        "content": {
            "hardware": {"name": "pc-mairie", "memory": 8192},
            "operatingsystem": {"full_name": "Microsoft Windows 11 Professionnel"},
            "bios": {"smodel": "HP ProDesk 400 G7", "ssn": "CZC2031XYZ"},
            "networks": [{"description": "Ethernet", "ipaddress": "192.168.1.12"}],
            "softwares": [{"name": "LibreOffice", "version": version},
                          {"name": "Mozilla Firefox", "version": "128.5"}],
        },
    }  # fmt: skip


def _post(url: str, body: bytes, token: str, kind: str) -> None:
    headers = {"Authorization": f"Token {token}", "Content-Type": kind}
    request = urllib.request.Request(url, body, headers)  # noqa: S310 (our own URL)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own URL)
        response.read()


def seed(base: str, tokens: dict[str, str], marker: Path, now: int | None = None) -> None:
    """Send the history once (the marker file says it was sent), when the collector answers."""
    if marker.exists():
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()  # noqa: S310
            break
        except OSError:
            time.sleep(0.3)
    moment = int(now or time.time())
    for site, lines in history(moment).items():
        for start in range(0, len(lines), 5000):
            body = "\n".join(lines[start : start + 5000]).encode()
            _post(f"{base}/write?precision=s", body, tokens[site], "text/plain")
    for version in ("7.5.9", "7.6.4"):  # an update the device page shows as old -> new
        body = json.dumps(_inventory(version)).encode()
        _post(f"{base}/api/v1/inventory", body, tokens[COMMUNES[0]], "application/json")
    marker.write_text(f"{moment}\n")
