"""The in-memory trust of recently checked tokens (collector.state.token_cache)."""

from __future__ import annotations

import pytest

from collector.state import Identity
from collector.state.token_cache import TokenCache
from tests.alert_support import Clock

PC = Identity(7, "Lens", "pc-1", "workstation")


class State:
    """A token table that counts its lookups."""

    def __init__(self) -> None:
        self.valid = {"good": PC}
        self.asked = 0

    def identify(self, token: str) -> Identity | None:
        self.asked += 1
        return self.valid.get(token)


def test_a_token_is_asked_once_per_ttl_and_a_revocation_holds_after_it() -> None:
    clock, state = Clock(1000), State()
    cache = TokenCache(ttl=5, clock=clock)
    assert [cache.identify("good", state.identify) for _ in range(3)] == [PC] * 3
    assert state.asked == 1
    del state.valid["good"]  # revoked
    clock.advance(4.9)
    assert cache.identify("good", state.identify) == PC
    clock.advance(0.1)
    assert cache.identify("good", state.identify) is None
    assert state.asked == 2


def test_a_wrong_token_is_asked_each_time_and_a_failed_lookup_keeps_nothing() -> None:
    clock, state = Clock(1000), State()
    cache = TokenCache(ttl=5, clock=clock)
    assert cache.identify("bad", state.identify) is None
    assert cache.identify("bad", state.identify) is None
    assert state.asked == 2

    def down(token: str) -> Identity | None:
        raise OSError("the state is down")

    with pytest.raises(OSError):
        cache.identify("good", down)
    assert cache.identify("good", state.identify) == PC  # asked, not taken from a failure


def test_the_cache_stays_within_its_size() -> None:
    clock = Clock(1000)
    cache = TokenCache(ttl=5, clock=clock, size=3)
    tokens = {f"t{n}": Identity(n, "Lens", f"pc-{n}", "workstation") for n in range(10)}
    for name in tokens:
        assert cache.identify(name, tokens.get) == tokens[name]
        assert len(cache) <= 3
