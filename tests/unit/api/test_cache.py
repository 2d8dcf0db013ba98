"""The dashboard cache (no I/O): reused only at the same views position and within its TTL."""

from __future__ import annotations

import time

from api.cache import PositionCache


def test_reused_at_the_same_position_recomputed_after_a_write() -> None:
    """Same position: one computation; a new position (any processed write) computes again."""
    position = [5]
    computed: list[int] = []
    cache: PositionCache[int] = PositionCache(lambda: position[0], ttl=60)

    def compute() -> int:
        computed.append(position[0])
        return position[0] * 10

    assert cache.get_or_compute("k", compute) == 50
    assert cache.get_or_compute("k", compute) == 50
    position[0] = 6
    assert cache.get_or_compute("k", compute) == 60
    assert computed == [5, 6]
    assert (cache.hits, cache.misses) == (1, 2)


def test_entries_expire_and_keys_are_separate() -> None:
    """After the TTL an entry is recomputed; other keys (orgs, cycles) never share an entry."""
    # a long TTL while reading (a 50 ms TTL expired between two calls on a loaded machine)
    cache: PositionCache[str] = PositionCache(lambda: 1, ttl=60)
    assert cache.get_or_compute(("org-a", 1), lambda: "a") == "a"
    assert cache.get_or_compute(("org-b", 1), lambda: "b") == "b"
    assert cache.get_or_compute(("org-a", 1), lambda: "stale?") == "a"
    cache.ttl = 0.05
    time.sleep(0.06)
    assert cache.get_or_compute(("org-a", 1), lambda: "fresh") == "fresh"


def test_size_is_bounded() -> None:
    """The least recently used entries are dropped beyond `size`."""
    cache: PositionCache[int] = PositionCache(lambda: 1, ttl=60, size=3)
    for i in range(10):
        cache.get_or_compute(i, lambda i=i: i)
    assert cache.get_or_compute(0, lambda: -1) == -1
    assert cache.get_or_compute(9, lambda: -1) == 9
