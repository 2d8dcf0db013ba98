"""Every view on both stores (SQLite file and real PostgreSQL), through the runners."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from projections._db import Database
from projections.model import (
    AuditFilter,
    ConsistencyTimeoutError,
    InvalidCursorError,
    ObjectiveFilter,
    TaskFilter,
)
from projections.replay import digest, rebuild, verify
from projections.runner import Projector, ensure_schema, read_positions
from projections.runtime import RunnerHandle, SqlReadModel, start_runners
from projections.views import VIEW_NAMES, make_views

pytestmark = pytest.mark.integration

T0 = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)  # cycle 2026-01-01..2026-03-31: ~51% elapsed


@pytest.fixture
def app(store_settings: Settings) -> OkrApplication:
    return build_application(store_settings)


@pytest.fixture
def runners(store_settings: Settings, app: OkrApplication) -> Iterator[RunnerHandle]:
    handle = start_runners(store_settings, app)
    yield handle
    handle.stop()


@dataclass
class World:
    cycle: UUID
    team: UUID
    parent: UUID
    child: UUID
    mqls: UUID
    trial: UUID
    hours: UUID
    tasks_kr: UUID
    task_high: UUID
    task_low: UUID
    task_unaligned: UUID
    last: int


def build_world(app: OkrApplication, org: str) -> World:
    """The DESIGN.md worked example plus alignment and tasks, at a fixed clock."""
    with request_context(system_context(org, "alice")):
        c = app.execute(cmd.ScheduleCycle(name="2026-Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=c))
        team = app.execute(cmd.CreateTeam(name="Growth")).id
        app.execute(cmd.AddTeamMember(team_id=team, user_id="bob", role="LEAD"))
        parent = app.execute(cmd.DraftObjective(cycle_id=c, title="Grow revenue", team_id=team)).id
        mqls = app.execute(
            cmd.AddKeyResult(objective_id=parent, title="MQLs", kind="NUMERIC", start=0, target=400)
        ).id
        trial = app.execute(
            cmd.AddKeyResult(
                objective_id=parent, title="Trial to paid", kind="PERCENTAGE", start=0, target=22
            )
        ).id
        hours = app.execute(
            cmd.AddKeyResult(objective_id=parent, title="Reporting hours", kind="NUMERIC", start=9, target=1)
        ).id
        app.execute(cmd.ActivateObjective(objective_id=parent))
        app.execute(cmd.CheckInKeyResult(key_result_id=mqls, value=370, confidence=0.9, note="campaign"))
        app.execute(cmd.CheckInKeyResult(key_result_id=trial, value=19))
        app.execute(cmd.CheckInKeyResult(key_result_id=hours, value=3, confidence=0.3))
        child = app.execute(
            cmd.DraftObjective(cycle_id=c, title="Ship reports", team_id=team, driver="BOTH")
        ).id
        tasks_kr = app.execute(
            cmd.AddKeyResult(objective_id=child, title="Report tasks", kind="BOOLEAN", source="TASKS")
        ).id
        app.execute(cmd.ActivateObjective(objective_id=child))
        app.execute(cmd.AlignObjective(objective_id=child, parent_key_result_id=mqls))
        high = app.execute(cmd.CreateTask(title="Build exporter", key_result_id=tasks_kr, impact="HIGH")).id
        low = app.execute(
            cmd.CreateTask(title="Write docs", key_result_id=tasks_kr, impact="LOW", assignee="bob")
        ).id
        unaligned = app.execute(cmd.CreateTask(title="Tidy desk", cycle_id=c, team_id=team)).id
        app.execute(cmd.CompleteTask(task_id=high))
        last = app.execute(cmd.ReviseObjective(objective_id=parent, title="Grow revenue fast")).position
    return World(c, team, parent, child, mqls, trial, hours, tasks_kr, high, low, unaligned, last)


def test_progress_view_matches_the_worked_example(
    app: OkrApplication, runners: RunnerHandle, org: str
) -> None:
    """KR progress, objective roll-ups per driver, statuses at `at`, task tallies and warnings."""
    w = build_world(app, org)
    rm = runners.read_model
    rm.wait_for(w.last, 10)
    parent = rm.objective(org, w.parent, at=T0)
    assert parent is not None
    assert parent.title == "Grow revenue fast"
    krs = {kr.title: kr for kr in parent.key_results}
    assert krs["MQLs"].progress == pytest.approx(0.925)
    assert krs["Trial to paid"].progress == pytest.approx(19 / 22)
    assert krs["Reporting hours"].progress == pytest.approx(0.75)
    assert krs["Reporting hours"].direction == "DECREASE"
    assert krs["MQLs"].status == "ON_TRACK"
    assert krs["Reporting hours"].status == "ON_TRACK" or krs["Reporting hours"].confidence == 0.3
    assert krs["Reporting hours"].status == "NEEDS_ATTENTION"  # low confidence lowers ON_TRACK
    assert parent.status == "NEEDS_ATTENTION"
    assert parent.confidence == pytest.approx(0.3)
    assert parent.progress == pytest.approx((0.925 + 19 / 22 + 0.75) / 3)
    assert parent.expected_progress == pytest.approx(krs["MQLs"].expected_progress)
    assert 0.5 < parent.expected_progress < 0.55
    assert any(wn.startswith("OBJECTIVE_COUNT") for wn in parent.warnings)
    child = rm.objective(org, w.child, at=T0)
    assert child is not None
    tasks_kr = child.key_results[0]
    assert (tasks_kr.tasks_total, tasks_kr.tasks_done) == (2, 1)
    assert tasks_kr.progress == pytest.approx(3 / 4)  # HIGH done (3) / HIGH + LOW (3 + 1)
    assert child.parent_key_result_id == w.mqls
    assert child.progress == pytest.approx(0.75)  # BOTH, no counted children yet
    # the parent is KEY_RESULTS-driven: its child does not move it; switch to BOTH and it does
    with request_context(system_context(org, "alice")):
        pos = app.execute(cmd.ReviseObjective(objective_id=w.parent, driver="BOTH")).position
    rm.wait_for(pos, 10)
    both = rm.objective(org, w.parent, at=T0)
    assert both is not None
    assert both.progress == pytest.approx((0.925 + 19 / 22 + 0.75 + 0.75) / 4)
    # outdated after the cadence; not before
    later = rm.key_result(org, w.mqls, at=datetime.now(UTC) + timedelta(days=8))
    assert later is not None
    assert later.outdated
    now_kr = rm.key_result(org, w.mqls)
    assert now_kr is not None
    assert not now_kr.outdated
    assert rm.objectives_by_ids(org, [w.child, uuid4(), w.parent])[1] is None


def test_tree_dashboard_and_priorities(app: OkrApplication, runners: RunnerHandle, org: str) -> None:
    """The alignment tree, dashboard figures and prioritised tasks."""
    w = build_world(app, org)
    rm = runners.read_model
    rm.wait_for(w.last, 10)
    roots = rm.tree(org, w.cycle)
    assert [r.objective.id for r in roots] == [w.parent]
    assert [c.objective.id for c in roots[0].children] == [w.child]
    dash = rm.dashboard(org, w.cycle)
    assert dash.objectives_total == 2
    assert dash.counts_by_state == {"ACTIVE": 2}
    assert sum(dash.counts_by_status.values()) == 2
    assert dash.alignment_ratio == pytest.approx(2 / 3)
    assert dash.objectives_aligned_ratio == pytest.approx(1 / 2)
    assert any("OBJECTIVE_COUNT" in x for x in dash.policy_warnings)
    prio = rm.prioritized_tasks(org, w.cycle, None)
    assert [p.task.id for p in prio] == [w.task_low, w.task_unaligned]  # HIGH is done
    assert prio[0].aligned
    assert prio[0].priority == pytest.approx(1 * 1.0 * (1 - 0.75))
    assert not prio[1].aligned
    assert prio[1].priority == 0.0
    assert rm.cycles(org)[0].state == "ACTIVE"
    assert rm.teams(org)[0].members == {"bob": "LEAD"}
    assert rm.teams_by_ids(org, [uuid4(), w.team])[1] is not None


def test_tasks_and_check_ins_pages(app: OkrApplication, runners: RunnerHandle, org: str) -> None:
    """Alignment (tasks) filters; check-ins newest first with keyset cursors stable under inserts."""
    w = build_world(app, org)
    rm = runners.read_model
    rm.wait_for(w.last, 10)
    assert [t.id for t in rm.tasks(org, TaskFilter(unaligned_only=True)).items] == [w.task_unaligned]
    assert [t.id for t in rm.tasks(org, TaskFilter(assignee="bob")).items] == [w.task_low]
    done = rm.tasks(org, TaskFilter(key_result_id=w.tasks_kr, states=("DONE",)))
    assert [t.id for t in done.items] == [w.task_high]
    first = rm.tasks(org, TaskFilter(cycle_id=w.cycle), first=2)
    assert first.total_count == 3
    assert first.has_next_page
    rest = rm.tasks(org, TaskFilter(cycle_id=w.cycle), first=2, after=first.end_cursor)
    assert [t.id for t in rest.items] == [w.task_unaligned]
    assert not rest.has_next_page
    with request_context(system_context(org, "carol")):
        for v in (371, 372, 373):
            pos = app.execute(cmd.CheckInKeyResult(key_result_id=w.mqls, value=v)).position
    rm.wait_for(pos, 10)
    page1 = rm.check_ins(org, w.mqls, first=2)
    assert [c.value for c in page1.items] == [373, 372]
    assert page1.items[0].value_before == 372
    assert page1.items[0].author == "carol"
    with request_context(system_context(org, "carol")):
        pos = app.execute(cmd.CheckInKeyResult(key_result_id=w.mqls, value=374)).position
    rm.wait_for(pos, 10)
    page2 = rm.check_ins(org, w.mqls, first=2, after=page1.end_cursor)
    assert [c.value for c in page2.items] == [371, 370]
    assert page2.total_count == 5
    with pytest.raises(InvalidCursorError):
        rm.check_ins(org, w.mqls, after="not-a-cursor")
    with pytest.raises(InvalidCursorError):
        rm.tasks(org, TaskFilter(), after=page1.end_cursor)  # a check-in cursor is no task cursor
    objectives = rm.objectives(org, ObjectiveFilter(cycle_id=w.cycle), first=1)
    assert objectives.total_count == 2
    more = rm.objectives(org, ObjectiveFilter(cycle_id=w.cycle), first=1, after=objectives.end_cursor)
    assert [o.id for o in more.items] == [w.child]
    assert [o.id for o in rm.objectives(org, ObjectiveFilter(unaligned_only=True)).items] == [w.parent]


def test_audit_filters_pages_and_history(app: OkrApplication, runners: RunnerHandle, org: str) -> None:
    """Audit by aggregate, actor, event type and time; keyset pages; history with before/after."""
    w = build_world(app, org)
    rm = runners.read_model
    with request_context(system_context(org, "bob")):
        pos = app.execute(cmd.ReviseKeyResult(key_result_id=w.mqls, target=500)).position
    rm.wait_for(pos, 10)
    everything = rm.audit_log(org, AuditFilter(), first=100)
    assert everything.total_count == len(everything.items)
    assert [e.position for e in everything.items] == sorted(e.position for e in everything.items)
    assert all(not e.event_type.startswith(("KeyResultIndex", "IdempotencyRecord")) for e in everything.items)
    by_bob = rm.audit_log(org, AuditFilter(actor="bob"))
    assert [(e.aggregate_type, e.event_type) for e in by_bob.items] == [("Objective", "KeyResultRevised")]
    check_ins = rm.audit_log(org, AuditFilter(event_types=("KeyResultCheckedIn",)))
    assert check_ins.total_count == 3
    full_name = rm.audit_log(org, AuditFilter(event_types=("Objective.KeyResultCheckedIn",)))
    assert full_name.total_count == 3
    tasks = rm.audit_log(org, AuditFilter(aggregate_types=("Task",)))
    assert {e.aggregate_type for e in tasks.items} == {"Task"}
    one = rm.audit_log(org, AuditFilter(aggregate_id=w.task_high))
    assert [e.event_type for e in one.items] == ["Created", "Completed"]
    future = rm.audit_log(org, AuditFilter(since=datetime.now(UTC) + timedelta(hours=1)))
    assert future.total_count == 0
    past = rm.audit_log(org, AuditFilter(until=datetime.now(UTC) + timedelta(hours=1)))
    assert past.total_count == everything.total_count
    # keyset pages: an insert between pages neither repeats nor skips
    page = rm.audit_log(org, AuditFilter(), first=5)
    seen = [e.position for e in page.items]
    with request_context(system_context(org, "alice")):
        pos = app.execute(cmd.CheckInKeyResult(key_result_id=w.trial, value=20)).position
    rm.wait_for(pos, 10)
    while page.has_next_page:
        page = rm.audit_log(org, AuditFilter(), first=5, after=page.end_cursor)
        seen += [e.position for e in page.items]
    assert seen == sorted(set(seen))
    assert len(seen) == everything.total_count + 1
    history = rm.history(org, w.parent)
    checked = [e for e in history if e.event_type == "KeyResultCheckedIn"]
    assert (checked[0].payload["value_before"], checked[0].payload["value"]) == (0.0, 370.0)
    revised_kr = next(e for e in history if e.event_type == "KeyResultRevised")
    assert revised_kr.payload["changes"] == {"target": 500.0}
    assert revised_kr.payload["before"] == {"target": 400.0}
    revised = next(e for e in history if e.event_type == "Revised")
    assert revised.payload["before"] == {"title": "Grow revenue"}
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    with request_context(system_context(org, "alice")):
        pos = app.execute(cmd.AssignTask(task_id=w.task_low, assignee="carol")).position
        app.execute(cmd.AddTeamMember(team_id=w.team, user_id="dave", role="MEMBER"))
        pos = app.execute(cmd.AddTeamMember(team_id=w.team, user_id="erin", role="MEMBER")).position
    rm.wait_for(pos, 10)
    assigned = rm.history(org, w.task_low)[-1]
    assert assigned.payload == {"assignee": "carol", "before": {"assignee": "bob"}}
    assert all("before" not in e.payload for e in rm.history(org, w.team))  # additions replace nothing


def test_other_orgs_see_nothing(app: OkrApplication, runners: RunnerHandle, org: str) -> None:
    """Every query is scoped to the org: another org's ids answer None or empty."""
    w = build_world(app, org)
    rm = runners.read_model
    rm.wait_for(w.last, 10)
    other = f"{org}-other"
    assert rm.objective(other, w.parent) is None
    assert rm.key_result(other, w.mqls) is None
    assert rm.tree(other, w.cycle) == []
    assert rm.dashboard(other, w.cycle).objectives_total == 0
    assert rm.tasks(other, TaskFilter()).total_count == 0
    assert rm.prioritized_tasks(other, None, None) == []
    assert rm.check_ins(other, w.mqls).total_count == 0
    assert rm.audit_log(other, AuditFilter()).total_count == 0
    assert rm.history(other, w.parent) == []
    assert rm.cycles(other) == []
    assert rm.cycle(other, w.cycle) is None
    assert rm.teams(other) == []
    assert rm.objective(other, w.parent, as_of=datetime.now(UTC)) is None


