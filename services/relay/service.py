"""The NATS JetStream relay: publishes the event log to other services as CloudEvents.

What it does
- Follows the log (``okr.log.read``: public events, gaps stepped over) from its own tracked
  position (``relay.positions``: table ``okr_relay_positions`` next to the events, one row per
  stream name), turns each event into a CloudEvent (``relay.contracts``) and publishes it on
  subject ``<prefix>.<org>.<aggregate>.<Event>`` with header ``Nats-Msg-Id`` = the CloudEvent id.
- Publishes asynchronously in batches (``relay.publisher.BatchPublisher``: one reply subject
  per message, acks counted on one subscription; the next batch is read and encoded while the
  acks arrive) and stores its position only after JetStream has acknowledged the whole
  batch: a crash republishes at most one batch, and JetStream drops the repeats (duplicate
  window ``OKR_NATS_DUPLICATE_WINDOW_S``). Consumers should still de-duplicate by CloudEvent id.
- Creates or updates the stream (``OKR_NATS_STREAM``, subjects ``<prefix>.>``, limits retention,
  ``OKR_NATS_STREAM_MAX_AGE_DAYS``, ``OKR_NATS_DUPLICATE_WINDOW_S``, ``OKR_NATS_REPLICAS``).
- NATS down: commands are not affected (the relay only reads the log); it retries with
  exponential back-off, logs how far behind it is, and catches up in order when NATS is back.
- Woken in-process after every commit (``app.add_commit_listener``), on PostgreSQL also by the
  event store's LISTEN/NOTIFY channel (``okr.log.listen``), and otherwise by short polling
  (other processes' writes on SQLite).

Entry points
- ``RelayService(settings, app).start()`` / ``.stop()`` — a background thread with its own
  asyncio loop (``okr serve`` runs one when ``OKR_NATS_URL`` is set); ``.lag()`` gives positions
  and seconds behind (also exported as ``okr_lag_positions{component="relay"}``).
- ``run(args)`` — the ``okr relay`` worker (``--once``: publish what is there, then exit).
  SIGTERM/SIGINT finish the in-flight batch, store the position and drain the connection.
- Other processes follow the published events with ``relay.live.subscribe_live``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
import psycopg
from eventsourcing.persistence import PersistenceError
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from okr import log as event_log
from okr.application import OkrApplication
from okr.observability import set_lag
from okr.settings import Settings, load_settings
from relay.contracts import CloudEventMessage, to_message
from relay.positions import PositionStore, open_position_store, pg_connect
from relay.publisher import BatchPublisher, PublishError

__all__ = ["DEFAULT_BATCH_SIZE", "RelayLag", "RelayService", "ensure_stream", "run", "stream_config"]

log = logging.getLogger("okr.relay")

DEFAULT_BATCH_SIZE = 1000
#: Failures that mean "NATS is not there right now": retried with back-off, never fatal.
#: Failures of the event store (the log or the position table): retried with back-off too.
DATABASE_FAILURES: tuple[type[BaseException], ...] = (PersistenceError, psycopg.Error, sqlite3.Error)
NATS_FAILURES: tuple[type[BaseException], ...] = (
    PublishError,
    nats.errors.Error,
    nats.js.errors.Error,
    OSError,
    asyncio.TimeoutError,
    TimeoutError,
)


# --- the service -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayLag:
    """How far the relay is behind the log: positions, and the age of the oldest unpublished event."""

    published_position: int
    head_position: int
    positions: int
    seconds: float
    connected: bool
    last_error: str | None


@dataclass(frozen=True)
class _Batch:
    messages: list[CloudEventMessage]
    last_position: int  # the last log position read (internal events included)


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.nats_stream,
        subjects=[f"{settings.nats_subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.nats_stream_max_age_days * 86_400.0,
        duplicate_window=settings.nats_duplicate_window_s,
        num_replicas=settings.nats_replicas,
    )


async def ensure_stream(js: Any, settings: Settings) -> None:
    """Creates the stream, or updates it when its settings changed (idempotent)."""
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(wanted.name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(wanted)
        log.info("relay: created stream %s (subjects %s)", wanted.name, wanted.subjects)
        return
    have = info.config
    if (
        list(have.subjects or []) != wanted.subjects
        or have.max_age != wanted.max_age
        or have.duplicate_window != wanted.duplicate_window
        or have.num_replicas != wanted.num_replicas
    ):
        await js.update_stream(wanted)
        log.info("relay: updated stream %s", wanted.name)


class RelayService:
    """Publishes the log to JetStream from a background thread (or `run_async` in a worker)."""

    def __init__(
        self,
        settings: Settings,
        app: OkrApplication | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = 0.25,
        ack_timeout: float = 10.0,
        max_backoff: float = 5.0,
        on_acked: Callable[[Sequence[CloudEventMessage]], None] | None = None,
    ) -> None:
        """`on_acked(messages)` is called in the relay's loop when JetStream acked a batch."""
        if not settings.nats_url:
            msg = "the relay needs OKR_NATS_URL"
            raise ValueError(msg)
        if not 1 <= batch_size <= 4000:
            msg = f"batch size must be 1-4000 (got {batch_size})"
            raise ValueError(msg)
        self.settings = settings
        self.nats_url = settings.nats_url
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self.on_acked = on_acked
        self._own_app = app is None
        if app is None:
            from okr.wiring import build_application

            app = build_application(settings)
        self.app = app
        self.app.add_commit_listener(self._on_commit)
        self._position = 0
        self._head = 0
        self._oldest_unpublished: dt.datetime | None = None
        self._connected = False
        self._last_error: str | None = None
        self._stopping = threading.Event()
        self._listen_stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._store: PositionStore | None = None
        self.published = 0
        self.duplicates = 0

    # ---------------------------------------------------------------- public API
    def start(self) -> None:
        """Runs the relay in a background thread with its own asyncio loop."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._thread_main, name="okr-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finishes the in-flight batch, stores the position, drains the connection."""
        self._request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def lag(self) -> RelayLag:
        head = max(self._head, self._position)
        with contextlib.suppress(Exception):
            head = max(head, self.app.max_position())
        self._head = head
        positions = max(head - self._position, 0)
        oldest = self._oldest_unpublished
        seconds = (
            max((dt.datetime.now(dt.UTC) - oldest).total_seconds(), 0.0) if positions and oldest else 0.0
        )
        return RelayLag(self._position, head, positions, seconds, self._connected, self._last_error)

    @property
    def position(self) -> int:
        """The last log position JetStream has acknowledged (and the relay has stored)."""
        return self._position

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """Blocks until everything up to `position` is published (True) or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
        return True

    # ---------------------------------------------------------------- wake-ups
    def _on_commit(self, position: int) -> None:
        self._head = max(self._head, position)
        self._wake_up()

    def _wake_up(self) -> None:
        event_log.wake_threadsafe(self._loop, self._wake)

    def _request_stop(self) -> None:
        self._stopping.set()
        self._wake_up()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.run_async())
        except Exception:
            log.exception("relay: stopped by an unexpected error")

    def _listen_postgres(self) -> None:
        """Wakes the relay on the event store's NOTIFY (writes from other processes)."""
        channel = getattr(self.app.recorder, "channel_name", None)
        if channel:
            connect = functools.partial(pg_connect, self.settings)
            event_log.listen(connect, channel, self._wake_up, self._listen_stop, retry=2.0)

    # ---------------------------------------------------------------- the loop
    async def run_async(self, *, once: bool = False) -> int:
        """The relay loop. `once`: publish what is in the log now, then return (1 if NATS failed)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stopping.is_set():
            self._wake.set()
        listener: threading.Thread | None = None
        if self.settings.uses_postgres and not once:
            self._listen_stop.clear()
            listener = threading.Thread(target=self._listen_postgres, name="okr-relay-listen", daemon=True)
            listener.start()
        try:
            return await self._run_with_retries(once)
        finally:
            self._listen_stop.set()
            if listener is not None:
                await asyncio.to_thread(listener.join, 5.0)
            await self._close_store()
            if self._own_app:
                self.app.close()
            self._loop = None
            self._wake = None

    async def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(*DATABASE_FAILURES):
                await asyncio.to_thread(store.close)

    async def _run_with_retries(self, once: bool) -> int:
        """Connects and publishes; NATS or database failures are retried with back-off."""
        backoff = 0.1
        while not self._stopping.is_set():
            nc = None
            try:
                if self._store is None:
                    self._store = await asyncio.to_thread(open_position_store, self.settings)
                    self._set_position(await asyncio.to_thread(self._store.load))
                publishers: list[BatchPublisher] = []

                async def connection_lost(publishers: list[BatchPublisher] = publishers) -> None:
                    for publisher in publishers:
                        publisher.fail("the connection to NATS was lost")

                nc = await nats.connect(
                    self.nats_url,
                    name="okr-relay",
                    disconnected_cb=connection_lost,
                    closed_cb=connection_lost,
                    # The relay owns reconnection (with back-off and a re-read of the log), so
                    # the client neither retries for minutes nor buffers while disconnected.
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.05,
                    connect_timeout=2,
                    skip_subject_validation=True,  # subjects are built from sanitised tokens
                    error_cb=self._nats_error,
                )
                await ensure_stream(nc.jetstream(), self.settings)
                publisher = BatchPublisher(nc)
                publishers.append(publisher)
                await publisher.start()
                self._connected = True
                self._last_error = None
                backoff = 0.1
                if await self._publish_loop(publisher, once):
                    return 0
            except (*NATS_FAILURES, *DATABASE_FAILURES) as exc:
                self._connected = False
                self._last_error = f"{type(exc).__name__}: {exc}"
                what = "the event store" if isinstance(exc, DATABASE_FAILURES) else "NATS"
                if isinstance(exc, DATABASE_FAILURES):
                    await self._close_store()
                lag = self.lag()
                set_lag("relay", lag.positions, lag.seconds)
                if once:
                    log.error(
                        "relay: %s failed (%s); %d events unpublished", what, self._last_error, lag.positions
                    )
                    return 1
                log.warning(
                    "relay: %s unavailable (%s); %d events behind, oldest %.1f s old; retrying in %.1f s",
                    what,
                    self._last_error,
                    lag.positions,
                    lag.seconds,
                    backoff,
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self._connected = False
                if nc is not None:
                    await self._close(nc)
        return 0

    async def _publish_loop(self, publisher: BatchPublisher, once: bool) -> bool:
        """Publishes batches until stopped (True) or `once` found nothing more (True).

        Pipelined: while JetStream acknowledges batch N, a worker thread already reads and
        encodes batch N+1; the position of N is stored only after all of N was acknowledged.
        """
        assert self._wake is not None
        ahead: asyncio.Task[_Batch | None] | None = None
        try:
            while True:
                if ahead is None:
                    self._wake.clear()
                    batch = await asyncio.to_thread(self._read_batch, self._position)
                else:
                    batch, ahead = await ahead, None
                if batch is None:
                    self._oldest_unpublished = None
                    set_lag("relay", 0, 0.0)
                    if once or self._stopping.is_set():
                        return True
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    continue
                if batch.messages:
                    self._oldest_unpublished = batch.messages[0].timestamp
                sent = await publisher.send(batch.messages)
                if not self._stopping.is_set():
                    self._wake.clear()
                    ahead = asyncio.create_task(asyncio.to_thread(self._read_batch, batch.last_position))
                acked, duplicates = await publisher.wait(sent, self.ack_timeout)
                if self.on_acked is not None and batch.messages:
                    self.on_acked(batch.messages)
                self.published += acked
                self.duplicates += duplicates
                await asyncio.to_thread(self._store_position, batch.last_position)
                if self._stopping.is_set():
                    return True
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await ahead

    def _read_batch(self, after: int) -> _Batch | None:
        """The next batch of the log after `after` as CloudEvents (internal events skipped)."""
        events, last = event_log.read(self.app, after, self.batch_size)
        if last == after:
            return None
        prefix = self.settings.nats_subject_prefix
        messages = [m for e in events if (m := to_message(e, prefix=prefix)) is not None]
        self._head = max(self._head, last)
        return _Batch(messages, last)

    def _store_position(self, position: int) -> None:
        assert self._store is not None
        self._store.save(position)
        self._set_position(position)
        # The head as last seen (reads, commit listener): no extra query per batch.
        behind = max(self._head - position, 0)
        oldest = self._oldest_unpublished
        seconds = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if behind and oldest else 0.0
        set_lag("relay", behind, seconds)

    def _set_position(self, position: int) -> None:
        with self._progress:
            self._position = position
            self._progress.notify_all()

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    @staticmethod
    async def _nats_error(exc: Exception) -> None:
        log.debug("relay: NATS client error: %s", exc)

    @staticmethod
    async def _close(nc: Any) -> None:
        with contextlib.suppress(*NATS_FAILURES):
            if nc.is_connected:
                await asyncio.wait_for(nc.drain(), 5.0)
        with contextlib.suppress(*NATS_FAILURES):
            await nc.close()


# --- the `okr relay` worker ----------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """`okr relay [--once]`: publish the log to JetStream until SIGTERM/SIGINT (or once)."""
    from okr.observability import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    if not settings.nats_url:
        log.error("okr relay needs OKR_NATS_URL (e.g. nats://127.0.0.1:4222)")
        return 2
    batch_size = getattr(args, "batch_size", None)
    if batch_size is not None and not 1 <= batch_size <= 4000:
        log.error("--batch-size must be 1-4000 (got %d)", batch_size)
        return 2
    service = RelayService(settings, batch_size=batch_size or DEFAULT_BATCH_SIZE)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service._request_stop)
        return await service.run_async(once=bool(getattr(args, "once", False)))

    code = asyncio.run(main())
    log.info("relay: stopped at position %d (%d published)", service.position, service.published)
    return code
