"""Append ceilings of one event log: eventsourcing on PostgreSQL (1, 2, 4, 8 threads) vs SQLite.

eventsourcing 9.5.6 takes `LOCK TABLE <events> IN EXCLUSIVE MODE` in every insert transaction
and holds it through COMMIT (WAL flush included), so all appends to one application's table are
serialised: once the lock is busy, more writer threads only queue on it. This script shows it
against baselines measured in the same run:

1. raw appends through eventsourcing's PostgreSQL recorder (one event per transaction) with
   1, 2, 4 and 8 threads, sampling `pg_locks` for sessions waiting on the table lock; then
   what shortens the time the lock is held: ten events per transaction, and
   `synchronous_commit=off` (COMMIT stops waiting for the WAL flush);
2. the same rows INSERTed into a plain table with the same keys but no table lock (what the
   server itself could do: group commit lets concurrent committers share a WAL flush);
3. the same 8 threads appending to two *separate* logs (two schemas = two shards): the lock
   is per table, so the queue on each lock halves;
4. the real command path (`OkrApplication.check_in`, one key result per thread, aggregate cache
   on) on PostgreSQL with 1, 2, 4 threads and on SQLite with 1 and 2;
5. raw SQLite appends (one file, one writer at a time).

Run:  .venv/bin/python -m bench.pg_append_ceiling [--seconds 2]
(uses OKR_TEST_DATABASE_URL when set, else a throwaway PostgreSQL cluster; prints a table and,
last, one JSON line). Not a test; figures are noisy on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from tests.harness.servers import fresh_database, postgres_server

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application

STATE = json.dumps(
    {
        "org_id": "bench",
        "actor": "bench-user",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": str(uuid.uuid4()),
        "value": 370.0,
        "value_before": 360.0,
        "confidence": 0.8,
        "note": "weekly check-in " + "x" * 120,
        "timestamp": "2026-11-25T20:00:00+00:00",
    }
).encode()


@dataclass
class Result:
    label: str
    threads: int
    count: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat) if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
        return {
            "label": self.label,
            "threads": self.threads,
            "events_per_s": round(self.rate, 1),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            **self.extra,
        }


def run_threads(
    label: str,
    threads: int,
    seconds: float,
    make_worker: Callable[[int], Callable[[], None]],
    events_per_op: int = 1,
) -> Result:
    """Runs `threads` workers, each calling its operation in a loop for `seconds`; counts operations."""
    workers = [make_worker(i) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        op = workers[i]
        barrier.wait()
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                op()
                latencies[i].append((time.perf_counter() - t0) * 1000)
                counts[i] += 1
        except BaseException as exc:  # reported below; a benchmark must not hide a failure
            errors.append(exc)
            stop.set()

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{label}: a worker failed") from errors[0]
    return Result(label, threads, sum(counts) * events_per_op, elapsed, [x for lat in latencies for x in lat])


@contextlib.contextmanager
def lock_sampler(url: str, schemas: list[str], table: str) -> Iterator[dict[str, float]]:
    """Samples pg_locks every 20 ms: how many sessions wait for a lock on `table` in `schemas`."""
    stats: dict[str, float] = {}
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = ANY(%s) AND c.relname = %s AND NOT l.granted",
                    (schemas, table),
                ).fetchone()
                samples.append(int(row[0]) if row else 0)
                time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join()
        stats["lock_waiters_avg"] = round(statistics.fmean(samples), 2) if samples else 0.0
        stats["lock_waiters_max"] = max(samples, default=0)


def fresh_schema(url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return name


def pg_app(url: str, schema: str, pool: int = 8) -> OkrApplication:
    """An application on `schema` with at most `pool` connections (the server is shared)."""
    settings = Settings(
        database_url=url,
        database_schema=schema,
        pool_size=pool,
        pool_max_overflow=0,
        data_dir=Path(tempfile.mkdtemp()),
    )
    return build_application(settings)


def raw_append(app: OkrApplication, batch: int = 1) -> Callable[[int], Callable[[], None]]:
    """One insert transaction per call, of `batch` events (new aggregates, version 1)."""

    def make(_: int) -> Callable[[], None]:
        def op() -> None:
            events = [
                StoredEvent(
                    originator_id=uuid.uuid4(), originator_version=1, topic="bench:Appended", state=STATE
                )
                for _ in range(batch)
            ]
            app.recorder.insert_events(events)

        return op

    return make


def plain_insert(
    url: str, schema: str, conns: list[psycopg.Connection[Any]], max_threads: int = 8
) -> Callable[[int], Callable[[], None]]:
    """Writer i uses connection i (opened once, closed by the caller)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {schema}.plain_events (notification_id bigserial PRIMARY KEY,"
            " originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,"
            " state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
        )
    own = [psycopg.connect(url) for _ in range(max_threads)]
    conns.extend(own)

    def make(i: int) -> Callable[[], None]:
        conn = own[i]

        def op() -> None:
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {schema}.plain_events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, %s, %s)",
                    (uuid.uuid4(), "bench:Appended", STATE),
                )

        return op

    return make