def test_wait_for_is_woken_by_the_runner_and_times_out(
    app: OkrApplication, runners: RunnerHandle, org: str
) -> None:
    """wait_for returns right after the runner commits (no 100 ms polling) and raises on expiry."""
    rm = runners.read_model
    with request_context(system_context(org, "alice")):
        c = app.execute(cmd.ScheduleCycle(name="Q", start=date(2026, 1, 1), end=date(2026, 3, 31)))
    rm.wait_for(c.position, 10)
    target = c.position + 1
    done = threading.Event()
    waited: list[float] = []

    def waiter() -> None:
        t0 = time.perf_counter()
        rm.wait_for(target, 10)
        waited.append(time.perf_counter() - t0)
        done.set()

    polls = 0
    db_position = rm.position

    def counting_position() -> int:
        nonlocal polls
        polls += 1
        return db_position()

    rm.position = counting_position  # type: ignore[method-assign]
    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    assert not done.is_set()
    t_commit = time.perf_counter()
    with request_context(system_context(org, "alice")):
        app.execute(cmd.StartCycle(cycle_id=c.id))
    assert done.wait(5)
    woke_after = time.perf_counter() - t_commit
    thread.join()
    rm.position = db_position  # type: ignore[method-assign]
    assert waited[0] >= 0.3
    assert woke_after < 0.25, woke_after  # typically ~1 ms; loose for a loaded machine
    assert polls <= 2, polls  # slept on the runner's signal, not a polling loop (0.3 s / 100 ms = 3+)
    t0 = time.perf_counter()
    with pytest.raises(ConsistencyTimeoutError):
        rm.wait_for(app.max_position() + 1000, timeout=0.2)
    assert 0.2 <= time.perf_counter() - t0 < 1.5


