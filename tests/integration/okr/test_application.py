"""The application on real stores: a SQLite file and the real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from okr import commands as cmd
from okr.application import OkrApplication
from okr.domain import RequestContext, request_context
from okr.domain.errors import DomainError
from okr.domain.objective import Objective
from okr.settings import Settings
from okr.wiring import build_application

pytestmark = pytest.mark.integration
Build = Callable[[Settings], OkrApplication]


@pytest.fixture
def build() -> Iterator[Build]:
    """build_application, closing every instance afterwards: unclosed PostgreSQL pools kept ~70
    connections open at once (with another test run on the server: "too many clients")."""
    apps: list[OkrApplication] = []

    def make(settings: Settings) -> OkrApplication:
        apps.append(build_application(settings))
        return apps[-1]

    yield make
    for app in apps:
        app.close()


def _setup(app: OkrApplication) -> tuple[object, object]:
    cycle = app.execute(cmd.ScheduleCycle(name="2026-Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
    app.execute(cmd.StartCycle(cycle_id=cycle))
    objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
    kr = app.execute(
        cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", start=0, target=400)
    ).id
    app.execute(cmd.AddKeyResult(objective_id=objective, title="Trials", kind="NUMERIC", start=0, target=40))
    app.execute(cmd.ActivateObjective(objective_id=objective))
    return objective, kr


def test_commands_round_trip(build: Build, store_settings: Settings, ctx: RequestContext) -> None:
    """A full scenario is stored and read back by a fresh application on the same store."""
    app = build(store_settings)
    objective, kr = _setup(app)
    app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=370, confidence=0.8))  # type: ignore[arg-type]
    task = app.execute(cmd.CreateTask(title="Webinar", key_result_id=kr)).id  # type: ignore[arg-type]
    app.execute(cmd.CompleteTask(task_id=task, value=380))
    fresh = build(store_settings)
    obj = fresh.get_objective(objective)  # type: ignore[arg-type]
    krv = obj.key_results[str(kr)]
    assert (krv.current, krv.check_in_count) == (380.0, 2)
    assert fresh.get_task(task).state == "DONE"
    assert fresh.max_position() == app.max_position()


def test_concurrent_check_ins_lose_nothing(
    build: Build, store_settings: Settings, ctx: RequestContext
) -> None:
    """20 threads checking in on one objective: every check-in stored, versions contiguous."""
    app = build(store_settings)
    objective, kr = _setup(app)
    per_thread = 5
    errors: list[BaseException] = []
    barrier = threading.Barrier(20, timeout=60)
    # several instances, one thread each: one pooled connection apiece (5 each opened 55 at once)
    single = store_settings.model_copy(update={"pool_size": 1})
    apps = [build(single) if n % 2 else app for n in range(20)]

    def worker(n: int) -> None:
        other = apps[n]
        with request_context(ctx):
            barrier.wait()
            for i in range(per_thread):
                try:
                    other.execute(cmd.CheckInKeyResult(key_result_id=kr, value=float(n * 100 + i)))  # type: ignore[arg-type]
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reader = build(single)
    events = list(reader.events.get(objective))  # type: ignore[arg-type]
    versions = [e.originator_version for e in events]
    assert versions == list(range(1, len(versions) + 1))
    check_ins = [e for e in events if isinstance(e, Objective.KeyResultCheckedIn)]
    assert len(check_ins) == 20 * per_thread
    # no lost update: each check-in's value_before is the previous check-in's value
    values = [e.value for e in check_ins]
    assert [e.value_before for e in check_ins[1:]] == values[:-1]
    stored = reader.get_objective(objective).key_results[str(kr)]  # type: ignore[arg-type]
    assert stored.check_in_count == 100


def test_idempotency_survives_restart(build: Build, store_settings: Settings, ctx: RequestContext) -> None:
    """A repeated idempotency key after a restart returns the first result and appends nothing."""
    app = build(store_settings)
    _, kr = _setup(app)
    first = app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=10), idempotency_key="req-42")  # type: ignore[arg-type]
    position = app.max_position()
    del app
    restarted = build(store_settings)
    again = restarted.execute(cmd.CheckInKeyResult(key_result_id=kr, value=10), idempotency_key="req-42")  # type: ignore[arg-type]
    assert again.replayed and again.id == first.id
    assert again.position == first.position  # the first write's position
    assert restarted.max_position() == position
    with pytest.raises(DomainError) as info:
        restarted.execute(cmd.CheckInKeyResult(key_result_id=kr, value=99), idempotency_key="req-42")  # type: ignore[arg-type]
    assert info.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_failed_command_writes_nothing(build: Build, store_settings: Settings, ctx: RequestContext) -> None:
    """Refused input leaves the log untouched."""
    app = build(store_settings)
    _, kr = _setup(app)
    before = app.max_position()
    for bad in (float("nan"), float("inf"), 1e400, 1e16):
        with pytest.raises(DomainError):
            app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=bad))  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        app.execute(cmd.CreateTask(title="x" * 1_000_000))
    assert app.max_position() == before


def test_snapshots_keep_loading_flat(build: Build, sqlite_settings: Settings, ctx: RequestContext) -> None:
    """Loading an objective with 2,000 check-ins costs about what a fresh one costs (snapshots)."""
    settings = sqlite_settings.model_copy(update={"aggregate_cache_size": 0})
    app = build(settings)
    objective, kr = _setup(app)
    fresh_objective, _ = _setup(app)
    for i in range(2_000):
        app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=float(i % 400)))  # type: ignore[arg-type]
    loader = build(settings)

    def best_of(aggregate_id: object) -> float:
        timings = []
        for _ in range(20):
            t0 = time.perf_counter()
            loader.get_objective(aggregate_id)  # type: ignore[arg-type]
            timings.append(time.perf_counter() - t0)
        return min(timings)

    busy, fresh = best_of(objective), best_of(fresh_objective)
    assert loader.snapshots is not None
    assert busy < max(10 * fresh, 0.005), (busy, fresh)


def test_repeated_key_returns_the_first_position(
    build: Build, store_settings: Settings, ctx: RequestContext
) -> None:
    """On both stores a repeated key answers the first write's log position, not the head."""
    app = build(store_settings)
    _, kr = _setup(app)
    first = app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=10), idempotency_key="ci-first")  # type: ignore[arg-type]
    for n in range(3):
        app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=20 + n))  # type: ignore[arg-type]
    again = build(store_settings).execute(
        cmd.CheckInKeyResult(key_result_id=kr, value=10), idempotency_key="ci-first"
    )  # type: ignore[arg-type]
    assert again.replayed and again.position == first.position < app.max_position()


