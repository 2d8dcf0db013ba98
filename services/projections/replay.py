"""`okr replay [--name NAME] [--verify]`: rebuild views from the log, or prove them identical.

Rebuild: the views are projected from position 0 into fresh `__scratch` tables (no secondary
indexes while loading, big batches), while the live tables keep answering queries and the live
runners keep running. Then one transaction locks the live views' positions, applies the last
events that arrived meanwhile to the scratch tables, drops the live tables, renames the scratch
tables into their place, creates the indexes and moves the positions over: readers see either
the old tables or the new ones, never a half-built view. (PostgreSQL indexes the scratch tables
before that transaction, two indexes at a time, and the swap renames them.)

Verify: the same scratch rebuild, brought (under the live views' lock) to exactly the live
positions, then compared row by row; differences are printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import Notification

from okr.application import OkrApplication
from projections._db import Database, Tx
from projections.runner import (
    REBUILD_BATCH,
    Projector,
    ensure_schema,
    position_key,
    read_positions,
)
from projections.views import View, make_views

Progress = Callable[[int, int], None]  # (events processed, target position)
MAX_DIFFS = 20


def _drop_scratch(db: Database, views: Sequence[View]) -> None:
    with db.write() as tx:
        for view in views:
            for table in view.tables:
                tx.execute(f"DROP TABLE IF EXISTS {table.physical(scratch=True)}")
            tx.execute("DELETE FROM proj_positions WHERE view = ?", [position_key(view.name, True)])


def build_scratch(
    db: Database,
    app: OkrApplication,
    views: Sequence[View],
    progress: Progress | None = None,
    stop: int | None = None,
    batch: int = REBUILD_BATCH,
) -> Projector:
    """Projects the log (up to `stop`) into fresh scratch tables."""
    ensure_schema(db, views)
    _drop_scratch(db, views)
    ensure_schema(db, views, scratch=True)
    projector = Projector(db, app, views, scratch=True)
    projector.load_positions()
    target = stop if stop is not None else app.max_position()
    _batches(projector, batch, target, progress)
    return projector


def _batches(projector: Projector, batch: int, target: int, progress: Progress | None) -> None:
    if projector.db.dialect == "postgres":
        _batches_read_ahead(projector, batch, target, progress)
        return
    # SQLite: strictly one batch after the other. A reader thread would only fight this one
    # for the GIL (every sqlite3 step releases and re-takes it), and measured slower.
    done = 0
    while True:
        n = projector.process(batch, stop=target)
        done += n
        if progress is not None:
            progress(done, target)
        if n < batch:
            return


def _batches_read_ahead(projector: Projector, batch: int, target: int, progress: Progress | None) -> None:
    """PostgreSQL: a thread reads the next page of the log (mostly waiting on the server)
    while this one decodes, applies and writes the current one. Only this rebuild writes the
    scratch tables, so the reader may run ahead of the commits; every batch is still applied
    in log order, one transaction and one position update each, by `Projector.process_batch`."""
    if not projector.positions:
        projector.load_positions()
    pages: queue.Queue[Sequence[Notification] | BaseException] = queue.Queue(maxsize=2)
    halt = threading.Event()

    def hand_over(item: Sequence[Notification] | BaseException) -> None:
        while not halt.is_set():
            try:
                pages.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read_ahead() -> None:
        start = projector.position + 1
        try:
            while not halt.is_set():
                page = projector.app.recorder.select_notifications(start, batch, stop=target)
                hand_over(page)
                if len(page) < batch:
                    return
                start = page[-1].id + 1
        except BaseException as exc:  # raised by the writer below
            hand_over(exc)

    reader = threading.Thread(target=read_ahead, name="okr-replay-read-ahead", daemon=True)
    reader.start()
    done = 0
    try:
        while True:
            page = pages.get()
            if isinstance(page, BaseException):
                raise page
            projector.process_batch(page)
            done += len(page)
            if progress is not None:
                progress(done, target)
            if len(page) < batch:
                return
    finally:
        halt.set()
        reader.join()


def _index_scratch(db: Database, views: Sequence[View]) -> None:
    """PostgreSQL: indexes the loaded scratch tables before the swap, two at a time on their
    own connections (each CREATE INDEX runs in its own server process), so the swap
    transaction only renames them; the few rows caught up under the swap's lock are indexed
    as they are inserted."""
    statements = [
        sql for v in views for t in v.tables for sql in t.index_sql(t.physical(scratch=True), scratch=True)
    ]

    def create(sql: str) -> None:
        with db.write() as tx:
            tx.execute(sql)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="okr-replay-index") as pool:
        list(pool.map(create, statements))


def _catch_up_in(tx: Tx, projector: Projector, stop: int | None = None) -> None:
    """Inside a transaction that holds the live views' lock: apply what arrived meanwhile."""
    while True:
        notifications = projector.read(REBUILD_BATCH, stop)
        if not notifications:
            return
        projector.positions = projector.apply(tx, projector.decode(notifications))
        if len(notifications) < REBUILD_BATCH:
            return


