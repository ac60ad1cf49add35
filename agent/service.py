"""The agent service: collect on schedule, spool every batch, forward to the collector."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from agent.collectors.base import Collector
from agent.collectors.cpu import CpuCollector
from agent.collectors.disks import DiskCollector, DiskIOCollector
from agent.collectors.memory import MemoryCollector
from agent.collectors.network import NetCollector
from agent.collectors.sensors import SensorsCollector
from agent.collectors.smart import SmartCollector
from agent.collectors.system import ProcessesCollector, SystemCollector
from agent.config import AgentConfig
from agent.inventory.change import change_hash
from agent.sender import Forwarder, Sender, TokenFile, uniform
from agent.spool import Spool
from agent.telemetry import agent_point
from protocol.lineproto import Point, format_points, stamp

if TYPE_CHECKING:  # pysnmp and paramiko load only when devices are configured
    from agent.poller.site import Output

log = logging.getLogger(__name__)


class Inventory(NamedTuple):
    """This host's GLPI document as the spool takes it, and its change fingerprint."""

    fingerprint: str
    body: bytes


InventorySource = Callable[[int], Inventory]  # now -> this host's inventory


def as_inventory(document: dict[str, Any]) -> Inventory:
    """A document, fingerprinted and encoded."""
    return Inventory(change_hash(document), json.dumps(document, ensure_ascii=False).encode())


def workstation_collectors(psutil: Any) -> tuple[Collector, ...]:
    """The collectors run every metrics cycle, in the order their points go out."""
    return (
        CpuCollector(psutil),
        MemoryCollector(psutil),
        SystemCollector(psutil),
        ProcessesCollector(psutil),
        DiskCollector(psutil),
        DiskIOCollector(psutil),
        NetCollector(psutil),
        SensorsCollector(psutil),
    )


def current_inventory(config: AgentConfig, psutil: Any, now: int) -> dict[str, Any]:
    """This host's GLPI inventory document (read in a child process: see inventory_in_child)."""
    from agent.inventory.glpi import build_inventory
    from agent.inventory.reader import machine_id, platform_reader

    deviceid = f"{config.host}-{machine_id()[:12]}"
    logdate = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")
    document = build_inventory(platform_reader(psutil), deviceid, logdate)
    # The configured host name is the identity the collector knows this machine by.
    document["content"].setdefault("hardware", {})["name"] = config.host
    return document


def inventory_in_child(config: AgentConfig, timeout: float = 600) -> InventorySource:
    """The inventory read by a short-lived `vigie-agent inventory --output FILE` process:
    reading the package list and DMI, and even decoding the document, allocates several MiB
    that a long-running agent would keep; so the child also writes the change fingerprint
    (FILE.fingerprint) and the agent handles the document as bytes only. The document comes back
    in a file, not a pipe, and the wait is for the process to exit: on Windows a process the
    child starts (WMI's host, the desktop) may inherit its pipes and keep them open long after
    the child is gone."""

    def read(now: int) -> Inventory:
        # Beside the spool: the agent's own folder, writable by it alone (no temporary
        # folder module either: it imports shutil, bz2 and lzma).
        output = config.spool.path.with_name(f"inventory-{os.getpid()}.json")
        failure = output.with_suffix(".err")
        fingerprint = output.with_suffix(".fingerprint")
        command = [sys.executable, "-m", "agent.cli", "inventory", "--output", str(output)]
        if config.source is not None:
            command += ["--config", str(config.source)]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
            )
            if done.returncode != 0 or not output.exists():
                reason = failure.read_text("utf-8")[-500:] if failure.exists() else "no output"
                raise RuntimeError(f"inventory process failed ({done.returncode}): {reason}")
            return Inventory(fingerprint.read_text("ascii"), output.read_bytes())
        finally:
            for leftover in (output, failure, fingerprint):
                leftover.unlink(missing_ok=True)

    return read


def collect_all(collectors: Sequence[Collector], now: int) -> list[Point]:
    """Run each collector once; each one fails alone."""
    points: list[Point] = []
    for collector in collectors:
        points.extend(collector.collect(now))
    return points


def _guarded(job: Callable[[], object]) -> Callable[[], None]:
    """The job, with any failure logged (once while it repeats) instead of stopping the agent."""
    last = [""]

    def run() -> None:
        try:
            job()
        except Exception as err:  # one failed cycle must not end the service
            message = f"{type(err).__name__}: {err}"
            if message != last[0]:
                log.exception("%s failed (logged once while it repeats)", job.__name__)
            last[0] = message
        else:
            last[0] = ""

    return run


def run_every(jobs: Sequence[tuple[float, Callable[[], None]]], stop: threading.Event) -> None:
    """Run each job at once, then every `interval` seconds, until `stop` is set. Missed runs
    are not caught up: a job that overran, or a laptop back from sleep, runs once, not in a
    burst. What the `schedule` package did for the agent, without its half MiB of imports."""
    due: list[float] = []
    for every, job in jobs:
        job()
        due.append(time.monotonic() + every)
    while not stop.is_set():
        for i, (every, job) in enumerate(jobs):
            if time.monotonic() >= due[i]:
                job()
                due[i] = max(due[i] + every, time.monotonic())
        stop.wait(max(0.05, min(min(due) - time.monotonic(), 1.0)))


