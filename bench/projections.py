"""Projection throughput and read-your-writes latency, on SQLite and PostgreSQL, in one run.

For each store it writes a log of at least 200,000 events (objectives with thousands of
check-ins each, plus tasks, saved in large atomic writes so generation is quick), then measures:

1. read-and-decode ceiling: `recorder.select_notifications` in pages of 5,000 plus
   `mapper.to_domain_event` for every notification — no view work at all;
2. our rebuild (`projections.replay.rebuild`): all four views (progress, check-ins, alignment,
   audit) from position 0 into scratch tables, 5,000 events per transaction, then the swap with
   index creation — the whole thing timed;
3. one commit per event (what eventsourcing's ProjectionRunner does: one transaction and one
   tracking record per event) with the same projection code on the same log — on a prefix of it
   (`--per-event-sample`, default 5,000 events, best of 2), since the full log would take minutes;
4. commit-to-visible latency: single `check_in` commands with the runners live; from the moment
   the application reports the commit (a commit listener registered before the runners') until
   `wait_for(position)` returns;
5. write throughput: check-ins/s from `--write-threads` threads for `--write-seconds`, without
   runners, with the in-process runners reading at once on every wake-up (coalesce 0), and with
   the default coalescing window (runner.COALESCE) — plus how many runner transactions each took.

Also printed for transparency: the read with the rebuild's own decoder (okr.log.FastDecoder,
orjson); the ceiling the goal is measured against stays the mapper's `to_domain_event`.

Ceiling and rebuild run `--repeat` times (default 3), interleaved; each reports its best run
(the machine is shared and noisy) and prints all runs. Each figure is also given per CPU second
of this process (for SQLite that is all of the work; for PostgreSQL the server's share is not
counted), which is far less sensitive to other load on the machine.

Run:  .venv/bin/python -m bench.projections [--events 200000] [--stores sqlite,postgres]
PostgreSQL: OKR_TEST_DATABASE_URL (else a throwaway cluster, tests/harness/servers.py). Prints a table;
the last line is one JSON object. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import Task, request_context
from okr.log import FastDecoder
from okr.settings import Settings
from okr.wiring import build_application
from projections._db import Database
from projections.replay import _drop_scratch, rebuild
from projections.runner import COALESCE, Projector, ensure_schema
from projections.runtime import start_runners
from projections.views import make_views

CHECK_INS_PER_SAVE = 1_000


def generate(app: OkrApplication, org: str, events: int) -> int:
    """Writes at least `events` events; returns the log's last position."""
    with request_context(system_context(org, "bench")):
        cycle = app.execute(
            cmd.ScheduleCycle(name="2026-Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))
        ).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        team = app.execute(cmd.CreateTeam(name="Bench")).id
        i = 0
        while app.max_position() < events:
            o = app.execute(cmd.DraftObjective(cycle_id=cycle, title=f"Objective {i}", team_id=team)).id
            krs = [
                app.execute(
                    cmd.AddKeyResult(objective_id=o, title=f"KR {k}", kind="NUMERIC", start=0, target=10_000)
                ).id
                for k in range(3)
            ]
            app.execute(cmd.ActivateObjective(objective_id=o))
            tasks = [
                Task.create(title=f"task {t}", key_result_id=krs[t % 3], objective_id=o, cycle_id=cycle)
                for t in range(200)
            ]
            app.save(*tasks)
            for chunk in range(5):
                objective = app.get_objective(o)
                for n in range(CHECK_INS_PER_SAVE):
                    objective.check_in(krs[n % 3], float(chunk * CHECK_INS_PER_SAVE + n), 0.8)
                app.save(objective)
            i += 1
    return app.max_position()


Rates = tuple[float, float]  # (events per wall-clock second, events per CPU second of this process)


class _Timer:
    def __enter__(self) -> _Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rates(self, n: int) -> Rates:
        return n / self.wall, n / max(self.cpu, 1e-9)


def read_and_decode(app: OkrApplication, top: int) -> Rates:
    timer = _Timer().__enter__()
    start, n = 1, 0
    while True:
        batch = app.recorder.select_notifications(start, 5_000)
        if not batch:
            break
        for notification in batch:
            app.mapper.to_domain_event(notification)
        n += len(batch)
        start = batch[-1].id + 1
    timer.__exit__()
    assert n == top, (n, top)
    return timer.rates(n)


def our_rebuild(app: OkrApplication, db: Database, top: int) -> Rates:
    views = make_views()
    with _Timer() as timer:
        positions = rebuild(db, app, views)
    assert set(positions.values()) == {top}, positions
    return timer.rates(top)


def one_commit_per_event(app: OkrApplication, db: Database, sample: int) -> Rates:
    views = make_views()
    _drop_scratch(db, views)
    ensure_schema(db, views, scratch=True)
    projector = Projector(db, app, views, scratch=True)
    projector.load_positions()
    done = 0
    with _Timer() as timer:
        while done < sample and projector.process(1):
            done += 1
    _drop_scratch(db, views)
    return timer.rates(done)


def commit_to_visible(settings: Settings, app: OkrApplication, org: str, n: int) -> tuple[float, float]:
    committed: dict[int, float] = {}
    app.add_commit_listener(lambda position: committed.__setitem__(position, time.perf_counter()))
    handle = start_runners(settings, app)
    rm = handle.read_model
    try:
        with request_context(system_context(org, "bench")):
            cycle = app.execute(
                cmd.ScheduleCycle(name="latency", start=date(2026, 1, 1), end=date(2026, 3, 31))
            ).id
            app.execute(cmd.StartCycle(cycle_id=cycle))
            o = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Latency")).id
            kr = app.execute(
                cmd.AddKeyResult(objective_id=o, title="n", kind="NUMERIC", start=0, target=1e6)
            ).id
            r = app.execute(cmd.ActivateObjective(objective_id=o))
            rm.wait_for(r.position, 60)
            samples = []
            for i in range(n):
                position = app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=float(i))).position
                rm.wait_for(position, 10)
                samples.append(time.perf_counter() - committed[position])
        samples.sort()
        return statistics.median(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000
    finally:
        handle.stop()


def read_and_fast_decode(app: OkrApplication, top: int) -> Rates:
    """For transparency: the same read with the rebuild's decoder (okr.log.FastDecoder)."""
    decoder = FastDecoder(app.mapper)
    timer = _Timer().__enter__()
    start, n = 1, 0
    while True:
        batch = app.recorder.select_notifications(start, 5_000)
        if not batch:
            break
        for notification in batch:
            decoder.decode(notification)
        n += len(batch)
        start = batch[-1].id + 1
    timer.__exit__()
    assert n == top, (n, top)
    return timer.rates(n)


def write_throughput(
    settings: Settings, app: OkrApplication, org: str, seconds: float, threads: int, coalesce: float | None
) -> tuple[float, int, int, float]:
    """Check-ins/s from `threads` writer threads (own objective each) for `seconds`, with the
    in-process runners live (`coalesce` = their wake-up window) or without runners (None).
    Returns (commands/s, commands, runner transactions, runner thread CPU seconds)."""
    with request_context(system_context(org, "bench")):
        cycle = app.execute(cmd.ScheduleCycle(name="burst", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        krs = []
        for t in range(threads):
            o = app.execute(cmd.DraftObjective(cycle_id=cycle, title=f"Burst {t}")).id
            krs.append(
                app.execute(
                    cmd.AddKeyResult(objective_id=o, title="n", kind="NUMERIC", start=0, target=1e9)
                ).id
            )
            app.execute(cmd.ActivateObjective(objective_id=o))
    handle = None if coalesce is None else start_runners(settings, app, coalesce=coalesce)
    if handle is not None:
        handle.read_model.wait_for(app.max_position(), 120)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def write(i: int) -> None:
        with request_context(system_context(org, "bench")):
            while time.perf_counter() < deadline:
                app.execute(cmd.CheckInKeyResult(key_result_id=krs[i], value=float(counts[i])))
                counts[i] += 1

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    transactions, cpu = 0, 0.0
    if handle is not None:
        handle.read_model.wait_for(app.max_position(), 60)
        transactions = sum(r.transactions for r in handle.runners)
        cpu = sum(r.cpu_seconds for r in handle.runners)
        handle.stop()
    return sum(counts) / elapsed, sum(counts), transactions, cpu


@contextlib.contextmanager
def store(name: str, tmp: Path) -> Iterator[Settings]:
    if name == "sqlite":
        yield Settings(data_dir=tmp / "sqlite", aggregate_cache_size=1000)
        return
    from tests.harness.servers import postgres_server

    with postgres_server() as url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield Settings(
                database_url=url, database_schema=schema, data_dir=tmp / "pg", aggregate_cache_size=1000
            )
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _runs(rates: list[float]) -> str:
    return "(runs: " + ", ".join(f"{r:,.0f}" for r in rates) + ")"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--per-event-sample", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of ceiling and rebuild")
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--write-seconds", type=float, default=3.0, help="per write-throughput run")
    parser.add_argument("--write-threads", type=int, default=4)
    args = parser.parse_args()
    results: dict[str, Any] = {"events_min": args.events}
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.stores.split(","):
            with store(name, Path(tmpdir)) as settings:
                app = build_application(settings)
                db = Database(settings)
                t0 = time.perf_counter()
                top = generate(app, "bench", args.events)
                gen = time.perf_counter() - t0
                print(f"[{name}] generated {top:,} events in {gen:.1f}s", flush=True)
                # The machine is shared: interleave the runs and keep each one's best.
                ceilings, rebuilds, fast = [], [], []
                for _ in range(args.repeat):
                    ceilings.append(read_and_decode(app, top))
                    rebuilds.append(our_rebuild(app, db, top))
                    fast.append(read_and_fast_decode(app, top))
                per_events = [one_commit_per_event(app, db, args.per_event_sample) for _ in range(2)]
                best = {
                    label: (max(r[0] for r in runs), max(r[1] for r in runs))
                    for label, runs in (
                        ("ceiling", ceilings),
                        ("rebuild", rebuilds),
                        ("per_event", per_events),
                        ("fast", fast),
                    )
                }
                for label, title, runs in (
                    ("ceiling", "read+decode ceiling  ", ceilings),
                    ("rebuild", "our rebuild (4 views)", rebuilds),
                    ("per_event", "one commit per event ", per_events),
                    ("fast", "read+FastDecoder      ", fast),
                ):
                    wall, cpu = best[label]
                    print(
                        f"[{name}] {title} {wall:>9,.0f} events/s wall {_runs([r[0] for r in runs])}"
                        f"  {cpu:>9,.0f} events/CPU-s (this process)",
                        flush=True,
                    )
                ceiling, ours, per_event = best["ceiling"][0], best["rebuild"][0], best["per_event"][0]
                p50, p99 = commit_to_visible(settings, app, "latency", args.latency_samples)
                print(f"[{name}] commit-to-visible     p50 {p50:.2f} ms  p99 {p99:.2f} ms", flush=True)
                writes: dict[str, tuple[float, int, int, float]] = {}
                for label, coalesce in (("none", None), ("coalesce_0", 0.0), ("coalesce", COALESCE)):
                    writes[label] = write_throughput(
                        settings, app, f"burst-{label}", args.write_seconds, args.write_threads, coalesce
                    )
                    rate, commands, txs, cpu = writes[label]
                    print(
                        f"[{name}] check-ins from {args.write_threads} threads, runners "
                        f"{'off' if coalesce is None else f'on, coalesce {coalesce * 1000:g} ms'}: "
                        f"{rate:,.0f}/s ({commands:,} commands, {txs:,} runner transactions, "
                        f"runner CPU {cpu / max(commands, 1) * 1e6:,.0f} us/command)",
                        flush=True,
                    )
                print(
                    f"[{name}] rebuild / one-commit-per-event = {ours / per_event:.1f}x (goal >= 10x); "
                    f"rebuild / read+decode = {ours / ceiling:.0%} (goal >= 40%); per CPU second: "
                    f"{best['rebuild'][1] / best['per_event'][1]:.1f}x and "
                    f"{best['rebuild'][1] / best['ceiling'][1]:.0%}",
                    flush=True,
                )
                results[name] = {
                    "events": top,
                    "generate_s": round(gen, 1),
                    "read_decode_eps": round(ceiling),
                    "rebuild_eps": round(ours),
                    "one_commit_per_event_eps": round(per_event),
                    "rebuild_vs_per_event": round(ours / per_event, 1),
                    "rebuild_vs_ceiling": round(ours / ceiling, 3),
                    "cpu_read_decode_eps": round(best["ceiling"][1]),
                    "cpu_rebuild_eps": round(best["rebuild"][1]),
                    "cpu_one_commit_per_event_eps": round(best["per_event"][1]),
                    "commit_to_visible_p50_ms": round(p50, 2),
                    "commit_to_visible_p99_ms": round(p99, 2),
                    "read_fast_decode_eps": round(best["fast"][0]),
                    "writes_no_runners_per_s": round(writes["none"][0]),
                    "writes_runners_no_coalesce_per_s": round(writes["coalesce_0"][0]),
                    "writes_runners_coalesce_per_s": round(writes["coalesce"][0]),
                    "runner_tx_no_coalesce": writes["coalesce_0"][2],
                    "runner_tx_coalesce": writes["coalesce"][2],
                    "runner_cpu_us_per_write_no_coalesce": round(
                        writes["coalesce_0"][3] / max(writes["coalesce_0"][1], 1) * 1e6
                    ),
                    "runner_cpu_us_per_write_coalesce": round(
                        writes["coalesce"][3] / max(writes["coalesce"][1], 1) * 1e6
                    ),
                }
                db.close()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