def check_in_workers(app: OkrApplication, org: str, threads: int) -> Callable[[int], Callable[[], None]]:
    """One active objective with one key result per thread, so threads never conflict on an aggregate."""
    ctx = system_context(org, "bench-user")
    krs: list[str] = []
    with request_context(ctx):
        today = date.today()
        cycle = app.execute(
            cmd.ScheduleCycle(name="bench", start=today - timedelta(days=10), end=today + timedelta(days=80))
        )
        app.execute(cmd.StartCycle(cycle_id=cycle.id))
        for i in range(threads):
            objective = app.execute(cmd.DraftObjective(cycle_id=cycle.id, title=f"Bench objective {i}"))
            kr = app.execute(
                cmd.AddKeyResult(
                    objective_id=objective.id, title=f"Bench KR {i}", kind="NUMERIC", start=0, target=1e9
                )
            )
            app.execute(cmd.ActivateObjective(objective_id=objective.id))
            krs.append(str(kr.id))

    def make(i: int) -> Callable[[], None]:
        counter = iter(range(1, 10**9))

        def op() -> None:
            with request_context(ctx):
                app.execute(
                    cmd.CheckInKeyResult(
                        key_result_id=krs[i], value=float(next(counter)), confidence=0.8, note="bench"
                    )
                )

        return op

    return make


def log_count(app: OkrApplication) -> int:
    return app.max_position()


