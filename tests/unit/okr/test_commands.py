"""Every command of the application and every rule with its error code (in-memory store)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from harness.calls import bound
from okr import commands as cmd
from okr.application import CommandResult, OkrApplication, system_context
from okr.domain import RequestContext, request_context
from okr.domain.errors import DomainError
from okr.domain.objective import Objective

Q1 = (date(2026, 1, 1), date(2026, 3, 31))


@dataclass
class World:
    app: OkrApplication
    cycle: uuid.UUID
    objective: uuid.UUID
    krs: list[uuid.UUID]


def code_of(call: object, *args: object, **kwargs: object) -> str:
    """Runs a command that must fail and returns its error code."""
    assert callable(call)
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    return info.value.code


def count(app: OkrApplication) -> int:
    return app.max_position()


@pytest.fixture
def world(memory_app: OkrApplication, ctx: RequestContext) -> World:
    app = memory_app
    cycle = app.execute(cmd.ScheduleCycle(name="2026-Q1", start=Q1[0], end=Q1[1])).id
    app.execute(cmd.StartCycle(cycle_id=cycle))
    objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow the pipeline")).id
    krs = [
        app.execute(
            cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", start=0, target=400)
        ).id,
        app.execute(
            cmd.AddKeyResult(
                objective_id=objective, title="Trial-to-paid", kind="PERCENTAGE", start=0, target=22
            )
        ).id,
        app.execute(
            cmd.AddKeyResult(
                objective_id=objective, title="Reporting hours", kind="NUMERIC", start=9, target=1
            )
        ).id,
    ]
    return World(app, cycle, objective, krs)


def active(world: World) -> World:
    world.app.execute(cmd.ActivateObjective(objective_id=world.objective))
    return world


# ---------------------------------------------------------------- cycles and teams


def test_cycle_must_start_before_end(memory_app: OkrApplication, ctx: RequestContext) -> None:
    """A cycle whose end is not after its start is refused with INVALID_CYCLE_DATES."""
    assert (
        code_of(bound(memory_app, cmd.ScheduleCycle), name="x", start=Q1[1], end=Q1[0])
        == "INVALID_CYCLE_DATES"
    )
    assert (
        code_of(bound(memory_app, cmd.ScheduleCycle), name="x", start=Q1[0], end=Q1[0])
        == "INVALID_CYCLE_DATES"
    )
    assert count(memory_app) == 0


def test_cycle_lifecycle_and_closed_cycle_refuses_drafts(world: World) -> None:
    """PLANNED -> ACTIVE -> CLOSED; no objective is drafted into a closed cycle."""
    app = world.app
    assert code_of(bound(app, cmd.StartCycle), world.cycle) == "INVALID_TRANSITION"
    app.execute(cmd.CloseCycle(cycle_id=world.cycle))
    assert app.get_cycle(world.cycle).state == "CLOSED"
    before = count(app)
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="Late") == "CYCLE_CLOSED"
    assert code_of(bound(app, cmd.CloseCycle), world.cycle) == "CYCLE_CLOSED"
    assert count(app) == before


def test_teams_and_members(memory_app: OkrApplication, ctx: RequestContext) -> None:
    """Teams nest under parents; members have roles; duplicates and unknowns are refused."""
    app = memory_app
    parent = app.execute(cmd.CreateTeam(name="Company")).id
    team = app.execute(cmd.CreateTeam(name="Growth", parent_team_id=parent)).id
    assert app.get_team(team).parent_team_id == parent
    app.execute(cmd.AddTeamMember(team_id=team, user_id="bob", role="LEAD"))
    assert code_of(bound(app, cmd.AddTeamMember), team, user_id="bob", role="LEAD") == "ALREADY_EXISTS"
    assert code_of(bound(app, cmd.AddTeamMember), team, user_id="eve", role="OWNER") == "INVALID_INPUT"
    app.execute(cmd.RemoveTeamMember(team_id=team, user_id="bob"))
    assert code_of(bound(app, cmd.RemoveTeamMember), team, user_id="bob") == "NOT_FOUND"
    assert code_of(bound(app, cmd.CreateTeam), name="x", parent_team_id=uuid.uuid4()) == "TEAM_NOT_FOUND"
    assert code_of(bound(app, cmd.CreateTeam), name="") == "INVALID_INPUT"


# ---------------------------------------------------------------- objectives


def test_draft_validates_input(world: World) -> None:
    """Titles are 1-200 characters, weights > 0, drivers known; unknown cycles are not found."""
    app = world.app
    before = count(app)
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="") == "INVALID_INPUT"
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="x" * 201) == "INVALID_INPUT"
    assert (
        code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="ok", weight=0) == "INVALID_VALUE"
    )
    assert (
        code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="ok", driver="VIBES")
        == "INVALID_INPUT"
    )
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=uuid.uuid4(), title="ok") == "CYCLE_NOT_FOUND"
    assert code_of(bound(app, cmd.DraftObjective), cycle_id="not-a-uuid", title="ok") == "CYCLE_NOT_FOUND"
    assert count(app) == before


def test_revise_objective(world: World) -> None:
    """Revisions change only what differs; an empty revision is refused."""
    app = world.app
    app.execute(
        cmd.ReviseObjective(objective_id=world.objective, title="Grow the pipeline faster", description="why")
    )
    obj = app.get_objective(world.objective)
    assert (obj.title, obj.description) == ("Grow the pipeline faster", "why")
    assert (
        code_of(bound(app, cmd.ReviseObjective), world.objective, title="Grow the pipeline faster")
        == "INVALID_INPUT"
    )


def test_activation_policy_warns_by_default_and_fails_when_strict(
    memory_app: OkrApplication, ctx: RequestContext
) -> None:
    """2-4 key results at activation: a warning by default, POLICY_VIOLATION when the org opts in."""
    app = memory_app
    cycle = app.execute(cmd.ScheduleCycle(name="Q", start=Q1[0], end=Q1[1])).id
    one = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Only one KR")).id
    app.execute(cmd.AddKeyResult(objective_id=one, title="KR", kind="BOOLEAN"))
    result = app.execute(cmd.ActivateObjective(objective_id=one))
    assert result.warnings and "KEY_RESULT_COUNT" in result.warnings[0]
    app.execute(cmd.ConfigureOrg(strict_policies=True))
    other = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Also one")).id
    app.execute(cmd.AddKeyResult(objective_id=other, title="KR", kind="BOOLEAN"))
    before = count(app)
    assert code_of(bound(app, cmd.ActivateObjective), other) == "POLICY_VIOLATION"
    assert count(app) == before
    empty = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Empty")).id
    app.execute(cmd.ConfigureOrg(strict_policies=False))
    assert code_of(bound(app, cmd.ActivateObjective), empty) == "RULE_VIOLATION"


def test_activate_only_drafts(world: World) -> None:
    """Only a DRAFT objective activates."""
    active(world)
    assert code_of(bound(world.app, cmd.ActivateObjective), world.objective) == "OBJECTIVE_NOT_DRAFT"


def test_key_result_rules(world: World) -> None:
    """Numeric KRs need start != target; numbers finite within 1e15; weights > 0; titles 1-200."""
    app, obj = world.app, world.objective
    before = count(app)
    bad = [
        {"title": "x", "kind": "NUMERIC", "start": 5, "target": 5},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": math.nan},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": math.inf},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": -math.inf},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": 1e16},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": 10, "weight": 0},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": 10, "weight": -1},
        {"title": "", "kind": "NUMERIC", "start": 0, "target": 10},
        {"title": "x" * 201, "kind": "NUMERIC", "start": 0, "target": 10},
        {"title": "x", "kind": "SPEED", "start": 0, "target": 10},
        {"title": "x", "kind": "NUMERIC", "start": 0, "target": 10, "direction": "DECREASE"},
        {"title": "x", "kind": "THRESHOLD", "target": 10, "direction": "INCREASE"},
        {"title": "x", "kind": "NUMERIC", "start": "0", "target": 10},
        {"title": "x", "kind": "NUMERIC", "start": True, "target": 10},
    ]
    codes = [code_of(bound(app, cmd.AddKeyResult), obj, **kwargs) for kwargs in bad]  # type: ignore[arg-type]
    assert set(codes) <= {"INVALID_VALUE", "INVALID_INPUT"}
    assert count(app) == before


def test_key_result_addressed_by_its_own_id(world: World) -> None:
    """A KR is found by its id alone (via the index saved with the objective)."""
    app = world.app
    assert app.objective_of_key_result(world.krs[0]).id == world.objective
    assert code_of(app.objective_of_key_result, uuid.uuid4()) == "KEY_RESULT_NOT_FOUND"
    assert code_of(app.objective_of_key_result, "garbage") == "KEY_RESULT_NOT_FOUND"


def test_revise_and_remove_key_result(world: World) -> None:
    """Revising keeps rules (start != target); a removed KR is no longer found."""
    app = world.app
    app.execute(cmd.ReviseKeyResult(key_result_id=world.krs[0], target=500, title="MQLs (stretch)"))
    kr = app.get_objective(world.objective).key_results[str(world.krs[0])]
    assert (kr.target, kr.title) == (500.0, "MQLs (stretch)")
    assert code_of(bound(app, cmd.ReviseKeyResult), world.krs[0], start=500) == "INVALID_VALUE"
    assert code_of(bound(app, cmd.ReviseKeyResult), world.krs[0], target=500) == "INVALID_INPUT"  # no change
    app.execute(cmd.RemoveKeyResult(key_result_id=world.krs[2]))
    assert code_of(bound(app, cmd.CheckInKeyResult), world.krs[2], value=1) == "KEY_RESULT_NOT_FOUND"
    assert code_of(bound(app, cmd.RemoveKeyResult), world.krs[2]) == "KEY_RESULT_NOT_FOUND"


def test_check_in_rules_and_before_after(world: World) -> None:
    """Check-ins need an ACTIVE objective, a finite value and confidence 0-1; events keep before/after."""
    app = world.app
    assert code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=10) == "OBJECTIVE_NOT_ACTIVE"
    active(world)
    before = count(app)
    for bad in (math.nan, math.inf, -math.inf, 1e400, 1e16, "12"):
        assert code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=bad) == "INVALID_VALUE"
    assert code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=1, confidence=1.5) == "INVALID_VALUE"
    assert (
        code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=1, confidence=-0.1) == "INVALID_VALUE"
    )
    assert (
        code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=1, note="x" * 5001) == "INVALID_INPUT"
    )
    assert count(app) == before
    app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[0], value=100, confidence=0.7))
    app.execute(
        cmd.CheckInKeyResult(key_result_id=world.krs[0], value=370, confidence=0.8, note="campaign landed")
    )
    events = list(app.events.get(world.objective))
    last = events[-1]
    assert isinstance(last, Objective.KeyResultCheckedIn)
    assert (last.value_before, last.value, last.confidence) == (100.0, 370.0, 0.8)
    kr = app.get_objective(world.objective).key_results[str(world.krs[0])]
    assert kr.check_in_count == 2
    assert kr.progress == pytest.approx(0.925)


def test_milestone_checks_in_zero_or_one(world: World) -> None:
    """A BOOLEAN key result accepts only 0 or 1."""
    app = world.app
    kr = app.execute(cmd.AddKeyResult(objective_id=world.objective, title="Launch", kind="BOOLEAN")).id
    active(world)
    assert code_of(bound(app, cmd.CheckInKeyResult), kr, value=0.5) == "INVALID_VALUE"
    app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=1))
    assert app.get_objective(world.objective).key_results[str(kr)].progress == 1.0


def test_worked_example_through_commands(world: World) -> None:
    """The DESIGN worked example holds through the application: 0.925, 0.864, 0.75."""
    app = active(world).app
    for kr, value in zip(world.krs, (370, 19, 3), strict=True):
        app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=value))
    obj = app.get_objective(world.objective)
    got = [round(obj.key_results[str(k)].progress, 3) for k in world.krs]
    assert got == [0.925, 0.864, 0.75]


def test_score_needs_reason_when_different(world: World) -> None:
    """Scores are 0-1; a score other than the computed default needs a reason."""
    app = active(world).app
    app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[0], value=370))  # default 0.9
    assert code_of(bound(app, cmd.ScoreKeyResult), world.krs[0], score=0.5) == "SCORE_REASON_REQUIRED"
    assert code_of(bound(app, cmd.ScoreKeyResult), world.krs[0], score=1.2, reason="x") == "INVALID_VALUE"
    app.execute(cmd.ScoreKeyResult(key_result_id=world.krs[0], score=0.9))
    app.execute(cmd.ScoreKeyResult(key_result_id=world.krs[0], score=0.6, reason="the MQLs were low quality"))
    kr = app.get_objective(world.objective).key_results[str(world.krs[0])]
    assert (kr.score, kr.score_reason) == (0.6, "the MQLs were low quality")


def test_close_scores_every_key_result(world: World) -> None:
    """Close scores unscored KRs with their default, stores learnings and the objective score."""
    app = active(world).app
    for kr, value in zip(world.krs, (370, 19, 3), strict=True):
        app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=value))
    app.execute(cmd.CloseObjective(objective_id=world.objective, learnings="Content beat ads."))
    obj = app.get_objective(world.objective)
    assert obj.state == "CLOSED"
    assert [obj.key_results[str(k)].score for k in world.krs] == [0.9, 0.9, 0.8]
    assert obj.closing_score == pytest.approx((0.9 + 0.9 + 0.8) / 3)
    assert obj.learnings == "Content beat ads."
    assert code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=1) == "OBJECTIVE_NOT_ACTIVE"
    assert code_of(bound(app, cmd.CloseObjective), world.objective) == "OBJECTIVE_NOT_ACTIVE"
    assert (
        code_of(bound(app, cmd.AddKeyResult), world.objective, title="late", kind="BOOLEAN")
        == "OBJECTIVE_FINISHED"
    )
    # re-scoring after close is allowed (with a reason) and updates the objective's score
    app.execute(
        cmd.ScoreKeyResult(
            key_result_id=world.krs[2], score=1.0, reason="hours fell further after the cut-off"
        )
    )
    assert app.get_objective(world.objective).closing_score == pytest.approx((0.9 + 0.9 + 1.0) / 3)


def test_abandon(world: World) -> None:
    """Abandoned objectives accept nothing more."""
    app = world.app
    app.execute(cmd.AbandonObjective(objective_id=world.objective, reason="strategy changed"))
    assert app.get_objective(world.objective).state == "ABANDONED"
    assert code_of(bound(app, cmd.ReviseObjective), world.objective, title="x") == "OBJECTIVE_FINISHED"
    assert code_of(bound(app, cmd.AbandonObjective), world.objective) == "OBJECTIVE_FINISHED"


def test_alignment_rules(world: World) -> None:
    """Align to an objective or a KR of the same org; never into a cycle; never both at once."""
    app = world.app
    child = app.execute(cmd.DraftObjective(cycle_id=world.cycle, title="Child")).id
    grandchild = app.execute(cmd.DraftObjective(cycle_id=world.cycle, title="Grandchild")).id
    app.execute(cmd.AlignObjective(objective_id=child, parent_key_result_id=world.krs[0]))
    app.execute(cmd.AlignObjective(objective_id=grandchild, parent_objective_id=child))
    assert app.get_objective(child).parent_key_result_id == world.krs[0]
    before = count(app)
    assert (
        code_of(bound(app, cmd.AlignObjective), world.objective, parent_objective_id=grandchild)
        == "ALIGNMENT_CYCLE"
    )
    assert code_of(bound(app, cmd.AlignObjective), world.objective, parent_objective_id=world.objective) == (
        "ALIGNMENT_CYCLE"
    )
    assert (
        code_of(
            bound(app, cmd.AlignObjective),
            child,
            parent_objective_id=world.objective,
            parent_key_result_id=world.krs[0],
        )
        == "INVALID_INPUT"
    )
    assert (
        code_of(bound(app, cmd.AlignObjective), child, parent_objective_id=uuid.uuid4())
        == "OBJECTIVE_NOT_FOUND"
    )
    assert count(app) == before
    app.execute(cmd.AlignObjective(objective_id=grandchild))  # unalign
    assert app.get_objective(grandchild).parent_objective_id is None


def test_alignment_across_orgs_is_not_found(world: World) -> None:
    """A parent of another org is simply not found."""
    with request_context(system_context("other-org", "mallory")):
        cycle = world.app.execute(cmd.ScheduleCycle(name="Q", start=Q1[0], end=Q1[1])).id
        foreign = world.app.execute(cmd.DraftObjective(cycle_id=cycle, title="Theirs")).id
    assert code_of(bound(world.app, cmd.AlignObjective), world.objective, parent_objective_id=foreign) == (
        "OBJECTIVE_NOT_FOUND"
    )
    assert code_of(world.app.get_objective, foreign) == "OBJECTIVE_NOT_FOUND"
    with request_context(system_context("other-org", "mallory")):
        assert (
            code_of(bound(world.app, cmd.CheckInKeyResult), world.krs[0], value=1) == "KEY_RESULT_NOT_FOUND"
        )
        assert (
            code_of(bound(world.app, cmd.ReviseObjective), world.objective, title="pwned")
            == "OBJECTIVE_NOT_FOUND"
        )


def test_carry_over(world: World) -> None:
    """Carry-over copies unfinished KRs into another cycle from their last value, with a link back."""
    app = active(world).app
    app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[0], value=400))  # finished
    app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[1], value=11))
    app.execute(cmd.CloseObjective(objective_id=world.objective))
    next_cycle = app.execute(
        cmd.ScheduleCycle(name="2026-Q2", start=date(2026, 4, 1), end=date(2026, 6, 30))
    ).id
    assert (
        code_of(bound(app, cmd.CarryOverObjective), world.objective, target_cycle_id=world.cycle)
        == "INVALID_INPUT"
    )
    result = app.execute(cmd.CarryOverObjective(objective_id=world.objective, target_cycle_id=next_cycle))
    copy = app.get_objective(result.id)
    source = app.get_objective(world.objective)
    assert copy.carried_over_from == world.objective and source.carried_over_to == copy.id
    assert copy.cycle_id == next_cycle and copy.state == "DRAFT"
    titles = {kr.title: kr for kr in copy.key_results.values()}
    assert set(titles) == {"Trial-to-paid", "Reporting hours"}
    assert (titles["Trial-to-paid"].start, titles["Trial-to-paid"].current) == (11.0, 11.0)
    # the copies are addressable by id
    for kr in copy.key_results.values():
        assert app.objective_of_key_result(kr.id).id == copy.id
    assert (
        code_of(bound(app, cmd.CarryOverObjective), world.objective, target_cycle_id=next_cycle)
        == "RULE_VIOLATION"
    )


# ---------------------------------------------------------------- tasks


def test_task_lifecycle(world: World) -> None:
    """TODO -> IN_PROGRESS -> DONE (reopenable) or CANCELLED; nothing changes a cancelled task."""
    app = world.app
    task = app.execute(cmd.CreateTask(title="Write the launch post", impact="HIGH")).id
    assert app.get_task(task).key_result_id is None  # unaligned
    app.execute(cmd.AssignTask(task_id=task, assignee="bob"))
    app.execute(cmd.StartTask(task_id=task))
    assert code_of(bound(app, cmd.StartTask), task) == "INVALID_TRANSITION"
    app.execute(cmd.CompleteTask(task_id=task))
    assert code_of(bound(app, cmd.CompleteTask), task) == "INVALID_TRANSITION"
    app.execute(cmd.ReopenTask(task_id=task))
    assert code_of(bound(app, cmd.ReopenTask), task) == "INVALID_TRANSITION"
    app.execute(cmd.CancelTask(task_id=task, reason="dropped"))
    before = count(app)
    for call, kwargs in [
        (bound(app, cmd.StartTask), {}),
        (bound(app, cmd.CompleteTask), {}),
        (bound(app, cmd.AssignTask), {"assignee": "eve"}),
        (bound(app, cmd.CancelTask), {}),
        (bound(app, cmd.LinkTask), {"key_result_id": world.krs[0]}),
    ]:
        assert code_of(call, task, **kwargs) == "TASK_CANCELLED"
    assert count(app) == before
    assert code_of(bound(app, cmd.CreateTask), title="x", impact="URGENT") == "INVALID_INPUT"
    assert code_of(bound(app, cmd.StartTask), uuid.uuid4()) == "TASK_NOT_FOUND"


def test_linking_tallies_the_key_result(world: World) -> None:
    """Linked tasks move a TASKS-sourced KR: done weight / non-cancelled weight."""
    app = active(world).app
    kr = app.execute(
        cmd.AddKeyResult(objective_id=world.objective, title="Ship", kind="BOOLEAN", source="TASKS")
    ).id
    high = app.execute(cmd.CreateTask(title="Big", impact="HIGH", key_result_id=kr)).id
    low = app.execute(cmd.CreateTask(title="Small", impact="LOW")).id
    app.execute(cmd.LinkTask(task_id=low, key_result_id=kr))
    medium = app.execute(cmd.CreateTask(title="Mid", impact="MEDIUM", key_result_id=kr)).id

    def progress() -> float:
        return app.get_objective(world.objective).key_results[str(kr)].progress

    assert progress() == 0.0
    app.execute(cmd.CompleteTask(task_id=high))
    assert progress() == pytest.approx(3 / 6)
    app.execute(cmd.CancelTask(task_id=medium))
    assert progress() == pytest.approx(3 / 4)
    app.execute(cmd.LinkTask(task_id=low, key_result_id=None))
    assert progress() == pytest.approx(1.0)
    app.execute(cmd.ReopenTask(task_id=high))
    assert progress() == 0.0


def test_complete_task_with_value_is_atomic(world: World) -> None:
    """Completing a task with a value checks in its KR in the same write; a refusal writes nothing."""
    app = world.app
    task = app.execute(cmd.CreateTask(title="Webinar", key_result_id=world.krs[0])).id
    before = count(app)
    assert code_of(bound(app, cmd.CompleteTask), task, value=120) == "OBJECTIVE_NOT_ACTIVE"  # draft objective
    assert count(app) == before and app.get_task(task).state == "TODO"
    active(world)
    result = app.execute(cmd.CompleteTask(task_id=task, value=120, confidence=0.9))
    obj = app.get_objective(world.objective)
    assert obj.key_results[str(world.krs[0])].current == 120.0
    assert app.get_task(task).state == "DONE"
    last = list(app.events.get(world.objective))[-1]
    assert isinstance(last, (Objective.KeyResultCheckedIn, Objective.KeyResultTaskRecorded))
    assert result.position == app.max_position()
    unlinked = app.execute(cmd.CreateTask(title="Loose")).id
    assert code_of(bound(app, cmd.CompleteTask), unlinked, value=5) == "INVALID_VALUE"


def test_link_to_finished_objective_refused(world: World) -> None:
    """Tasks link only to KRs of open objectives."""
    app = world.app
    app.execute(cmd.AbandonObjective(objective_id=world.objective))
    assert code_of(bound(app, cmd.CreateTask), title="x", key_result_id=world.krs[0]) == "RULE_VIOLATION"


# ---------------------------------------------------------------- context, roles, idempotency


def test_events_carry_context_not_arguments(world: World, ctx: RequestContext) -> None:
    """Every event carries org, actor, correlation and a per-command causation id from the context."""
    events = list(world.app.events.get(world.objective))
    assert {e.org_id for e in events} == {ctx.org_id}  # type: ignore[attr-defined]
    assert {e.actor for e in events} == {"alice"}  # type: ignore[attr-defined]
    assert {e.correlation_id for e in events} == {ctx.correlation_id}  # type: ignore[attr-defined]
    causations = {e.causation_id for e in events}  # type: ignore[attr-defined]
    assert len(causations) == len(events)  # one command each here
    assert ctx.causation_id not in causations


def test_command_outside_context_is_refused(memory_app: OkrApplication) -> None:
    """No request context, no command."""
    with pytest.raises(RuntimeError, match="no request context"):
        memory_app.execute(cmd.ScheduleCycle(name="x", start=Q1[0], end=Q1[1]))


def test_roles(world: World, org: str) -> None:
    """Viewers can't write; members check in and handle tasks; leads change their teams' objectives."""
    app = world.app
    team = app.execute(cmd.CreateTeam(name="Growth")).id
    app.execute(cmd.AddTeamMember(team_id=team, user_id="lena", role="LEAD"))
    app.execute(cmd.AddTeamMember(team_id=team, user_id="max", role="MEMBER"))
    owned = app.execute(cmd.DraftObjective(cycle_id=world.cycle, title="Team goal", team_id=team)).id
    kr = app.execute(cmd.AddKeyResult(objective_id=owned, title="k", kind="NUMERIC", start=0, target=10)).id
    app.execute(cmd.AddKeyResult(objective_id=owned, title="k2", kind="BOOLEAN"))
    app.execute(cmd.ActivateObjective(objective_id=owned))
    viewer = RequestContext(org_id=org, actor="vic", roles=frozenset({"viewer"}))
    member = RequestContext(org_id=org, actor="max", roles=frozenset({"member"}))
    lead = RequestContext(org_id=org, actor="lena", roles=frozenset({"lead"}))
    with request_context(viewer):
        assert code_of(bound(app, cmd.CheckInKeyResult), kr, value=1) == "FORBIDDEN"
        assert code_of(bound(app, cmd.CreateTask), title="t") == "FORBIDDEN"
    with request_context(member):
        app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=2))
        app.execute(cmd.CreateTask(title="t", key_result_id=kr))
        assert code_of(bound(app, cmd.ReviseObjective), owned, title="x") == "FORBIDDEN"
        assert code_of(bound(app, cmd.ScheduleCycle), name="x", start=Q1[0], end=Q1[1]) == "FORBIDDEN"
    with request_context(lead):
        app.execute(cmd.ReviseObjective(objective_id=owned, title="Team goal, sharper"))
        assert code_of(bound(app, cmd.ReviseObjective), world.objective, title="not mine") == "FORBIDDEN"
        app.execute(cmd.DraftObjective(cycle_id=world.cycle, title="Another", team_id=team))
        assert code_of(bound(app, cmd.DraftObjective), cycle_id=world.cycle, title="No team") == "FORBIDDEN"


def test_idempotency_key_returns_first_result(world: World) -> None:
    """Repeating a key returns the first result and appends nothing; other input with it is refused."""
    app = active(world).app
    first = app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[0], value=10), idempotency_key="ci-1")
    after_first = count(app)
    again = app.execute(cmd.CheckInKeyResult(key_result_id=world.krs[0], value=10), idempotency_key="ci-1")
    assert again.replayed and again.id == first.id and count(app) == after_first
    assert again.position >= first.position
    assert (
        code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=11, idempotency_key="ci-1")
        == "IDEMPOTENCY_KEY_REUSED"
    )
    assert (
        code_of(bound(app, cmd.CheckInKeyResult), world.krs[0], value=11, idempotency_key="")
        == "INVALID_INPUT"
    )
    assert app.get_objective(world.objective).key_results[str(world.krs[0])].check_in_count == 1


def test_idempotency_keys_are_per_org(world: World) -> None:
    """The same key in another org is another command."""
    app = world.app
    a = app.execute(cmd.ScheduleCycle(name="A", start=Q1[0], end=Q1[1]), idempotency_key="k")
    with request_context(system_context("org-b", "bob")):
        b = app.execute(cmd.ScheduleCycle(name="A", start=Q1[0], end=Q1[1]), idempotency_key="k")
    assert a.id != b.id and not b.replayed


def test_result_position_is_the_log_position(world: World) -> None:
    """A command returns the log position of what it wrote."""
    result = world.app.execute(cmd.ReviseObjective(objective_id=world.objective, title="New title"))
    assert isinstance(result, CommandResult)
    assert result.position == world.app.max_position()


def test_backdated_clock_stamps_events(memory_app: OkrApplication, org: str) -> None:
    """The context's clock sets event timestamps (demo data and time-travel tests use it)."""
    when = datetime(2026, 2, 1, 9, tzinfo=UTC)
    ctx = RequestContext(org_id=org, actor="a", clock=lambda: when)
    with request_context(ctx):
        cycle = memory_app.execute(cmd.ScheduleCycle(name="Q", start=Q1[0], end=Q1[1])).id
    event = next(iter(memory_app.events.get(cycle)))
    assert event.timestamp == when
    assert event.timestamp - timedelta(0) == when


def test_every_command_has_exactly_one_handler() -> None:
    """The handlers table names every command of okr.commands, and nothing else."""
    from okr.commands import COMMANDS, Command
    from okr.handlers import HANDLERS

    assert set(HANDLERS) == set(COMMANDS)
    assert len(COMMANDS) == len(set(COMMANDS))
    declared = {
        c for c in vars(cmd).values() if isinstance(c, type) and issubclass(c, Command) and c is not Command
    }
    assert declared == set(COMMANDS)
    assert len({c.command_name for c in COMMANDS}) == len(COMMANDS)
