"""The alerting leases, with several collectors on one PostgreSQL state.

The sites are shared out: each site's rules are evaluated by one collector at a time, the one
that site's rendezvous hash picks among the collectors alive (each renews a heartbeat row),
so that the rules' work is spread over the collectors and a collector that joins or leaves
moves only its share. A collector renews the leases of its sites every few seconds, gives up
those that are no longer its own, and takes its own once their holder gave them up or ran out
(killed or cut off: after SECONDS). Every write of alert changes checks, in its own transaction,
that the site's lease is still held at the same epoch, so a collector that lost it (paused, cut
off, then back) cannot write over its successor's decisions.

The mails are planned, and the daily digest sent, by one collector at a time under a lease of
their own (`Lease`), renewed at each step.

A holder that receives no data (HAProxy's backup server) says so at each renewal, and a
collector that does receive data takes the lease from it at once: the rules are evaluated where
the data arrives. When no collector receives anything (the whole fleet silent), the holder keeps
it, so that the silence itself raises its alerts."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping

from collector.state import Repository
from collector.state.source import Connection

log = logging.getLogger(__name__)

NAME = "alerting"
SECONDS = 30  # a successor takes over this long after the holder's last renewal
SITE, MEMBER = "site:", "member:"  # lease names: a site's rules; a collector alive
SHARE_EVERY = 5.0  # seconds between two looks at the collectors alive and the sites


def holder_name() -> str:
    """This process's name in the lease table (host, pid and a random part: never reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner(site: str, holders: Iterable[str]) -> str:
    """The holder that evaluates `site`: the highest rendezvous hash of (holder, site), so
    that a holder joining or leaving moves only the sites it wins or held."""
    return max(holders, key=lambda h: hashlib.blake2b(f"{h}\0{site}".encode()).digest())


class Lease:
    """This process's claim on the alerting lease."""

    def __init__(
        self,
        state: Callable[[], Connection],
        clock: Callable[[], float],
        ttl: int = SECONDS,
        holder: str | None = None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._ttl = ttl
        self.holder = holder or holder_name()
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

    def release(self) -> None:
        """Hand the lease over now (a clean stop)."""
        Repository(self._state()).give_up_lease(NAME, self.holder)
        self.epoch = None

    def held(self, repo: Repository) -> bool:
        """Inside a write transaction: whether the lease is still ours at our epoch."""
        return self.epoch is not None and repo.holds_lease(
            NAME, self.holder, self.epoch, int(self._clock())
        )


class SiteLeases:
    """This process's share of the sites (see the module's text). `held` maps each site whose
    rules it evaluates to the lease's epoch; `sites` lists the fleet's sites (`fleet`: as at the
    last renewal)."""

    def __init__(
        self,
        state: Callable[[], Connection],
        clock: Callable[[], float],
        sites: Callable[[int], set[str]],
        ttl: int = SECONDS,
        every: float = SHARE_EVERY,
        holder: str | None = None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._sites = sites
        self._ttl = ttl
        self._every = every
        self._next = float("-inf")
        self.holder = holder or holder_name()
        self.held: Mapping[str, int] = {}
        self.members = 0
        self.fleet: set[str] = set()

    def renew(self, idle: bool = False, seen: Iterable[str] = ()) -> Mapping[str, int]:
        """Every `every` seconds, or at once when `seen` names a site new to the fleet (its
        first alert must not wait): say this collector is alive (`idle`: it receives no data,
        and yields its sites to those that do), then hold exactly its share. The sites held."""
        now = self._clock()
        if now < self._next and self.fleet.issuperset(seen):
            return self.held
        self._next = now + self._every
        repo = Repository(self._state())
        repo.take_lease(MEMBER + self.holder, self.holder, int(now), self._ttl, idle)
        alive = repo.live_holders(MEMBER, int(now))
        receiving = [h for h, quiet in alive.items() if not quiet] or list(alive)
        fleet = self._sites(int(now))
        mine = {s for s in fleet if owner(s, receiving) == self.holder}
        leases = repo.keep_leases(SITE, self.holder, {SITE + s for s in mine}, int(now), self._ttl)
        held = {name[len(SITE) :]: epoch for name, epoch in leases.items()}
        # Said when the collectors change (a site new to the fleet is not news).
        news = len(alive) != self.members or self.held.keys() - held.keys()
        say = log.info if news else log.debug
        say("alerting: this collector evaluates %d of %d sites (%d collectors alive)",
            len(held), len(fleet), len(alive))  # fmt: skip
        self.held, self.members, self.fleet = held, len(alive), fleet
        return held

    def release(self) -> None:
        """Give every site up and leave (a clean stop): the others share them out at their
        next look, not 30 s later."""
        repo = Repository(self._state())
        repo.keep_leases(SITE, self.holder, set(), int(self._clock()), self._ttl)
        repo.give_up_lease(MEMBER + self.holder, self.holder)
        self.held = {}

    def fenced(self, repo: Repository, sites: Iterable[str]) -> set[str]:
        """Inside a write transaction: those of `sites` whose lease is still ours at our
        epoch."""
        wanted = {SITE + site: self.held[site] for site in sites if site in self.held}
        still = repo.holds_leases(wanted, self.holder, int(self._clock()))
        return {name[len(SITE) :] for name in still}