def test_two_projectors_of_the_same_views_do_not_double_apply(store_settings: Settings, org: str) -> None:
    """Two concurrent workers (own connections) over the same views: each event applied once."""
    app = build_application(store_settings)
    w = build_world(app, org)
    with request_context(system_context(org, "alice")):
        objective = app.get_objective(w.parent)
        for i in range(600):
            objective.check_in(w.mqls, float(i))
        app.save(objective)
    views = make_views()
    dbs = [Database(store_settings) for _ in range(2)]
    ensure_schema(dbs[0], views)
    errors: list[BaseException] = []

    def work(db: Database) -> None:
        try:
            projector = Projector(db, app, views)
            while projector.process(50):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with dbs[0].read() as tx:
        positions = read_positions(tx, list(VIEW_NAMES))
        check_ins = tx.fetchone("SELECT COUNT(*) FROM proj_check_ins")
    top = app.max_position()
    assert positions == dict.fromkeys(VIEW_NAMES, (top, top))
    assert check_ins == (603,)
    live = digest(dbs[0], views)
    rebuild(dbs[0], app, views)
    assert digest(dbs[0], views) == live
    for db in dbs:
        db.close()


def test_replay_is_deterministic_and_verify_finds_tampering(store_settings: Settings, org: str) -> None:
    """Rebuilding twice gives the same digest; --verify reports a changed row; queries survive swaps;
    the rebuilt tables carry exactly the live index names."""
    app = build_application(store_settings)
    build_world(app, org)
    views = make_views()
    db = Database(store_settings)
    rm = SqlReadModel(store_settings, app)
    rebuild(db, app, views)
    first = digest(db, views)
    before = rm.dashboard(org, rm.cycles(org)[0].id)
    rebuild(db, app, views)
    assert digest(db, views) == first
    assert rm.dashboard(org, before.cycle_id).objectives_total == before.objectives_total
    assert verify(db, app, views) == []
    with db.write() as tx:
        tx.execute("UPDATE proj_key_results SET current_value = current_value + 1 WHERE title = 'MQLs'")
        tx.execute("DELETE FROM proj_audit WHERE position = 1")
    diffs = verify(db, app, views)
    assert any("key_results" in d and "current_value" in d for d in diffs)
    assert any("audit" in d and "missing from the live table" in d for d in diffs)
    rebuild(db, app, make_views(["progress", "audit"]))
    assert verify(db, app, views) == []
    assert digest(db, views) == first
    assert _index_names(db) == {t.index_name(cols) for v in views for t in v.tables for cols in t.indexes}
    rm.close()
    db.close()


