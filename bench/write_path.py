"""Write-path benchmark: application commands against raw eventsourcing appends, same store.

For SQLite (file, WAL) and PostgreSQL, in one run:
- raw: `recorder.insert_events` of pre-encoded check-in events, one event per transaction
  (eventsourcing's own append, no domain code, no encoding: the ceiling; the goal's baseline);
- put: `event_store.put` of ready-made domain events, one per transaction (encoding included),
  printed as a second reference;
- app: `OkrApplication.check_in` on existing objectives (load from cache, rules, event, save);
- load: reading an objective with 10,000 check-ins (snapshots) against a fresh one, with
  the aggregate cache off (a cold load, as after a restart).

Usage: .venv/bin/python -m bench.write_path [--n 3000] [--checkins 10000]
PostgreSQL: OKR_TEST_DATABASE_URL (a fresh database is made and dropped) or a throwaway cluster.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from tests.harness.servers import postgres_server

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application


def _objective(app: OkrApplication, n_krs: int = 3) -> tuple[UUID, list[UUID]]:
    cycle = app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
    app.execute(cmd.StartCycle(cycle_id=cycle))
    objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Bench objective")).id
    krs = [
        app.execute(
            cmd.AddKeyResult(objective_id=objective, title=f"KR {i}", kind="NUMERIC", start=0, target=1000)
        ).id
        for i in range(n_krs)
    ]
    app.execute(cmd.ActivateObjective(objective_id=objective))
    return objective, krs


def domain_batches(app: OkrApplication, kr: UUID, n: int) -> list[Any]:
    """Check-in domain events continuing an objective's version sequence."""
    objective = app.objective_of_key_result(kr)
    template = list(app.events.get(objective.id))[-1]
    base = objective.version
    return [replace(template, originator_version=base + 1 + i) for i in range(n)]  # type: ignore[type-var]


def raw_batches(app: OkrApplication, kr: UUID, n: int) -> list[Any]:
    """Pre-encoded check-in events continuing an objective's version sequence."""
    return [app.mapper.to_stored_event(event) for event in domain_batches(app, kr, n)]


def time_put(app: OkrApplication, events: list[Any]) -> float:
    """Seconds to append these domain events one per transaction through eventsourcing's event
    store (encoding included): eventsourcing's own append of an event, a second reference."""
    t0 = time.perf_counter()
    for event in events:
        app.events.put([event])
    return time.perf_counter() - t0


def time_raw(app: OkrApplication, stored: list[Any]) -> float:
    """Seconds to append these events one per transaction through eventsourcing's recorder."""
    t0 = time.perf_counter()
    for item in stored:
        app.recorder.insert_events([item])
    return time.perf_counter() - t0


def time_app(app: OkrApplication, krs: list[UUID], n: int, offset: int = 0) -> float:
    """Seconds for n check-in commands spread over the key results."""
    t0 = time.perf_counter()
    for i in range(offset, offset + n):
        app.execute(
            cmd.CheckInKeyResult(key_result_id=krs[i % len(krs)], value=float(i % 1000), confidence=0.7)
        )
    return time.perf_counter() - t0


def bench_load(settings: Settings, heavy: UUID, fresh: UUID) -> tuple[float, float]:
    cold = build_application(settings.model_copy(update={"aggregate_cache_size": 0}))

    def median_ms(aggregate_id: UUID) -> float:
        samples = []
        for _ in range(30):
            t0 = time.perf_counter()
            cold.get_objective(aggregate_id)
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    median_ms(heavy)  # warm-up (connections, statement caches)
    return median_ms(heavy), median_ms(fresh)


def run_store(name: str, settings: Settings, n: int, checkins: int, rounds: int = 5) -> dict[str, Any]:
    with request_context(system_context("bench", "bench")):
        raw_app = build_application(settings)
        _, raw_krs = _objective(raw_app, 1)
        stored = raw_batches(raw_app, raw_krs[0], n)
        _, put_krs = _objective(raw_app, 1)
        events = domain_batches(raw_app, put_krs[0], n)
        app = build_application(settings)
        _, krs = _objective(app)
        time_app(app, krs, min(200, n))  # warm-up
        # Interleave the two in rounds so that machine noise hits both alike.
        per_round = n // rounds
        raw_s = app_s = put_s = 0.0
        for r in range(rounds):
            raw_s += time_raw(raw_app, stored[r * per_round : (r + 1) * per_round])
            put_s += time_put(raw_app, events[r * per_round : (r + 1) * per_round])
            app_s += time_app(app, krs, per_round, offset=r * per_round)
        raw, commands = per_round * rounds / raw_s, per_round * rounds / app_s
        put = per_round * rounds / put_s
        heavy, heavy_krs = _objective(app, 1)
        for i in range(checkins):
            app.execute(cmd.CheckInKeyResult(key_result_id=heavy_krs[0], value=float(i % 1000)))
        fresh, _ = _objective(app, 1)
        heavy_ms, fresh_ms = bench_load(settings, heavy, fresh)
    result = {
        "raw_appends_per_s": round(raw),
        "app_commands_per_s": round(commands),
        "app_vs_raw": round(commands / raw, 3),
        "event_store_puts_per_s": round(put),
        "app_vs_event_store_put": round(commands / put, 3),
        "load_ms_10k_checkins": round(heavy_ms, 3),
        "load_ms_fresh": round(fresh_ms, 3),
        "load_ratio": round(heavy_ms / fresh_ms, 3),
    }
    print(
        f"{name:9} raw {raw:8.0f}/s  put {put:8.0f}/s  app {commands:8.0f}/s  "
        f"({commands / raw:5.1%} of raw, {commands / put:5.1%} of put)  "
        f"load {checkins} check-ins {heavy_ms:6.2f} ms vs fresh {fresh_ms:6.2f} ms "
        f"(x{heavy_ms / fresh_ms:.2f})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="commands and raw appends per store")
    parser.add_argument("--checkins", type=int, default=10_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_store("sqlite", Settings(data_dir=Path(tmp)), args.n, args.checkins)
    with postgres_server() as url:
        results["postgres"] = run_store(
            "postgres",
            Settings(database_url=url, data_dir=Path(tempfile.gettempdir())),
            args.n,
            args.checkins,
        )
    stores = [results["sqlite"], results["postgres"]]
    results["goals"] = {
        "app_vs_raw_min": 0.7,
        "load_ratio_max": 2.0,
        "met": all(r["app_vs_raw"] >= 0.7 and r["load_ratio"] <= 2.0 for r in stores),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
