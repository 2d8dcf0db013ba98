"""Time travel: as-of answers come from the log and equal the live views recorded at that time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.calls import bound
from okr import commands as cmd
from okr.application import OkrApplication
from okr.domain import RequestContext, request_context
from okr.domain.errors import DomainError
from okr.settings import Settings
from okr.wiring import build_application
from projections.queries import Queries
from projections.runtime import RunnerHandle, start_runners

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Scenario:
    org: str
    clock: Clock
    cycle: UUID
    objectives: list[UUID]
    krs: list[UUID]
    tasks: list[UUID] = field(default_factory=list)


def _ctx(s: Scenario) -> RequestContext:
    return RequestContext(org_id=s.org, actor="alice", roles=frozenset({"admin"}), clock=s.clock)


def _setup(app: OkrApplication) -> Scenario:
    s = Scenario(f"tt-{uuid4().hex[:8]}", Clock(), uuid4(), [], [])
    with request_context(_ctx(s)):
        s.cycle = app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=s.cycle))
        parent = app.execute(cmd.DraftObjective(cycle_id=s.cycle, title="Parent", driver="BOTH")).id
        s.krs.append(
            app.execute(
                cmd.AddKeyResult(objective_id=parent, title="Numeric", kind="NUMERIC", start=0, target=500)
            ).id
        )
        s.krs.append(app.execute(cmd.AddKeyResult(objective_id=parent, title="Milestone", kind="BOOLEAN")).id)
        s.krs.append(
            app.execute(
                cmd.AddKeyResult(objective_id=parent, title="Tasks", kind="NUMERIC", source="TASKS")
            ).id
        )
        app.execute(cmd.ActivateObjective(objective_id=parent))
        child = app.execute(cmd.DraftObjective(cycle_id=s.cycle, title="Child", driver="KEY_RESULTS")).id
        s.krs.append(
            app.execute(
                cmd.AddKeyResult(objective_id=child, title="Down", kind="NUMERIC", start=100, target=10)
            ).id
        )
        app.execute(cmd.ActivateObjective(objective_id=child))
        app.execute(cmd.AlignObjective(objective_id=child, parent_key_result_id=s.krs[0]))
        s.objectives += [parent, child]
    return s


operations = st.one_of(
    st.tuples(
        st.just("check_in"),
        st.integers(0, 3),
        st.floats(0, 600, allow_nan=False),
        st.none() | st.floats(0, 1, allow_nan=False),
    ),
    st.tuples(st.just("task"), st.integers(0, 3), st.sampled_from(["HIGH", "MEDIUM", "LOW"])),
    st.tuples(st.just("complete"), st.integers(0, 7)),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("reopen"), st.integers(0, 7)),
    st.tuples(st.just("retarget"), st.integers(0, 3), st.floats(601, 1000, allow_nan=False)),
    st.tuples(st.just("remove_kr"), st.integers(0, 3)),
    st.tuples(st.just("close"), st.integers(0, 1)),
    st.tuples(st.just("unalign")),
)


def _apply(app: OkrApplication, s: Scenario, op: tuple[Any, ...]) -> None:
    kind = op[0]
    try:
        with request_context(_ctx(s)):
            if kind == "check_in":
                kr = s.krs[op[1]]
                value = 1.0 if op[1] == 1 and op[2] > 300 else 0.0 if op[1] == 1 else op[2]
                app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=value, confidence=op[3]))
            elif kind == "task":
                s.tasks.append(
                    app.execute(cmd.CreateTask(title="t", key_result_id=s.krs[op[1]], impact=op[2])).id
                )
            elif kind in ("complete", "cancel", "reopen") and s.tasks:
                task = s.tasks[op[1] % len(s.tasks)]
                {
                    "complete": bound(app, cmd.CompleteTask),
                    "cancel": bound(app, cmd.CancelTask),
                    "reopen": bound(app, cmd.ReopenTask),
                }[kind](task)
            elif kind == "retarget":
                app.execute(cmd.ReviseKeyResult(key_result_id=s.krs[op[1]], target=op[2])) if op[
                    1
                ] != 1 else None
            elif kind == "remove_kr":
                app.execute(cmd.RemoveKeyResult(key_result_id=s.krs[op[1]]))
            elif kind == "close":
                app.execute(cmd.CloseObjective(objective_id=s.objectives[op[1]], learnings="done"))
            elif kind == "unalign":
                app.execute(cmd.AlignObjective(objective_id=s.objectives[1]))
    except DomainError:
        pass  # refused commands write nothing; the scenario goes on


def _live(rm: Any, s: Scenario, at: datetime) -> dict[str, Any]:
    with rm.db.read() as tx:
        q = Queries(tx, s.org, at)
        return {
            "objectives": [q.objective_view(str(o)) for o in s.objectives],
            "krs": [Queries(tx, s.org, at).key_result(k) for k in s.krs],
            "tree": q.tree(s.cycle),
            "dashboard": Queries(tx, s.org, at).dashboard(s.cycle, None),
        }


def _as_of(rm: Any, s: Scenario, at: datetime) -> dict[str, Any]:
    return {
        "objectives": [rm.objective(s.org, o, as_of=at) for o in s.objectives],
        "krs": [rm.key_result(s.org, k, as_of=at) for k in s.krs],
        "tree": rm.tree(s.org, s.cycle, as_of=at),
        "dashboard": rm.dashboard(s.org, s.cycle, as_of=at),
    }


@pytest.fixture(scope="module")
def tt_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OkrApplication, RunnerHandle]]:
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("timetravel"))
    app = build_application(settings_)
    handle = start_runners(settings_, app)
    yield app, handle
    handle.stop()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.tuples(operations, st.integers(1, 6 * 86400), st.booleans()), min_size=1, max_size=12))
def test_as_of_equals_the_live_views_recorded_at_that_moment(
    tt_runtime: tuple[OkrApplication, RunnerHandle], ops: list[tuple[tuple[Any, ...], int, bool]]
) -> None:
    """Random scenarios on a controlled clock: as-of objective, KR, tree and dashboard == live then."""
    app, handle = tt_runtime
    rm = handle.read_model
    s = _setup(app)
    recorded: list[tuple[datetime, dict[str, Any]]] = []
    rm.wait_for(app.max_position(), 10)
    recorded.append((s.clock.now, _live(rm, s, s.clock.now)))
    for op, advance, look in ops:
        s.clock.now += timedelta(seconds=advance)
        _apply(app, s, op)
        if look:
            rm.wait_for(app.max_position(), 10)
            recorded.append((s.clock.now, _live(rm, s, s.clock.now)))
    for at, live in recorded:
        assert _as_of(rm, s, at) == live, at
    before = _as_of(rm, s, START - timedelta(days=1))
    assert before["objectives"] == [None, None]
    assert before["tree"] == []


def test_as_of_answers_from_the_log_on_both_stores(store_settings: Settings) -> None:
    """An earlier instant shows the earlier value, although the tables hold the latest one."""
    app = build_application(store_settings)
    handle = start_runners(store_settings, app)
    try:
        s = _setup(app)
        s.clock.now += timedelta(days=1)
        with request_context(_ctx(s)):
            app.execute(cmd.CheckInKeyResult(key_result_id=s.krs[0], value=100))
        t1 = s.clock.now
        s.clock.now += timedelta(days=1)
        with request_context(_ctx(s)):
            pos = app.execute(cmd.CheckInKeyResult(key_result_id=s.krs[0], value=400)).position
        rm = handle.read_model
        rm.wait_for(pos, 10)
        then = rm.key_result(s.org, s.krs[0], as_of=t1)
        now = rm.key_result(s.org, s.krs[0])
        assert then is not None
        assert now is not None
        assert (then.current, then.progress, then.check_in_count) == (100, 0.2, 1)
        assert (now.current, now.check_in_count) == (400, 2)
        # the as-of answer ignores the live tables entirely: tampering with them changes nothing
        with rm.db.write() as tx:
            tx.execute("UPDATE proj_key_results SET current_value = -1")
        again = rm.key_result(s.org, s.krs[0], as_of=t1)
        assert again == then
        dash = rm.dashboard(s.org, s.cycle, as_of=t1)
        assert dash.at == t1
        assert dash.objectives_total == 2
    finally:
        handle.stop()