class AgentService:
    """Schedules the cycles and owns the spool and the forwarder."""

    def __init__(
        self,
        config: AgentConfig,
        psutil: Any,
        clock: Callable[[], float] = time.time,
        collectors: tuple[Collector, ...] | None = None,
        inventory: InventorySource | None = None,
    ) -> None:
        self.config = config
        self._inventory = inventory or (
            lambda now: as_inventory(current_inventory(config, psutil, now))
        )
        self._psutil = psutil
        self._clock = clock
        self._collectors = collectors if collectors is not None else workstation_collectors(psutil)
        self._smart = SmartCollector(config.smartctl)
        self.spool = Spool(
            config.spool.path,
            max_age_seconds=config.spool.max_age_days * 86400,
            max_bytes=int(config.spool.max_mb * 1024 * 1024),
            clock=clock,
        )
        # Filled by the site poller's thread: deque's append and popleft are thread-safe.
        self.poller_output: deque[Output] = deque()
        self.forwarder: Forwarder | None = None
        if config.collector.url and config.collector.token_file:
            sender = Sender(config.collector, TokenFile(config.collector.token_file))
            self.forwarder = Forwarder(self.spool, sender)

    def _spool_points(self, points: list[Point]) -> None:
        lines = format_points(stamp(points, self.config.site, self.config.host))
        if lines:
            self.spool.put(lines)

    def metrics_cycle(self) -> None:
        """Collect every workstation metric and spool it with the agent's own telemetry."""
        started = time.perf_counter()
        now = int(self._clock())
        points = collect_all(self._collectors, now)
        errors = self.forwarder.send_errors if self.forwarder else 0
        points.append(
            agent_point(self.spool, errors, time.perf_counter() - started, self._psutil, now)
        )
        self._spool_points(points)

    def smart_cycle(self) -> None:
        """Read SMART data of every disk and spool it."""
        self._spool_points(self._smart.collect(int(self._clock())))

    def inventory_cycle(self, force: bool = False) -> bool:
        """Spool the inventory when it changed, or when the last one is older than
        `inventory_interval`; returns whether one was spooled."""
        found = self._inventory(int(self._clock()))
        last_hash, last_time = self.spool.last_inventory()
        due = self._clock() - last_time >= self.config.inventory_interval
        if not (force or due or found.fingerprint != last_hash):
            return False
        self.spool.put_document(found.body, "inventory")
        self.spool.remember_inventory(found.fingerprint, int(self._clock()))
        return True

    def spool_poller_output(self) -> None:
        """Spool what the site poller produced since the last tick."""
        while self.poller_output:
            item = self.poller_output.popleft()
            if item.kind == "inventory":
                self.spool.put_document(item.document, "inventory")
            elif item.lines:
                self.spool.put(list(item.lines))

    def send_tick(self, stop: threading.Event | None = None) -> None:
        """Spool the poller's results and forward what the spool holds, unless backing off;
        sending stops between batches once `stop` is set."""
        self.spool_poller_output()
        self.spool.flush()
        if self.forwarder:
            self.forwarder.drain(stop=stop)

    def _send_loop(self, stop: threading.Event, every: float) -> None:
        def send_tick() -> None:
            self.send_tick(stop)

        tick = _guarded(send_tick)
        tick()
        while not stop.wait(every):
            tick()

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set; the first cycle starts at a random offset (no stampede)."""
        offset = uniform(0, min(self.config.interval, 60))
        log.info("agent %s/%s starting in %.1f s", self.config.site, self.config.host, offset)
        if stop.wait(offset):
            return
        site_poller = None
        if self.config.devices:
            from agent.poller.site import SitePoller

            site_poller = SitePoller(
                self.config.devices,
                self.config.site,
                self.poller_output,
                stop,
                self.config.inventory_interval,
                self._clock,
                reader=self.config.host,
            )
            site_poller.start()
        jobs = (
            (self.config.interval, self.metrics_cycle),
            (self.config.smart_interval, self.smart_cycle),
            # Checked hourly, sent only when it changed or once per inventory_interval.
            (min(3600, self.config.inventory_interval), self.inventory_cycle),
        )
        # Sending has its own thread: a collector that answers slowly (or a half-open link
        # waiting for its timeout) must not delay collection, nor a slow first inventory
        # delay sending.
        sending = threading.Thread(
            target=self._send_loop, args=(stop, min(5, self.config.interval)), name="sender"
        )
        sending.start()
        run_every([(every, _guarded(job)) for every, job in jobs], stop)
        sending.join()
        if site_poller is not None:
            site_poller.join(timeout=10)
            self.spool_poller_output()
        self.spool.close()
        log.info("agent stopped")