@dataclass
class Cell:
    """One measurement: `repeat` runs, interleaved with every other cell's runs."""

    label: str
    threads: int
    make_worker: Callable[[int], Callable[[], None]]
    sampler: Callable[[], contextlib.AbstractContextManager[dict[str, float]]] | None = None
    events_per_op: int = 1
    runs: list[Result] = field(default_factory=list)

    def run(self, seconds: float) -> None:
        with self.sampler() if self.sampler is not None else contextlib.nullcontext({}) as stats:
            result = run_threads(self.label, self.threads, seconds, self.make_worker, self.events_per_op)
        result.extra.update(stats)
        self.runs.append(result)

    def result(self) -> Result:
        """The median-rate run, with every run's rate and the best one."""
        runs = sorted(self.runs, key=lambda r: r.rate)
        chosen = runs[len(runs) // 2]
        chosen.extra["runs"] = [round(r.rate, 1) for r in self.runs]
        chosen.extra["best_events_per_s"] = round(runs[-1].rate, 1)
        return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each cell reports its median run")
    args = parser.parse_args()
    seconds: float = args.seconds
    repeat: int = args.repeat
    cells: list[Cell] = []
    closers: list[Callable[[], None]] = []
    conns: list[psycopg.Connection[Any]] = []

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_server())
        with psycopg.connect(url, autocommit=True) as conn:
            pg_settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        print(
            f"PostgreSQL {pg_settings}  cores={os.cpu_count()}  {repeat} interleaved rounds of"
            f" {seconds:.1f} s per cell (the shared machine's load hits every cell alike)"
        )

        def locks(*schemas: str) -> Callable[[], contextlib.AbstractContextManager[dict[str, float]]]:
            return lambda: lock_sampler(url, list(schemas), "okr_events")

        # 1. eventsourcing raw appends (table lock), 1-8 writers; ten events per transaction.
        schema = fresh_schema(url)
        app = pg_app(url, schema)
        closers.append(app.close)
        for threads in (1, 2, 4, 8):
            cells.append(Cell("pg eventsourcing append", threads, raw_append(app), locks(schema)))
        cells.append(Cell("pg append, 10 events/txn", 1, raw_append(app, 10), events_per_op=10))

        # 1b. synchronous_commit=off (COMMIT does not wait for the WAL flush), set on a database
        #     of its own so that no other cell's connections inherit it.
        async_url = stack.enter_context(fresh_database(url))
        with psycopg.connect(url, autocommit=True) as conn:
            dbname = async_url.rsplit("/", 1)[1]
            conn.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit = off')
        async_schema = fresh_schema(async_url)
        async_app = pg_app(async_url, async_schema, pool=4)
        closers.append(async_app.close)
        for threads in (1, 4):
            cells.append(Cell("pg append, synchronous_commit=off", threads, raw_append(async_app)))

        # 2. plain INSERT baseline (no table lock), same row shape, same one-row transactions.
        plain_schema = fresh_schema(url)
        plain = plain_insert(url, plain_schema, conns)
        for threads in (1, 2, 4, 8):
            cells.append(Cell("pg plain insert (no lock)", threads, plain))

        # 3. shards: the lock is per log table. The same 8 writer threads split over two logs
        #    (two schemas = two shards, two tables, two locks).
        shard_schemas = [fresh_schema(url), fresh_schema(url)]
        shards = [pg_app(url, schema, pool=4) for schema in shard_schemas]
        closers.extend(shard.close for shard in shards)

        def shard_worker(i: int) -> Callable[[], None]:
            return raw_append(shards[i % 2])(i)

        cells.append(Cell("pg 2 logs (shards)", 8, shard_worker, locks(*shard_schemas)))

        # 4. the command path on PostgreSQL, one key result per thread.
        for threads in (1, 2, 4):
            command_app = pg_app(url, fresh_schema(url), pool=threads + 1)
            closers.append(command_app.close)
            workers = check_in_workers(command_app, f"b{threads}", threads)
            cells.append(Cell("pg check_in command", threads, workers))

        # 5. SQLite: raw appends and the command path (one file each).
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for threads in (1, 2):
            sqlite_app = build_application(Settings(data_dir=tmp / f"append{threads}"))
            closers.append(sqlite_app.close)
            cells.append(Cell("sqlite eventsourcing append", threads, raw_append(sqlite_app)))
        for threads in (1, 2):
            sqlite_app = build_application(Settings(data_dir=tmp / f"command{threads}"))
            closers.append(sqlite_app.close)
            workers = check_in_workers(sqlite_app, "s", threads)
            cells.append(Cell("sqlite check_in command", threads, workers))

        try:
            for round_ in range(repeat):
                started = time.perf_counter()
                for cell in cells:
                    cell.run(seconds)
                print(f"round {round_ + 1}/{repeat}: {time.perf_counter() - started:.0f} s", flush=True)
        finally:
            for conn in conns:
                conn.close()
            for close in closers:
                close()

    results = [cell.result() for cell in cells]
    rows = [r.row() for r in results]
    print(
        f"{'measurement':32} {'thr':>3} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
        "  lock waiters avg/max  runs (events/s; noise only ever slows a run)"
    )
    for row in rows:
        waiters = f"{row['lock_waiters_avg']}/{row['lock_waiters_max']}" if "lock_waiters_avg" in row else ""
        print(
            f"{row['label']:32} {row['threads']:>3} {row['events_per_s']:>9.1f} {row['p50_ms']:>7.2f}"
            f" {row['p99_ms']:>7.2f}  {waiters:20} {row['runs']}"
        )

    def rate(label: str, threads: int) -> float:
        return next(r.rate for r in results if r.label == label and r.threads == threads)

    def best(label: str, threads: int) -> float:
        return float(
            next(r.extra["best_events_per_s"] for r in results if r.label == label and r.threads == threads)
        )

    es1 = rate("pg eventsourcing append", 1)
    summary = {
        "bench": "pg_append_ceiling",
        "seconds_per_run": seconds,
        "repeat": repeat,
        "postgres": pg_settings,
        "pg_append_1": round(es1, 1),
        "pg_append_2": round(rate("pg eventsourcing append", 2), 1),
        "pg_append_4": round(rate("pg eventsourcing append", 4), 1),
        "pg_append_8": round(rate("pg eventsourcing append", 8), 1),
        "pg_append_8_over_1": round(rate("pg eventsourcing append", 8) / es1, 2),
        "pg_plain_8": round(rate("pg plain insert (no lock)", 8), 1),
        "pg_append_batch10": round(rate("pg append, 10 events/txn", 1), 1),
        "pg_append_async_commit_1": round(rate("pg append, synchronous_commit=off", 1), 1),
        "pg_append_async_commit_4": round(rate("pg append, synchronous_commit=off", 4), 1),
        "pg_plain_over_append_at_8": round(
            rate("pg plain insert (no lock)", 8) / rate("pg eventsourcing append", 8), 2
        ),
        "pg_2_logs_8": round(rate("pg 2 logs (shards)", 8), 1),
        "pg_2_logs_over_1_log_at_8": round(
            rate("pg 2 logs (shards)", 8) / rate("pg eventsourcing append", 8), 2
        ),
        "pg_check_in_1": round(rate("pg check_in command", 1), 1),
        "pg_check_in_4": round(rate("pg check_in command", 4), 1),
        "sqlite_append_1": round(rate("sqlite eventsourcing append", 1), 1),
        "sqlite_check_in_1": round(rate("sqlite check_in command", 1), 1),
        "sqlite_over_pg_append": round(rate("sqlite eventsourcing append", 1) / es1, 2),
        "best_pg_append": {t: best("pg eventsourcing append", t) for t in (1, 2, 4, 8)},
        "best_pg_plain": {t: best("pg plain insert (no lock)", t) for t in (1, 2, 4, 8)},
        "best_pg_2_logs_8": best("pg 2 logs (shards)", 8),
        "rows": rows,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