def test_close_cycle_with_active_objectives_is_one_write(
    build: Build, store_settings: Settings, ctx: RequestContext
) -> None:
    """closeActiveObjectives: the objectives' Closed events (with scores) and the cycle's Closed
    event are one append; a fresh application sees the frozen cycle."""
    app = build(store_settings)
    objective, kr = _setup(app)
    app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=200))  # type: ignore[arg-type]
    cycle = app.get_objective(objective).cycle_id  # type: ignore[arg-type]
    with pytest.raises(DomainError) as refused:
        app.execute(cmd.CloseCycle(cycle_id=cycle))
    assert refused.value.code == "CYCLE_HAS_ACTIVE_OBJECTIVES"
    before = app.max_position()
    result = app.execute(cmd.CloseCycle(cycle_id=cycle, close_active_objectives=True))
    fresh = build(store_settings)
    closed = [e for e in fresh.events.get(objective) if isinstance(e, Objective.Closed)]  # type: ignore[arg-type]
    assert len(closed) == 1 and closed[0].score == 0.25  # (0.5 + 0.0) / 2
    positions = [n.id for n in fresh.recorder.select_notifications(before + 1, 100)]
    assert positions[-1] == result.position == fresh.max_position()
    with pytest.raises(DomainError) as frozen:
        fresh.execute(cmd.CheckInKeyResult(key_result_id=kr, value=1))  # type: ignore[arg-type]
    assert frozen.value.code == "CYCLE_CLOSED"