def rebuild(
    db: Database, app: OkrApplication, views: Sequence[View], progress: Progress | None = None
) -> dict[str, int]:
    """Rebuilds `views` from the log and swaps them in; returns their new positions."""
    projector = build_scratch(db, app, views, progress)
    if db.dialect == "postgres":
        _index_scratch(db, views)
    live_keys = [v.name for v in views]
    with db.write() as tx:
        read_positions(tx, live_keys, lock=True)
        _catch_up_in(tx, projector)
        scratch = read_positions(tx, [position_key(v.name, True) for v in views])
        for view in views:
            for table in view.tables:
                live, tmp = table.physical(), table.physical(scratch=True)
                tx.execute(f"DROP TABLE IF EXISTS {live}")
                tx.execute(f"ALTER TABLE {tmp} RENAME TO {live}")
                if tx.dialect == "postgres":
                    tx.execute(f"ALTER INDEX IF EXISTS {tmp}_pkey RENAME TO {live}_pkey")
                    for cols in table.indexes:
                        tx.execute(
                            f"ALTER INDEX IF EXISTS {table.index_name(cols, scratch=True)} "
                            f"RENAME TO {table.index_name(cols)}"
                        )
                for sql in table.index_sql(live):
                    tx.execute(sql)
            position, applied = scratch[position_key(view.name, True)]
            tx.execute(
                "UPDATE proj_positions SET position = ?, applied = ? WHERE view = ?",
                [position, applied, view.name],
            )
            tx.execute("DELETE FROM proj_positions WHERE view = ?", [position_key(view.name, True)])
    return {v.name: scratch[position_key(v.name, True)][0] for v in views}


def _rows(tx: Tx, physical: str, columns: Sequence[str], key: Sequence[str]) -> list[tuple[Any, ...]]:
    return tx.fetchall(f"SELECT {', '.join(columns)} FROM {physical} ORDER BY {', '.join(key)}")


def compare_tables(tx: Tx, views: Sequence[View]) -> list[str]:
    """Row-by-row differences between the scratch and live tables of `views`."""
    diffs: list[str] = []
    for view in views:
        for table in view.tables:
            cols, key = table.column_names, table.key
            key_idx = [cols.index(k) for k in key]
            live = {tuple(r[i] for i in key_idx): r for r in _rows(tx, table.physical(), cols, key)}
            fresh = {tuple(r[i] for i in key_idx): r for r in _rows(tx, table.physical(True), cols, key)}
            found: list[str] = []
            for k in sorted(set(live) | set(fresh), key=str):
                a, b = live.get(k), fresh.get(k)
                if a == b:
                    continue
                if a is None:
                    found.append(f"{view.name}.{table.name} {k}: missing from the live table")
                elif b is None:
                    found.append(f"{view.name}.{table.name} {k}: in the live table but not in the log")
                else:
                    changed = [
                        f"{c}: live={x!r} log={y!r}" for c, x, y in zip(cols, a, b, strict=True) if x != y
                    ]
                    found.append(f"{view.name}.{table.name} {k}: {'; '.join(changed)}")
            if len(found) > MAX_DIFFS:
                found = [*found[:MAX_DIFFS], f"{view.name}.{table.name}: … {len(found) - MAX_DIFFS} more"]
            diffs.extend(found)
    return diffs


