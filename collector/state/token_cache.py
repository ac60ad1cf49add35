"""Identities of recently checked tokens, kept in memory for a few seconds: with a shared
PostgreSQL state, every write would otherwise ask the state which token it carries (a round
trip per request). A token revoked anywhere is refused within TTL seconds by every collector.
Only valid tokens are kept (a wrong one is looked up each time), under the token's hash, never
the token itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from collector.state.tokens import Identity, hash_token

TTL = 5.0  # seconds a checked token is trusted without asking the state again
SIZE = 50_000  # tokens kept at most (a fleet's agents and pollers)


class TokenCache:
    """Thread-safe; `clock` is injected for tests."""

    def __init__(
        self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic, size: int = SIZE
    ) -> None:
        self._ttl, self._clock, self._size = ttl, clock, size
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, Identity]] = {}  # hash: (checked at, identity)

    def identify(self, token: str, lookup: Callable[[str], Identity | None]) -> Identity | None:
        """The token's identity: from memory when it was checked within the last `ttl`
        seconds, else from `lookup` (which may raise: nothing is kept then)."""
        digest, now = hash_token(token), self._clock()
        with self._lock:
            known = self._known.get(digest)
        if known is not None and now - known[0] < self._ttl:
            return known[1]
        identity = lookup(token)
        with self._lock:
            if identity is None:
                self._known.pop(digest, None)
                return None
            if len(self._known) >= self._size:  # drop what expired, or start over
                fresh = {k: v for k, v in self._known.items() if now - v[0] < self._ttl}
                self._known = fresh if len(fresh) < self._size else {}
            self._known[digest] = (now, identity)
        return identity

    def __len__(self) -> int:
        """How many tokens are kept."""
        with self._lock:
            return len(self._known)
