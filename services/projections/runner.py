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
polls with short waits. After each commit it publishes the positions to a `PositionSignal`,
which is what `ReadModel.wait_for` sleeps on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification

from okr.application import OkrApplication
from okr.domain import INTERNAL_TOPIC_PREFIX
from projections._db import Database, Tx
from projections.views import POSITIONS_SQL, Rows, View

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "okr_projections"
LIVE_BATCH = 500
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
        mapper = self.app.mapper
        wanted = self._wanted
        for n in notifications:
            topic = n.topic
            want = wanted.get(topic)
            if want is None:
                qualname = topic.partition(":")[2]
                want = wanted[topic] = not topic.startswith(INTERNAL_TOPIC_PREFIX) and any(
                    v.wants(qualname) for v in self.views
                )
            if want:
                event = mapper.to_domain_event(n)
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
        for view, key in zip(self.views, self.keys, strict=True):
            position, applied = stored.get(key, (0, 0))
            if position >= last or position < read_from:
                # Another worker is ahead (skip) — or the view moved back (replay swap): re-read.
                new_positions[view.name] = position
                continue
            rows = {t.name: Rows(tx, t, t.physical(self.scratch)) for t in view.tables}
            count = 0
            handlers = view.handlers
            every = view.all_events
            for pos, qualname, event in decoded:
                if pos <= position:
                    continue
                count += 1
                if event is not None:
                    handler = every if every is not None else handlers.get(qualname)
                    if handler is not None:
                        handler(event, pos, rows)
            for r in rows.values():
                r.flush()
            tx.execute(
                "UPDATE proj_positions SET position = ?, applied = ? WHERE view = ?",
                [last, applied + count, key],
            )
            self.applied_total += count
            new_positions[view.name] = last
        if tx.dialect == "postgres" and not self.scratch:
            tx.execute("SELECT pg_notify(?, ?)", [NOTIFY_CHANNEL, str(min(new_positions.values()))])
        return new_positions

    def process(self, limit: int = LIVE_BATCH, stop: int | None = None) -> int:
        """One batch: returns how many notifications were read (0 = caught up)."""
        notifications = self.read(limit, stop)
        if not notifications:
            return 0
        decoded = self.decode(notifications)
        with self.db.write() as tx:
            new_positions = self.apply(tx, decoded)
        self.positions = new_positions
        return len(notifications)


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
    ) -> None:
        self.projector = projector
        self.signal = signal
        self.poll_interval = poll_interval
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
            try:
                n = self.projector.process(self.batch_size)
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
                self.signal.publish(self.projector.positions)
                if n >= self.batch_size:
                    continue
            else:
                self.signal.publish(self.projector.positions or self.projector.load_positions())
            self.wake.wait(self.poll_interval)

    def _listen_loop(self) -> None:
        """PostgreSQL: LISTEN on the event table's channel so other processes' writes wake us."""
        channel = getattr(self.projector.app.recorder, "channel_name", None)
        while not self._stop.is_set():
            try:
                with self.projector.db.pg_connect() as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake.set()
            except Exception:
                log.exception("LISTEN failed; retrying")
                self._stop.wait(1.0)


def catch_up(projector: Projector, batch: int = REBUILD_BATCH, stop: int | None = None) -> None:
    """Processes until the log is exhausted (or `stop`)."""
    while projector.process(batch, stop) >= batch:
        pass


def wait_pg_notify(db: Database, signal: PositionSignal, stop: threading.Event) -> None:
    """For a read model without local runners on PostgreSQL: wake waiters on runner NOTIFYs."""
    while not stop.is_set():
        try:
            with db.pg_connect() as conn:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        signal.poke()
        except Exception:
            log.exception("LISTEN %s failed; retrying", NOTIFY_CHANNEL)
            time.sleep(1.0)
