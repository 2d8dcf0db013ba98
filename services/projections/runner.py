"""Exactly-once runners: read the log in batches, apply to views, store positions atomically.

`Projector.process()` reads up to `limit` notifications after the lowest position of its views,
decodes each one once, and in ONE transaction: locks the views' rows in `proj_positions`
(PostgreSQL `SELECT ... FOR UPDATE`; SQLite holds the database write lock from `BEGIN
IMMEDIATE`), re-reads their positions, applies only the events after each view's stored
position, flushes the row changes, and advances the positions (plus an `applied` counter of the
notifications each view has consumed). A crash before COMMIT leaves nothing; a second worker of
the same view waits for the lock and then skips what the first applied (compare-and-set on the
stored position), so no effect is ever lost or doubled.

`Runner` is the thread around it: woken in-process by `app.add_commit_listener`, on PostgreSQL
also by LISTEN on the event table's channel (so writes from other processes wake it), else it
polls with short waits. After a wake-up it waits `coalesce` (1.5 ms) before reading, so a
burst of commits is read and applied in one transaction. After each commit it publishes the
positions to a `PositionSignal`, which is what `ReadModel.wait_for` sleeps on.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification

from okr.application import OkrApplication
from okr.log import FastDecoder, is_internal, listen
from projections._db import Database, Tx
from projections.views import POSITIONS_SQL, Rows, View, add_missing_columns

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "okr_projections"
LIVE_BATCH = 500
# After a wake-up the live runner waits this long before reading, so a burst of commits is
# applied in one transaction (commit-to-visible grows by about this much).
COALESCE = 0.0015
REBUILD_BATCH = 5_000


class PositionSignal:
    """Latest known positions per view; waiters sleep on a condition the runners notify."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._positions: dict[str, int] = {}

    def publish(self, positions: dict[str, int]) -> None:
        with self._cond:
            for view, position in positions.items():
                if position > self._positions.get(view, -1):
                    self._positions[view] = position
            self._cond.notify_all()

    def position(self, views: Sequence[str]) -> int:
        with self._cond:
            return min((self._positions.get(v, 0) for v in views), default=0)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def poke(self) -> None:
        with self._cond:
            self._cond.notify_all()


def _position(item: tuple[int, str, Any]) -> int:
    return item[0]


def ensure_schema(db: Database, views: Sequence[View], scratch: bool = False, indexes: bool = True) -> None:
    """Creates the views' tables, indexes and position rows if missing (idempotent)."""
    with db.write() as tx:
        if tx.dialect == "postgres":
            tx.execute("SELECT pg_advisory_xact_lock(7211001)")
        tx.execute(POSITIONS_SQL)
        for view in views:
            for table in view.tables:
                physical = table.physical(scratch)
                tx.execute(table.create_sql(physical, tx.dialect))
                add_missing_columns(tx, table, physical)  # tables of an older release
                if indexes and not scratch:
                    for sql in table.index_sql(physical):
                        tx.execute(sql)
            tx.execute(
                "INSERT INTO proj_positions (view, position, applied) VALUES (?, 0, 0) "
                "ON CONFLICT (view) DO NOTHING",
                [position_key(view.name, scratch)],
            )


def position_key(view: str, scratch: bool = False) -> str:
    return f"{view}__scratch" if scratch else view


def read_positions(tx: Tx, keys: Sequence[str], lock: bool = False) -> dict[str, tuple[int, int]]:
    if not keys:
        return {}
    marks = ", ".join("?" for _ in keys)
    suffix = " ORDER BY view FOR UPDATE" if lock and tx.dialect == "postgres" else ""
    rows = tx.fetchall(
        f"SELECT view, position, applied FROM proj_positions WHERE view IN ({marks}){suffix}", keys
    )
    return {str(v): (int(p), int(a)) for v, p, a in rows}


