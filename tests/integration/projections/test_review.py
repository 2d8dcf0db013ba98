"""The end-of-cycle review is read as of the cycle's close: later events leave it as it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from okr import commands as cmd
from okr.application import OkrApplication
from okr.domain import Objective, RequestContext, request_context
from okr.domain.errors import DomainError
from okr.settings import Settings
from okr.wiring import build_application
from projections.runtime import SqlReadModel, start_runners

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


def _run(app: OkrApplication, org: str, clock: Clock, command: cmd.Command) -> UUID:
    ctx = RequestContext(org_id=org, actor="admin", roles=frozenset({"admin"}), clock=clock)
    with request_context(ctx):
        return app.execute(command).id


@dataclass
class Closed:
    org: str
    cycle: UUID
    growth: UUID
    support: UUID
    mqls: UUID
    open_task: UUID
    engine: UUID


def _closed_cycle(app: OkrApplication, clock: Clock) -> Closed:
    """Q1 2026: Growth (two key results, weekly-ish check-ins, tasks) and Support (one key result,
    one check-in); an abandoned objective; closed on 2026-03-31 with its objectives."""
    org = f"rv-{uuid4().hex[:8]}"

    def do(command: cmd.Command) -> UUID:
        return _run(app, org, clock, command)

    cycle = do(cmd.ScheduleCycle(name="2026-Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)))
    do(cmd.ScheduleCycle(name="2026-Q2", start=date(2026, 4, 1), end=date(2026, 6, 30)))
    do(cmd.StartCycle(cycle_id=cycle))
    growth = do(cmd.CreateTeam(name="Growth"))
    support = do(cmd.CreateTeam(name="Support"))
    engine = do(cmd.DraftObjective(cycle_id=cycle, team_id=growth, title="Growth engine"))
    mqls = do(cmd.AddKeyResult(objective_id=engine, title="MQLs", kind="NUMERIC", start=0, target=400))
    trial = do(cmd.AddKeyResult(objective_id=engine, title="Trials", kind="PERCENTAGE", start=0, target=20))
    do(cmd.ActivateObjective(objective_id=engine))
    csat = do(cmd.DraftObjective(cycle_id=cycle, team_id=support, title="Happy customers"))
    score = do(cmd.AddKeyResult(objective_id=csat, title="CSAT", kind="PERCENTAGE", start=70, target=90))
    do(cmd.ActivateObjective(objective_id=csat))
    dropped = do(cmd.DraftObjective(cycle_id=cycle, team_id=growth, title="Dropped idea"))
    do(cmd.AddKeyResult(objective_id=dropped, title="Anything", kind="BOOLEAN"))
    do(cmd.ActivateObjective(objective_id=dropped))
    done_aligned = do(cmd.CreateTask(title="Webinar", key_result_id=mqls, team_id=growth))
    done_unaligned = do(cmd.CreateTask(title="Offsite", team_id=growth, cycle_id=cycle))
    open_task = do(cmd.CreateTask(title="Blog", key_result_id=mqls, team_id=growth))
    for week, value in ((1, 100.0), (2, 150.0), (4, 300.0)):  # weeks 1, 2, 4 of 13 (+ a double)
        clock.now = START + week * WEEK
        do(cmd.CheckInKeyResult(key_result_id=mqls, value=value, confidence=0.7))
    do(cmd.CheckInKeyResult(key_result_id=mqls, value=320.0))  # same week: the period counts once
    do(cmd.CheckInKeyResult(key_result_id=trial, value=5.0))
    do(cmd.CompleteTask(task_id=done_aligned))
    do(cmd.CompleteTask(task_id=done_unaligned))
    clock.now = START + 6 * WEEK
    do(cmd.CheckInKeyResult(key_result_id=score, value=88.0))
    do(cmd.AbandonObjective(objective_id=dropped, reason="no longer needed"))
    clock.now = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
    do(cmd.CloseObjective(objective_id=engine, learnings="Webinars | blogs, in that order"))
    do(cmd.CloseCycle(cycle_id=cycle, close_active_objectives=True))
    return Closed(org, cycle, growth, support, mqls, open_task, engine)


@pytest.fixture
def runtime(store_settings: Settings):  # type: ignore[no-untyped-def]
    app = build_application(store_settings)
    handle = start_runners(store_settings, app)
    yield app, handle.read_model
    handle.stop()
    app.close()


def test_review_figures_are_those_of_the_close(runtime: tuple[OkrApplication, SqlReadModel]) -> None:
    """Scores, grades, discipline (periods of the cycle's days up to the close), aligned share and
    movers of the scenario, on both stores."""
    app, rm = runtime
    s = _closed_cycle(app, Clock())
    rm.wait_for(app.max_position(), 10)
    review = rm.cycle_review(s.org, s.cycle)
    assert review.closed_at == datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
    assert [t.team_name for t in review.teams] == ["Growth", "Support"]
    growth, support = review.teams
    engine = next(o for o in growth.objectives if o.title == "Growth engine")
    assert [o.state for o in growth.objectives] == ["CLOSED", "ABANDONED"]
    mqls = next(k for k in engine.key_results if k.title == "MQLs")
    # 2026-01-01 00:00 to 2026-03-31 18:00 is 89.75 days: 13 weekly periods; check-ins in 3 of them
    assert (mqls.periods, mqls.periods_with_check_in, mqls.check_ins) == (13, 3, 4)
    assert mqls.progress_change == pytest.approx(0.8)  # 0 -> 320/400
    assert [k.title for k in engine.carried_over] == ["MQLs", "Trials"]
    assert engine.learnings == "Webinars | blogs, in that order"
    assert growth.summary.grade_distribution == {"GREEN": 0, "YELLOW": 1, "RED": 0}  # (0.8 + 0.3) / 2
    assert engine.score == pytest.approx(0.55)
    assert (growth.summary.done_tasks, growth.summary.aligned_done_tasks) == (2, 1)
    assert growth.summary.aligned_done_share == 0.5
    assert (growth.summary.periods, growth.summary.periods_with_check_in) == (26, 4)
    assert support.summary.mean_score == pytest.approx(0.9)
    assert review.summary.objectives == 2 and review.summary.abandoned == 1
    assert [k.title for k in review.summary.biggest_movers] == ["CSAT", "MQLs", "Trials"]
    only = rm.cycle_review(s.org, s.cycle, s.support)
    assert [t.team_name for t in only.teams] == ["Support"]
    assert only.summary == support.summary


def test_events_after_the_close_leave_the_review_unchanged(
    runtime: tuple[OkrApplication, SqlReadModel],
) -> None:
    """A team renamed, a task completed and a key-result score written after the close (straight on
    the aggregate, as an older release let through) change the live views, not the review."""
    app, rm = runtime
    clock = Clock()
    s = _closed_cycle(app, clock)
    rm.wait_for(app.max_position(), 10)
    before = rm.cycle_review(s.org, s.cycle)
    clock.now = datetime(2026, 5, 2, tzinfo=UTC)
    _run(app, s.org, clock, cmd.ReviseTeam(team_id=s.growth, name="Growth & Marketing"))
    _run(app, s.org, clock, cmd.CompleteTask(task_id=s.open_task))
    ctx = RequestContext(org_id=s.org, actor="admin", roles=frozenset({"admin"}), clock=clock)
    with request_context(ctx):
        with pytest.raises(DomainError):  # the command refuses a frozen cycle's scores ...
            app.execute(cmd.ScoreKeyResult(key_result_id=s.mqls, score=0.1, reason="late"))
        objective = app.repository.get(s.engine)  # ... the aggregate itself does not
        assert isinstance(objective, Objective)
        objective.score_key_result(s.mqls, 0.1, "late")
        app.save(objective)
    rm.wait_for(app.max_position(), 10)
    live_kr = rm.key_result(s.org, s.mqls)
    assert live_kr is not None and live_kr.score == 0.1
    assert any(t.name == "Growth & Marketing" for t in rm.teams(s.org))
    after = rm.cycle_review(s.org, s.cycle)
    assert after == before
    assert after.teams[0].team_name == "Growth"


def test_an_open_cycle_or_a_team_unknown_at_the_close_is_refused(
    runtime: tuple[OkrApplication, SqlReadModel],
) -> None:
    """CYCLE_NOT_CLOSED for an open cycle, TEAM_NOT_FOUND for a team created after the close,
    CYCLE_NOT_FOUND for an unknown id."""
    app, rm = runtime
    clock = Clock()
    s = _closed_cycle(app, clock)
    clock.now = datetime(2026, 4, 2, tzinfo=UTC)
    late = _run(app, s.org, clock, cmd.CreateTeam(name="Late"))
    q2 = next(c for c in (rm.wait_for(app.max_position(), 10), rm.cycles(s.org))[1] if c.name == "2026-Q2")
    with pytest.raises(DomainError) as refused:
        rm.cycle_review(s.org, q2.id)
    assert refused.value.code == "CYCLE_NOT_CLOSED"
    with pytest.raises(DomainError) as unknown_team:
        rm.cycle_review(s.org, s.cycle, late)
    assert unknown_team.value.code == "TEAM_NOT_FOUND"
    with pytest.raises(DomainError) as unknown_cycle:
        rm.cycle_review(s.org, uuid4())
    assert unknown_cycle.value.code == "CYCLE_NOT_FOUND"
