"""The live event feed behind GraphQL subscriptions: one tail of the log per process.

The tail is woken in-process by `app.add_commit_listener` (writes of this process appear within
milliseconds) and polls every `poll_interval` while anyone listens (writes of other processes,
e.g. other API replicas on PostgreSQL). Recent events sit in a bounded buffer shared by every
subscriber; a subscriber that is behind (or asks to resume from an older position) replays its
own org's events in small pages from the audit view (the log only for what that view has not
reached yet), at most REPLAY_READERS pages at a time per process. A suspended subscriber (its
client does not read: the socket's writes back up) holds at most one page and no connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import TYPE_CHECKING
from uuid import UUID

from okr import log as event_log
from okr.application import OkrApplication
from okr.log import LogEvent
from projections.views.audit import REDACTED_FIELDS

if TYPE_CHECKING:
    from projections.model import AuditEntry, ReadModel

log = logging.getLogger(__name__)
REPLAY_PAGE = 50  # events a replaying subscriber reads (and may hold) at a time
REPLAY_READERS = 2  # replay pages read at once per process (the store's pools serve the rest)

#: What subscribers receive: the log's own envelope (`okr.log.LogEvent`).
FeedEvent = LogEvent


def from_audit(org: str, entry: AuditEntry) -> FeedEvent:
    """An audit view row as the feed shows it (the same fields `okr.log.read` gives; the audit
    view also keeps a creation event's aggregate class topic, which the feed never showed)."""
    payload = entry.payload
    if "originator_topic" in payload:
        payload = {k: v for k, v in payload.items() if k != "originator_topic"}
    return FeedEvent(
        position=entry.position,
        org_id=org,
        aggregate_type=entry.aggregate_type,
        aggregate_id=entry.aggregate_id,
        version=entry.version,
        event_type=entry.event_type,
        at=entry.at,
        actor=entry.actor,
        correlation_id=entry.correlation_id,
        causation_id=entry.causation_id,
        payload=payload,
    )


class TooManySubscriptionsError(Exception):
    """A new subscription would pass the per-token or per-process cap."""


class SubscriptionLimits:
    """Open subscriptions per token and per process (counting only; no I/O)."""

    def __init__(self) -> None:
        self.total = 0
        self._per_key: dict[Hashable, int] = {}

    def count(self, key: Hashable) -> int:
        return self._per_key.get(key, 0)

    @contextlib.contextmanager
    def admit(self, key: Hashable, per_key: int, total: int) -> Iterator[None]:
        """Holds one slot of `key` while the block runs; raises TooManySubscriptionsError
        (taking nothing) when the token has `per_key` open already or the process `total`."""
        held = self._per_key.get(key, 0)
        if held >= per_key:
            raise TooManySubscriptionsError(
                f"this token has {held} subscriptions open (at most {per_key}): close one first"
            )
        if self.total >= total:
            raise TooManySubscriptionsError(
                f"the server has {self.total} subscriptions open (at most {total}): try again later"
            )
        self._per_key[key] = held + 1
        self.total += 1
        try:
            yield
        finally:
            self.total -= 1
            left = self._per_key[key] - 1
            if left:
                self._per_key[key] = left
            else:
                del self._per_key[key]


class EventFeed:
    """Shared tail of the log; `subscribe()` yields one org's events in log order."""

    def __init__(
        self,
        app: OkrApplication,
        *,
        poll_interval: float = 0.25,
        buffer_size: int = 2_000,
        batch: int = 500,
    ) -> None:
        self.app = app
        self.poll_interval = poll_interval
        self.batch = batch
        self._buffer: deque[FeedEvent] = deque(maxlen=buffer_size)
        self._floor = 0  # the buffer holds every event with floor < position <= head
        self._head = 0
        self._subscribers = 0
        self._idle = True  # no subscriber since the window last moved: the buffer is stale
        self._window_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._committed = 0  # highest position this process committed (from the commit listener)
        self.limits = SubscriptionLimits()
        self.replay_page = REPLAY_PAGE
        self._replay_readers = asyncio.Semaphore(REPLAY_READERS)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._head = self._floor = await asyncio.to_thread(self.app.max_position)
        self.app.add_commit_listener(self._on_commit)
        self._task = asyncio.create_task(self._tail(), name="okr-event-feed")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._changed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_commit(self, position: int) -> None:
        """Called from writer threads."""
        self._committed = max(self._committed, position)
        if not self._subscribers:
            return  # nobody listens: the tail catches up when someone subscribes
        event_log.wake_threadsafe(self._loop, self._wake)

    @property
    def head(self) -> int:
        return self._head

    # ------------------------------------------------------------------ tail
    async def _tail(self) -> None:
        while not self._stopping:
            timeout = self.poll_interval if self._subscribers else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._stopping:
                return
            if not self._subscribers:
                continue  # subscribe() moves the window to the log's head first
            try:
                await self._read_new()
            except Exception:  # keep the feed alive; the next wake retries
                log.exception("event feed: reading the log failed")
                await asyncio.sleep(self.poll_interval)

    async def _read_new(self) -> None:
        while True:
            after = self._head
            events, last = await asyncio.to_thread(event_log.read, self.app, after, self.batch)
            if after != self._head:
                continue  # a new first subscriber moved the window meanwhile: read from there
            if last == after:
                return
            for event in events:
                if len(self._buffer) == self._buffer.maxlen:
                    self._floor = self._buffer[0].position
                self._buffer.append(event)
                if event.aggregate_type == "Comment" and event.event_type == "Deleted":
                    self._redact(event.aggregate_id)
            self._head = last
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
            if last - after < self.batch:
                return

    def _redact(self, comment_id: UUID) -> None:
        """A deleted comment's body leaves the buffer too, as it left the audit view (replays
        from the buffer must not show what the views no longer hold)."""
        for i, buffered in enumerate(self._buffer):
            if buffered.aggregate_id == comment_id and any(f in buffered.payload for f in REDACTED_FIELDS):
                payload = {k: (None if k in REDACTED_FIELDS else v) for k, v in buffered.payload.items()}
                self._buffer[i] = dataclasses.replace(buffered, payload=payload)

    async def _replay_page(
        self, org: str, cursor: int, views: ReadModel | None
    ) -> tuple[list[FeedEvent], int]:
        """The org's events after `cursor` (at most one page) and the position they cover."""
        page = self.replay_page
        async with self._replay_readers:
            if views is not None:
                entries, covered = await asyncio.to_thread(views.events_after, org, cursor, page)
                if covered > cursor:
                    return [from_audit(org, e) for e in entries], covered
            # the audit view has not passed `cursor` (or is not there): the log, one page
            events, last = await asyncio.to_thread(event_log.read, self.app, cursor, page)
        return [e for e in events if e.org_id == org], max(cursor, last)

    # ------------------------------------------------------------------ subscribers
    async def subscribe(
        self,
        org: str,
        after: int | None = None,
        accept: Callable[[FeedEvent], bool] | None = None,
        views: ReadModel | None = None,
    ) -> AsyncIterator[FeedEvent]:
        """This org's events after `after` (default: from now on), in log order, forever.

        Behind the buffer, the org's events are replayed in pages from `views` (the audit
        view); without it, or where it has not reached yet, from the log in pages."""
        self._subscribers += 1
        try:
            async with self._window_lock:  # a second subscriber waits for the first one's move
                if self._idle:  # the tail was idle: move its window to the log's head
                    head = await asyncio.to_thread(self.app.max_position)
                    self._head = self._floor = max(head, self._committed)
                    self._buffer.clear()
                    self._idle = False
            cursor = self._head if after is None else max(0, after)
            self._wake.set()
            while not self._stopping:
                changed = self._changed
                if cursor >= self._floor:  # a page of the buffer (a stalled client pins no more)
                    page = self.replay_page
                    events = list(itertools.islice((e for e in self._buffer if e.position > cursor), page))
                    next_cursor = events[-1].position if len(events) == page else max(cursor, self._head)
                else:  # behind the buffer: one small page of this org's events
                    events, next_cursor = await self._replay_page(org, cursor, views)
                for event in events:
                    if event.org_id == org and (accept is None or accept(event)):
                        yield event
                events = []  # hold nothing while waiting for the next change
                if next_cursor == cursor:
                    await changed.wait()
                cursor = next_cursor
        finally:
            self._subscribers -= 1
            if not self._subscribers:
                self._idle = True
