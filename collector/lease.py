"""The alerting lease: with several collectors on one PostgreSQL state, one of them evaluates
the rules and plans the mails at a time. It renews the lease at each step; the others take it
over once it runs out (the holder was killed or cut off). Every write of alert changes checks,
in its own transaction, that the lease is still held at the same epoch, so a collector that lost
it (paused, cut off, then back) cannot write over its successor's decisions.

A holder that receives no data (HAProxy's backup server) says so at each renewal, and a
collector that does receive data takes the lease from it at once: the rules are evaluated where
the data arrives. When no collector receives anything (the whole fleet silent), the holder keeps
it, so that the silence itself raises its alerts."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable

from collector.state import Repository
from collector.state.source import Connection

log = logging.getLogger(__name__)

NAME = "alerting"
SECONDS = 30  # a successor takes over this long after the holder's last renewal


class Lease:
    """This process's claim on the alerting lease."""

    def __init__(
        self, state: Callable[[], Connection], clock: Callable[[], float], ttl: int = SECONDS
    ) -> None:
        self._state = state
        self._clock = clock
        self._ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.epoch: int | None = None

    def renew(self, idle: bool = False) -> bool:
        """Take or extend the lease (`idle`: this collector receives no data); whether this
        process holds it now."""
        epoch = Repository(self._state()).take_lease(
            NAME, self.holder, int(self._clock()), self._ttl, idle
        )
        if epoch != self.epoch:
            if epoch is None:
                log.warning("alerting lease lost: another collector evaluates the rules")
            else:
                log.info("alerting lease taken (epoch %d): this collector evaluates", epoch)
            self.epoch = epoch
        return epoch is not None

    def held(self, repo: Repository) -> bool:
        """Inside a write transaction: whether the lease is still ours at our epoch."""
        return self.epoch is not None and repo.holds_lease(
            NAME, self.holder, self.epoch, int(self._clock())
        )
