"""The site poller inside the agent service: a thread with its own event loop, each device on
its own interval (spread with jitter), results handed to the service to spool."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.config import DeviceConfig
from agent.inventory.change import change_hash
from agent.poller.poll import Poller
from protocol.lineproto import Point, format_points, stamp

log = logging.getLogger(__name__)

INVENTORY_CHECK = 3600  # seconds between inventory reads of one device


@dataclass(frozen=True, slots=True)
class Output:
    """What the poller hands to the service: metric lines, or one inventory document."""

    kind: str  # metrics | inventory
    lines: tuple[str, ...] = ()
    document: bytes = b""


def device_lines(points: Sequence[Point], site: str, device: str) -> list[str]:
    """Line protocol for a device's points, tagged with the site and the device as host."""
    return format_points(stamp(points, site, device))


class SitePoller(threading.Thread):
    """Polls the configured devices until `stop` is set; results go to `out`."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        site: str,
        out: deque[Output],
        stop: threading.Event,
        inventory_interval: int = 86400,
        clock: Callable[[], float] = time.time,
        reader: str = "",
    ) -> None:
        super().__init__(name="site-poller", daemon=True)
        self._reader = reader  # this agent's host name
        self._devices = devices
        self._site = site
        self._out = out
        self._stop_event = stop
        self._inventory_interval = inventory_interval
        self._clock = clock
        self._inventory: dict[str, tuple[str, float, float]] = {}

    def run(self) -> None:
        """The thread: one event loop for every device."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        poller = Poller(reader=self._reader)
        tasks = [asyncio.create_task(self._device_loop(poller, d)) for d in self._devices]
        while not self._stop_event.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _device_loop(self, poller: Poller, device: DeviceConfig) -> None:
        await asyncio.sleep(random.uniform(0, min(device.interval, 30)))
        while True:
            started = time.monotonic()
            points = await poller.poll(device, int(self._clock()))
            self._out.append(
                Output("metrics", tuple(device_lines(points, self._site, device.name)))
            )
            await self._maybe_inventory(poller, device)
            await asyncio.sleep(max(1.0, device.interval - (time.monotonic() - started)))

    async def _maybe_inventory(self, poller: Poller, device: DeviceConfig) -> None:
        """Read the inventory hourly; send it when it changed, and once per interval anyway."""
        last_hash, last_read, last_sent = self._inventory.get(device.name, ("", 0.0, 0.0))
        now = self._clock()
        if now - last_read < INVENTORY_CHECK:
            return
        document = await poller.inventory(device)
        if document is None:
            return
        digest = change_hash(document)
        if digest != last_hash or now - last_sent >= self._inventory_interval:
            body = json.dumps(document, ensure_ascii=False).encode()
            self._out.append(Output("inventory", document=body))
            last_sent = now
        self._inventory[device.name] = (digest, now, last_sent)