def verify(
    db: Database, app: OkrApplication, views: Sequence[View], progress: Progress | None = None
) -> list[str]:
    """Rebuilds each view into scratch tables at its live position and compares them."""
    diffs: list[str] = []
    ensure_schema(db, views)
    try:
        for view in views:
            with db.read() as tx:
                live_at = read_positions(tx, [view.name])[view.name][0]
            projector = build_scratch(db, app, [view], progress, stop=live_at)
            with db.write() as tx:
                live_now = read_positions(tx, [view.name], lock=True)[view.name][0]
                _catch_up_in(tx, projector, stop=live_now)
                diffs.extend(compare_tables(tx, [view]))
    finally:
        _drop_scratch(db, views)
    return diffs


def digest(db: Database, views: Sequence[View]) -> str:
    """SHA-256 over every row of the live tables of `views`, in key order."""
    h = hashlib.sha256()
    with db.read() as tx:
        for view in views:
            for table in view.tables:
                h.update(table.name.encode())
                for row in _rows(tx, table.physical(), table.column_names, table.key):
                    h.update(repr(row).encode())
    return h.hexdigest()


def _bar_columns(width: int) -> list[Any]:
    """Progress-bar columns that fit `width` terminal columns (rich adapts the bar itself)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    if width >= 80:
        return [
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} events/s"),
            TimeElapsedColumn(),
        ]
    if width >= 50:
        return [BarColumn(bar_width=None), MofNCompleteColumn(), TimeElapsedColumn()]
    return [BarColumn(bar_width=None), TaskProgressColumn(), TimeElapsedColumn()]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run(args: argparse.Namespace) -> int:
    """CLI target of `okr replay`."""
    from rich.console import Console
    from rich.progress import Progress

    from okr.settings import load_settings
    from okr.wiring import build_application

    console = Console(stderr=True)  # width: the terminal's, or COLUMNS (80 when not a terminal)
    try:
        views = make_views(getattr(args, "name", None))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    settings = load_settings()
    app = build_application(settings)
    db = Database(settings)
    started = time.perf_counter()
    verify_mode = bool(getattr(args, "verify", False))
    label = "verifying" if verify_mode else "rebuilding"
    try:
        # the view names on a line of their own (wrapped to the terminal), then a bar that fits
        console.print(f"{label} {_plural(len(views), 'view')}: {', '.join(v.name for v in views)}")
        with Progress(*_bar_columns(console.width), console=console) as bar:
            task = bar.add_task(label, total=max(app.max_position(), 1), rate="-")
            t0 = time.perf_counter()

            def progress(done: int, target: int) -> None:
                elapsed = max(time.perf_counter() - t0, 1e-9)
                bar.update(task, completed=done, total=max(target, 1), rate=f"{done / elapsed:,.0f}")

            if verify_mode:
                diffs = verify(db, app, views, progress)
            else:
                positions = rebuild(db, app, views, progress)
        elapsed = time.perf_counter() - started
        if verify_mode:
            for line in diffs:
                print(line)
            if diffs:
                print(
                    f"{_plural(len(diffs), 'difference')} between the live views and the log", file=sys.stderr
                )
                return 1
            verb = "matches" if len(views) == 1 else "match"
            print(f"{_plural(len(views), 'view')} {verb} the log ({elapsed:.1f}s):")
            for view in views:
                print(f"  {view.name}")
            return 0
        print(f"rebuilt {_plural(len(views), 'view')} in {elapsed:.1f}s:")
        for name, pos in positions.items():
            print(f"  {name} at position {pos}")
        return 0
    finally:
        db.close()