def _index_names(db: Database) -> set[str]:
    with db.read() as tx:
        if tx.dialect == "sqlite":
            rows = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'")
        else:
            rows = tx.fetchall(
                "SELECT indexname FROM pg_indexes "
                "WHERE schemaname = current_schema() AND left(indexname, 3) = 'ix_'"
            )
    return {str(r[0]) for r in rows}


def test_views_keep_up_while_replay_swaps(store_settings: Settings, org: str) -> None:
    """A rebuild swapping tables under running runners loses and doubles nothing."""
    app = build_application(store_settings)
    handle = start_runners(store_settings, app)
    try:
        w = build_world(app, org)
        db = Database(store_settings)
        stop = threading.Event()

        def write() -> None:
            with request_context(system_context(org, "alice")):
                i = 0
                while not stop.is_set():
                    app.execute(cmd.CheckInKeyResult(key_result_id=w.trial, value=float(i)))
                    i += 1

        writer = threading.Thread(target=write)
        writer.start()
        try:
            for _ in range(2):
                rebuild(db, app, make_views())
        finally:
            stop.set()
            writer.join()
        handle.read_model.wait_for(app.max_position(), 10)
        with db.read() as tx:
            positions = read_positions(tx, list(VIEW_NAMES))
        assert set(positions.values()) == {(app.max_position(), app.max_position())}
        assert verify(db, app, make_views()) == []
        db.close()
    finally:
        handle.stop()


def test_tables_of_an_older_release_gain_new_columns(store_settings: Settings) -> None:
    """On both stores ensure_schema adds the columns an older release's table lacks (idempotently)."""
    from projections.views import OBJECTIVES

    db = Database(store_settings)
    try:
        old = tuple(c for c in OBJECTIVES.columns if c[0] not in ("score", "score_reason"))
        with db.write() as tx:
            tx.execute("DROP TABLE IF EXISTS proj_objectives")
            tx.execute(
                f"CREATE TABLE proj_objectives ({', '.join(f'{c} {t}' for c, t in old)}, PRIMARY KEY (id))"
            )
        ensure_schema(db, make_views())
        ensure_schema(db, make_views())
        with db.read() as tx:
            assert tx.fetchall("SELECT score, score_reason FROM proj_objectives") == []
    finally:
        db.close()
