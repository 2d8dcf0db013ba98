"""A short-lived cache for dashboards: many people of one org poll the same dashboard.

An entry is reused only while the views are at the position it was computed at (any write the
views have processed invalidates it, so read-your-writes holds) and for at most `ttl` seconds
(status, expected progress and outdated flags depend on "now"; `Dashboard.at` says when).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class PositionCache(Generic[V]):
    """A bounded LRU of values valid for one views position and at most `ttl` seconds."""

    def __init__(self, position: Callable[[], int], ttl: float = 1.0, size: int = 1024) -> None:
        self._position = position
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[int, float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """Blocking: call it from a worker thread."""
        position = self._position()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == position and now - entry[1] < self.ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[2]
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[key] = (position, now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