class Projector:
    """Applies the log to a set of views (live or scratch tables), one transaction per batch."""

    def __init__(
        self, db: Database, app: OkrApplication, views: Sequence[View], scratch: bool = False
    ) -> None:
        self.db = db
        self.app = app
        self.views = list(views)
        self.scratch = scratch
        self.keys = [position_key(v.name, scratch) for v in self.views]
        self.positions: dict[str, int] = {}
        self.applied_total = 0
        self._wanted: dict[str, bool] = {}  # topic -> does any view need the decoded event
        self._decoder = FastDecoder(app.mapper)

    def load_positions(self) -> dict[str, int]:
        with self.db.read() as tx:
            stored = read_positions(tx, self.keys)
        self.positions = {
            v.name: stored.get(k, (0, 0))[0] for v, k in zip(self.views, self.keys, strict=True)
        }
        return self.positions

    @property
    def position(self) -> int:
        return min(self.positions.values(), default=0)

    def read(self, limit: int, stop: int | None = None) -> Sequence[Notification]:
        if not self.positions:
            self.load_positions()
        return self.app.recorder.select_notifications(self.position + 1, limit, stop=stop)

    def decode(self, notifications: Sequence[Notification]) -> list[tuple[int, str, Any]]:
        """(position, qualname, event or None) for every notification; decoded only if wanted."""
        out: list[tuple[int, str, Any]] = []
        to_event = self._decoder.decode
        wanted = self._wanted
        for n in notifications:
            topic = n.topic
            want = wanted.get(topic)
            if want is None:
                qualname = topic.partition(":")[2]
                want = wanted[topic] = not is_internal(topic) and any(v.wants(qualname) for v in self.views)
            if want:
                event = to_event(n)
                out.append((n.id, type(event).__qualname__, event))
            else:
                out.append((n.id, "", None))
        return out

    def apply(self, tx: Tx, decoded: Sequence[tuple[int, str, Any]]) -> dict[str, int]:
        """Applies a decoded batch inside `tx` (positions locked); returns the new positions."""
        if not decoded:
            return dict(self.positions)
        stored = read_positions(tx, self.keys, lock=True)
        last = decoded[-1][0]
        # The batch was read after `read_from` (the slowest view's position). Compare with that,
        # not with the first id in the batch: PostgreSQL logs have gaps (a rolled-back append,
        # e.g. an optimistic-concurrency conflict, still consumes its notification id).
        read_from = self.position
        new_positions: dict[str, int] = {}
        moved: list[tuple[str, int, int]] = []  # (key, position, applied) of the views applied
        for view, key in zip(self.views, self.keys, strict=True):
            position, applied = stored.get(key, (0, 0))
            if position >= last or position < read_from:
                # Another worker is ahead (skip) — or the view moved back (replay swap): re-read.
                new_positions[view.name] = position
                continue
            rows = {t.name: Rows(tx, t, t.physical(self.scratch)) for t in view.tables}
            # The batch is in log order: skip what this view already has, apply the rest.
            first = 0 if decoded[0][0] > position else bisect_right(decoded, position, key=_position)
            todo = decoded[first:] if first else decoded
            count = len(todo)
            every = view.all_events
            if every is not None:
                for pos, _, event in todo:
                    if event is not None:
                        every(event, pos, rows)
            else:
                get_handler = view.handlers.get
                for pos, qualname, event in todo:
                    if event is not None:
                        handler = get_handler(qualname)
                        if handler is not None:
                            handler(event, pos, rows)
            for r in rows.values():
                r.flush()
            moved.append((key, last, applied + count))
            self.applied_total += count
            new_positions[view.name] = last
        if moved:
            # One statement for every view's position (the rows exist and are locked above).
            moved.sort()
            tx.upsert_rows("proj_positions", ("view", "position", "applied"), ("view",), moved)
        if tx.dialect == "postgres" and not self.scratch:
            tx.execute("SELECT pg_notify(?, ?)", [NOTIFY_CHANNEL, str(min(new_positions.values()))])
        return new_positions

    def process(self, limit: int = LIVE_BATCH, stop: int | None = None) -> int:
        """One batch: returns how many notifications were read (0 = caught up)."""
        notifications = self.read(limit, stop)
        if not notifications:
            return 0
        self.process_batch(notifications)
        return len(notifications)

    def process_batch(self, notifications: Sequence[Notification]) -> None:
        """Decodes and applies notifications read after `self.position`, in one transaction."""
        if not notifications:
            return
        decoded = self.decode(notifications)
        with self.db.write() as tx:
            if self.scratch and tx.dialect == "postgres":
                # Scratch batches need no flush to disk each: they only count once the swap
                # commits (synchronously, and after them in the WAL); a crash before it leaves
                # scratch tables that the next rebuild drops.
                tx.execute("SET LOCAL synchronous_commit = off")
            new_positions = self.apply(tx, decoded)
        self.positions = new_positions


class Runner:
    """A background thread running one Projector until stopped."""

    def __init__(
        self,
        projector: Projector,
        signal: PositionSignal,
        *,
        poll_interval: float = 0.05,
        batch_size: int = LIVE_BATCH,
        listen: bool = True,
        coalesce: float = COALESCE,
    ) -> None:
        self.projector = projector
        self.signal = signal
        self.poll_interval = poll_interval
        self.coalesce = coalesce
        self.transactions = 0  # batches committed (coalescing: fewer than the commits they apply)
        self.cpu_seconds = 0.0  # CPU time of this runner's thread in process() (what it costs writers)
        self.batch_size = batch_size
        self.wake = threading.Event()
        self._stop = threading.Event()
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"okr-projection-{'+'.join(self.names)}", daemon=True
        )
        self._listener: threading.Thread | None = None
        self._listen = listen and projector.db.dialect == "postgres"

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.projector.views]

    def start(self) -> None:
        self._thread.start()
        if self._listen:
            self._listener = threading.Thread(
                target=self._listen_loop, name="okr-projection-listen", daemon=True
            )
            self._listener.start()

    def notify(self, position: int | None = None) -> None:
        """Commit listener: a write happened (in-process)."""
        self.wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finishes the current batch (its positions are stored with it), then stops."""
        self._stop.set()
        self.wake.set()
        self._thread.join(timeout)
        if self._listener is not None:
            self._listener.join(timeout)
        self.projector.db.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            self.wake.clear()
            cpu = time.thread_time()
            try:
                n = self.projector.process(self.batch_size)
                self.cpu_seconds += time.thread_time() - cpu
                self.last_error = None
                backoff = 0.1
            except Exception as exc:
                self.last_error = exc
                log.exception("projection runner %s failed; retrying in %.1fs", self.names, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                self.projector.positions = {}
                continue
            if n:
                self.transactions += 1
                self.signal.publish(self.projector.positions)
                if n >= self.batch_size:
                    continue
            else:
                self.signal.publish(self.projector.positions or self.projector.load_positions())
            if self.wake.wait(self.poll_interval) and self.coalesce > 0 and not self._stop.is_set():
                # Woken by a commit: let the rest of a burst land first, so that one read and
                # one transaction apply them all (each commit costs the writers less).
                self._stop.wait(self.coalesce)

    def _listen_loop(self) -> None:
        """PostgreSQL: LISTEN on the event table's channel so other processes' writes wake us."""
        channel = getattr(self.projector.app.recorder, "channel_name", None)
        if channel:
            listen(self.projector.db.pg_connect, channel, self.wake.set, self._stop)


def catch_up(projector: Projector, batch: int = REBUILD_BATCH, stop: int | None = None) -> None:
    """Processes until the log is exhausted (or `stop`)."""
    while projector.process(batch, stop) >= batch:
        pass


def wait_pg_notify(db: Database, signal: PositionSignal, stop: threading.Event) -> None:
    """For a read model without local runners on PostgreSQL: wake waiters on runner NOTIFYs."""
    listen(db.pg_connect, NOTIFY_CHANNEL, signal.poke, stop)
