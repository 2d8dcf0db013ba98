"""Write-side rules of issue 9: frozen cycles, alignment, objective scores, strict policies,
numbers, idempotency, tenant isolation, display text, check-in permissions, messages."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date

import pytest

from harness.calls import bound
from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import RequestContext, request_context
from okr.domain.base import check_display_text
from okr.domain.errors import DomainError, ValidationError
from okr.domain.internal import IdempotencyRecord
from okr.domain.objective import Objective

Q1 = (date(2026, 1, 1), date(2026, 3, 31))
Q2 = (date(2026, 4, 1), date(2026, 6, 30))


def failure(call: object, *args: object, **kwargs: object) -> DomainError:
    """Runs a command that must fail and returns the error."""
    assert callable(call)
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    return info.value


def code_of(call: object, *args: object, **kwargs: object) -> str:
    return failure(call, *args, **kwargs).code


@dataclass
class Plan:
    app: OkrApplication
    cycle: uuid.UUID
    team: uuid.UUID
    objective: uuid.UUID
    krs: list[uuid.UUID]


def _objective(
    app: OkrApplication, cycle: uuid.UUID, title: str, **kwargs: object
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    oid = app.execute(cmd.DraftObjective(cycle_id=cycle, title=title, **kwargs)).id  # type: ignore[arg-type]
    krs = [
        app.execute(
            cmd.AddKeyResult(objective_id=oid, title=f"{title} KR{n}", kind="NUMERIC", start=0, target=100)
        ).id
        for n in range(2)
    ]
    return oid, krs


@pytest.fixture
def plan(memory_app: OkrApplication, ctx: RequestContext) -> Plan:
    app = memory_app
    cycle = app.execute(cmd.ScheduleCycle(name="2026-Q1", start=Q1[0], end=Q1[1])).id
    app.execute(cmd.StartCycle(cycle_id=cycle))
    team = app.execute(cmd.CreateTeam(name="Growth")).id
    objective, krs = _objective(app, cycle, "Grow", team_id=team)
    app.execute(cmd.ActivateObjective(objective_id=objective))
    return Plan(app, cycle, team, objective, krs)


def events_of(app: OkrApplication, aggregate_id: uuid.UUID) -> list[object]:
    return list(app.events.get(aggregate_id))


# ---------------------------------------------------------------- 1. closing a cycle freezes it


def test_close_cycle_refused_while_objectives_are_active(plan: Plan) -> None:
    """closeCycle with ACTIVE objectives is CYCLE_HAS_ACTIVE_OBJECTIVES naming each (title, id)."""
    app = plan.app
    other, _ = _objective(app, plan.cycle, "Ship")
    app.execute(cmd.ActivateObjective(objective_id=other))
    draft, _ = _objective(app, plan.cycle, "Someday")
    before = app.max_position()
    error = failure(bound(app, cmd.CloseCycle), plan.cycle)
    assert error.code == "CYCLE_HAS_ACTIVE_OBJECTIVES"
    assert "2 active objectives" in error.message
    for title, oid in (("Grow", plan.objective), ("Ship", other)):
        assert f'"{title}" ({oid})' in error.message
    assert str(draft) not in error.message
    assert app.max_position() == before and app.get_cycle(plan.cycle).state == "ACTIVE"


def test_close_cycle_can_close_and_score_active_objectives_atomically(plan: Plan) -> None:
    """closeActiveObjectives closes and scores each active objective in the cycle's own write."""
    app = plan.app
    app.execute(cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=80))
    other, _ = _objective(app, plan.cycle, "Ship")
    app.execute(cmd.ActivateObjective(objective_id=other))
    result = app.execute(cmd.CloseCycle(cycle_id=plan.cycle, close_active_objectives=True))
    assert app.get_cycle(plan.cycle).state == "CLOSED"
    for oid, score in ((plan.objective, (0.8 + 0.0) / 2), (other, 0.0)):
        objective = app.get_objective(oid)
        assert objective.state == "CLOSED"
        closed = [e for e in events_of(app, oid) if isinstance(e, Objective.Closed)]
        assert len(closed) == 1 and closed[0].score == pytest.approx(score)
        assert closed[0].grade == ("YELLOW" if score >= 0.4 else "RED")
    # one atomic write: the cycle's Closed event is the last event of the log, at the result's position
    assert result.position == app.max_position()
    assert set(result.extra["closedObjectives"].split(",")) == {str(plan.objective), str(other)}


def test_close_cycle_closes_children_before_parents(plan: Plan) -> None:
    """An aligned parent closed by the cycle scores with its children's closing scores."""
    app = plan.app
    parent = app.execute(
        cmd.DraftObjective(cycle_id=plan.cycle, title="Company", driver="ALIGNED_OBJECTIVES")
    ).id
    app.execute(cmd.AlignObjective(objective_id=plan.objective, parent_objective_id=parent))
    app.execute(cmd.ActivateObjective(objective_id=parent))
    app.execute(cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=100))
    app.execute(cmd.ScoreKeyResult(key_result_id=plan.krs[1], score=0.5, reason="half of it shipped"))
    app.execute(cmd.CloseCycle(cycle_id=plan.cycle, close_active_objectives=True))
    child_score = app.get_objective(plan.objective).closing_score
    assert child_score == pytest.approx((1.0 + 0.5) / 2)
    assert app.get_objective(parent).closing_score == pytest.approx(child_score)


def test_closed_cycle_freezes_its_objectives(plan: Plan) -> None:
    """After close: check-ins, key-result and objective changes, new links are CYCLE_CLOSED."""
    app = plan.app
    draft, draft_krs = _objective(app, plan.cycle, "Later")
    task = app.execute(cmd.CreateTask(title="Loose end")).id
    app.execute(cmd.CloseCycle(cycle_id=plan.cycle, close_active_objectives=True))
    before = app.max_position()
    kr = plan.krs[0]
    refused = [
        (bound(app, cmd.CheckInKeyResult), (kr,), {"value": 5}),
        (bound(app, cmd.AddKeyResult), (draft,), {"title": "x", "kind": "BOOLEAN"}),
        (bound(app, cmd.ReviseKeyResult), (draft_krs[0],), {"title": "renamed"}),
        (bound(app, cmd.RemoveKeyResult), (draft_krs[0],), {}),
        (bound(app, cmd.ScoreKeyResult), (kr,), {"score": 0.3, "reason": "late"}),
        (bound(app, cmd.ReviseObjective), (draft,), {"title": "renamed"}),
        (bound(app, cmd.AlignObjective), (draft,), {"parent_objective_id": plan.objective}),
        (bound(app, cmd.ActivateObjective), (draft,), {}),
        (bound(app, cmd.ScoreObjective), (plan.objective,), {"score": 0.9, "reason": "late"}),
        (bound(app, cmd.CreateTask), (), {"title": "new", "key_result_id": draft_krs[0]}),
        (bound(app, cmd.LinkTask), (task,), {"key_result_id": draft_krs[0]}),
    ]
    for call, args, kwargs in refused:
        error = failure(call, *args, **kwargs)
        assert error.code == "CYCLE_CLOSED", (call, error)
        assert "2026-Q1 is closed" in error.message
    assert app.max_position() == before
    # what leaves the cycle still works: carrying over into the next one
    q2 = app.execute(cmd.ScheduleCycle(name="2026-Q2", start=Q2[0], end=Q2[1])).id
    copy = app.execute(cmd.CarryOverObjective(objective_id=plan.objective, target_cycle_id=q2)).id
    assert app.get_objective(copy).cycle_id == q2


def test_tasks_of_frozen_or_finished_objectives_no_longer_move_key_results(plan: Plan) -> None:
    """A linked task still changes state, but records nothing on a frozen/finished objective."""
    app = plan.app
    done_later = app.execute(cmd.CreateTask(title="Webinar", key_result_id=plan.krs[0])).id
    with_value = app.execute(cmd.CreateTask(title="Report", key_result_id=plan.krs[1])).id
    draft, draft_krs = _objective(app, plan.cycle, "Draft")
    on_draft = app.execute(cmd.CreateTask(title="Prep", key_result_id=draft_krs[0])).id
    app.execute(cmd.CloseCycle(cycle_id=plan.cycle, close_active_objectives=True))
    versions = {oid: len(events_of(app, oid)) for oid in (plan.objective, draft)}
    app.execute(cmd.StartTask(task_id=done_later))
    app.execute(cmd.CompleteTask(task_id=done_later))
    app.execute(cmd.CompleteTask(task_id=on_draft))
    app.execute(cmd.CancelTask(task_id=done_later))
    assert app.get_task(done_later).state == "CANCELLED"
    assert code_of(bound(app, cmd.CompleteTask), with_value, value=50) == "CYCLE_CLOSED"
    assert app.get_task(with_value).state == "TODO"
    assert {oid: len(events_of(app, oid)) for oid in versions} == versions


def test_tasks_of_abandoned_objectives_record_nothing(plan: Plan) -> None:
    """No KeyResultTaskRecorded on an ABANDONED objective (its key results are final)."""
    app = plan.app
    task = app.execute(cmd.CreateTask(title="Webinar", key_result_id=plan.krs[0])).id
    app.execute(cmd.AbandonObjective(objective_id=plan.objective, reason="dropped"))
    before = len(events_of(app, plan.objective))
    app.execute(cmd.CompleteTask(task_id=task))
    assert len(events_of(app, plan.objective)) == before
    assert (
        code_of(bound(app, cmd.CompleteTask), app.execute(cmd.CreateTask(title="x")).id, value=3)
        == "INVALID_VALUE"
    )


def test_check_ins_need_an_active_cycle_and_objective(
    memory_app: OkrApplication, ctx: RequestContext
) -> None:
    """PLANNED cycle: CYCLE_NOT_ACTIVE; closed or abandoned objective: OBJECTIVE_NOT_ACTIVE."""
    app = memory_app
    cycle = app.execute(cmd.ScheduleCycle(name="Q1", start=Q1[0], end=Q1[1])).id
    oid, krs = _objective(app, cycle, "Early")
    app.execute(cmd.ActivateObjective(objective_id=oid))  # planning ahead is fine
    task = app.execute(cmd.CreateTask(title="t", key_result_id=krs[0])).id
    assert code_of(bound(app, cmd.CheckInKeyResult), krs[0], value=10) == "CYCLE_NOT_ACTIVE"
    assert code_of(bound(app, cmd.CompleteTask), task, value=10) == "CYCLE_NOT_ACTIVE"
    app.execute(cmd.StartCycle(cycle_id=cycle))
    app.execute(cmd.CheckInKeyResult(key_result_id=krs[0], value=10))
    app.execute(cmd.CloseObjective(objective_id=oid))
    assert code_of(bound(app, cmd.CheckInKeyResult), krs[0], value=11) == "OBJECTIVE_NOT_ACTIVE"
    other, other_krs = _objective(app, cycle, "Dropped")
    app.execute(cmd.ActivateObjective(objective_id=other))
    app.execute(cmd.AbandonObjective(objective_id=other))
    assert code_of(bound(app, cmd.CheckInKeyResult), other_krs[0], value=1) == "OBJECTIVE_NOT_ACTIVE"


# ---------------------------------------------------------------- 2. alignment across cycles


def test_alignment_across_cycles_is_refused(plan: Plan) -> None:
    """A child aligns only under an objective or key result of its own cycle."""
    app = plan.app
    q2 = app.execute(cmd.ScheduleCycle(name="2026-Q2", start=Q2[0], end=Q2[1])).id
    later, _ = _objective(app, q2, "Next quarter")
    before = app.max_position()
    assert (
        code_of(bound(app, cmd.AlignObjective), later, parent_objective_id=plan.objective)
        == "ALIGNMENT_ACROSS_CYCLES"
    )
    error = failure(bound(app, cmd.AlignObjective), later, parent_key_result_id=plan.krs[0])
    assert (error.code, error.field) == ("ALIGNMENT_ACROSS_CYCLES", "parentKeyResultId")
    assert (
        code_of(bound(app, cmd.AlignObjective), plan.objective, parent_objective_id=later)
        == "ALIGNMENT_ACROSS_CYCLES"
    )
    assert app.max_position() == before


# ---------------------------------------------------------------- 3. objective scores


def test_aligned_and_both_drivers_close_with_their_childrens_scores(plan: Plan) -> None:
    """ALIGNED_OBJECTIVES: children's scores; BOTH: key results and children together."""
    app = plan.app
    aligned = app.execute(
        cmd.DraftObjective(cycle_id=plan.cycle, title="Company", driver="ALIGNED_OBJECTIVES")
    ).id
    both, both_krs = _objective(app, plan.cycle, "Both", driver="BOTH")
    closed_child, closed_krs = _objective(app, plan.cycle, "Closed child", weight=3.0)
    draft_child, _ = _objective(app, plan.cycle, "Draft child")
    for child in (plan.objective, closed_child, draft_child):
        app.execute(cmd.AlignObjective(objective_id=child, parent_objective_id=aligned))
    kr_child, _ = _objective(app, plan.cycle, "Under a KR")
    app.execute(cmd.AlignObjective(objective_id=kr_child, parent_key_result_id=both_krs[0]))
    for oid in (aligned, both, closed_child, kr_child):
        app.execute(cmd.ActivateObjective(objective_id=oid))
    app.execute(
        cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=66)
    )  # open child: progress 0.33 -> default score 0.3
    app.execute(cmd.CheckInKeyResult(key_result_id=closed_krs[0], value=100))
    app.execute(cmd.CloseObjective(objective_id=closed_child))  # closing score (1.0 + 0.0) / 2 = 0.5
    app.execute(cmd.CheckInKeyResult(key_result_id=both_krs[0], value=100))
    app.execute(cmd.CloseObjective(objective_id=aligned))
    closed = [e for e in events_of(app, aligned) if isinstance(e, Objective.Closed)][-1]
    expected = (0.3 * 1 + 0.5 * 3) / 4  # the draft child does not count
    assert closed.score == pytest.approx(expected) and closed.grade == "YELLOW"
    app.execute(cmd.CloseObjective(objective_id=both))  # KRs 1.0, 0.0 and the KR-aligned child (0.0)
    assert app.get_objective(both).closing_score == pytest.approx((1.0 + 0.0 + 0.0) / 3)
    # unaligning takes a child out of its parent's scores
    app.execute(cmd.AlignObjective(objective_id=plan.objective))
    app.execute(
        cmd.ScoreObjective(objective_id=aligned, score=0.5)
    )  # now the computed score: the closed child alone
    assert app.get_objective(aligned).closing_score == pytest.approx(0.5)


def test_aligned_objective_without_children_closes_unscored(plan: Plan) -> None:
    """Nothing to score from: the Closed event's score and grade stay null."""
    app = plan.app
    lonely = app.execute(
        cmd.DraftObjective(cycle_id=plan.cycle, title="Lonely", driver="ALIGNED_OBJECTIVES")
    ).id
    app.execute(cmd.ActivateObjective(objective_id=lonely))
    app.execute(cmd.CloseObjective(objective_id=lonely))
    closed = [e for e in events_of(app, lonely) if isinstance(e, Objective.Closed)][-1]
    assert (closed.score, closed.grade) == (None, None)


def test_score_objective_overrides_a_closed_objectives_score(plan: Plan) -> None:
    """Only CLOSED objectives; a reason when the score differs; the override survives KR rescoring."""
    app = plan.app
    assert (
        code_of(bound(app, cmd.ScoreObjective), plan.objective, score=0.5, reason="x")
        == "OBJECTIVE_NOT_ACTIVE"
    )
    app.execute(cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=60))
    app.execute(cmd.CloseObjective(objective_id=plan.objective))  # (0.6 + 0.0) / 2
    assert code_of(bound(app, cmd.ScoreObjective), plan.objective, score=0.9) == "SCORE_REASON_REQUIRED"
    assert code_of(bound(app, cmd.ScoreObjective), plan.objective, score=1.5, reason="x") == "INVALID_VALUE"
    app.execute(
        cmd.ScoreObjective(objective_id=plan.objective, score=0.3)
    )  # the computed score needs no reason
    app.execute(cmd.ScoreObjective(objective_id=plan.objective, score=0.9, reason="the launch mattered most"))
    scored = [e for e in events_of(app, plan.objective) if isinstance(e, Objective.ObjectiveScored)][-1]
    assert (scored.score, scored.default_score, scored.reason) == (
        0.9,
        pytest.approx(0.3),
        "the launch mattered most",
    )
    app.execute(cmd.ScoreKeyResult(key_result_id=plan.krs[1], score=0.2, reason="some of it"))
    assert app.get_objective(plan.objective).closing_score == 0.9  # the owner's override stands


def test_key_result_rescoring_after_close_moves_the_objective_score(plan: Plan) -> None:
    """Without an override, rescoring a key result of a closed objective records the new score."""
    app = plan.app
    app.execute(cmd.CloseObjective(objective_id=plan.objective))
    app.execute(cmd.ScoreKeyResult(key_result_id=plan.krs[0], score=1.0, reason="landed after the cut-off"))
    last = events_of(app, plan.objective)[-1]
    assert isinstance(last, Objective.ObjectiveScored) and last.score == pytest.approx(0.5)
    assert app.get_objective(plan.objective).closing_score == pytest.approx(0.5)


def test_unmeasured_threshold_scores_zero(plan: Plan) -> None:
    """A threshold nobody measured has progress 0 and closes with score 0 (not 1)."""
    app = plan.app
    oid = app.execute(cmd.DraftObjective(cycle_id=plan.cycle, title="Stay fast")).id
    kr = app.execute(
        cmd.AddKeyResult(
            objective_id=oid, title="p95 ms", kind="THRESHOLD", target=300, direction="STAY_BELOW"
        )
    ).id
    app.execute(cmd.ActivateObjective(objective_id=oid))
    assert app.get_objective(oid).key_results[str(kr)].progress == 0.0
    app.execute(cmd.CloseObjective(objective_id=oid))
    assert app.get_objective(oid).key_results[str(kr)].score == 0.0


# ---------------------------------------------------------------- 4. strict policies


def test_strict_orgs_refuse_a_sixth_active_objective_per_team(plan: Plan) -> None:
    """Strict: a team's 6th active objective in a cycle is POLICY_VIOLATION; fewer than 3 warns."""
    app = plan.app
    app.execute(cmd.ConfigureOrg(strict_policies=True))
    app.execute(cmd.ConfigureApproval(approval_required=False))  # team counts, not approvals, here
    results = []
    for n in range(4):
        oid, _ = _objective(app, plan.cycle, f"O{n}", team_id=plan.team)
        results.append(app.execute(cmd.ActivateObjective(objective_id=oid)))
    assert any("team Growth has 2 active objectives" in w for w in results[0].warnings)
    assert not any("OBJECTIVE_COUNT" in w for r in results[1:] for w in r.warnings)
    sixth, _ = _objective(app, plan.cycle, "Sixth", team_id=plan.team)
    before = app.max_position()
    error = failure(bound(app, cmd.ActivateObjective), sixth)
    assert error.code == "POLICY_VIOLATION" and "team Growth would have 6 active objectives" in error.message
    assert app.max_position() == before
    # another cycle counts on its own
    q2 = app.execute(cmd.ScheduleCycle(name="2026-Q2", start=Q2[0], end=Q2[1])).id
    elsewhere, _ = _objective(app, q2, "Elsewhere", team_id=plan.team)
    app.execute(cmd.ActivateObjective(objective_id=elsewhere))
    # moving an active objective into the full team is refused too
    free, _ = _objective(app, plan.cycle, "Free")
    app.execute(cmd.ActivateObjective(objective_id=free))
    assert code_of(bound(app, cmd.ReviseObjective), free, team_id=plan.team) == "POLICY_VIOLATION"


def test_activation_carries_every_policy_warning(memory_app: OkrApplication, ctx: RequestContext) -> None:
    """Key-result count and the team's active-objective count, pluralised, the team by name."""
    app = memory_app
    cycle = app.execute(cmd.ScheduleCycle(name="Q", start=Q1[0], end=Q1[1])).id
    team = app.execute(cmd.CreateTeam(name="Support")).id
    oid = app.execute(cmd.DraftObjective(cycle_id=cycle, title="One KR", team_id=team)).id
    app.execute(cmd.AddKeyResult(objective_id=oid, title="KR", kind="BOOLEAN"))
    warnings = app.execute(cmd.ActivateObjective(objective_id=oid)).warnings
    assert warnings == (
        "KEY_RESULT_COUNT: 1 key result; 2-4 keep an objective focused",
        "OBJECTIVE_COUNT: team Support has 1 active objective in this cycle; 3-5 keep a team focused",
    )
    stored = [e for e in events_of(app, oid) if isinstance(e, Objective.Activated)][-1]
    assert stored.policy_warnings == list(warnings)


def test_strict_orgs_keep_two_to_four_key_results_after_activation(plan: Plan) -> None:
    """Strict: adding a 5th or removing down to 1 is POLICY_VIOLATION; otherwise a warning."""
    app = plan.app
    third = app.execute(cmd.AddKeyResult(objective_id=plan.objective, title="third", kind="BOOLEAN"))
    assert third.warnings == ()
    fourth = app.execute(cmd.AddKeyResult(objective_id=plan.objective, title="fourth", kind="BOOLEAN")).id
    fifth = app.execute(cmd.AddKeyResult(objective_id=plan.objective, title="fifth", kind="BOOLEAN"))
    assert fifth.warnings == ("KEY_RESULT_COUNT: 5 key results; 2-4 keep an objective focused",)
    app.execute(cmd.RemoveKeyResult(key_result_id=fifth.id))
    app.execute(cmd.ConfigureOrg(strict_policies=True))
    before = app.max_position()
    error = failure(bound(app, cmd.AddKeyResult), plan.objective, title="fifth again", kind="BOOLEAN")
    assert error.code == "POLICY_VIOLATION" and "5 key results" in error.message
    app.execute(cmd.RemoveKeyResult(key_result_id=fourth))
    app.execute(cmd.RemoveKeyResult(key_result_id=third.id))
    assert code_of(bound(app, cmd.RemoveKeyResult), plan.krs[0]) == "POLICY_VIOLATION"
    assert len(app.get_objective(plan.objective).key_results) == 2
    assert app.max_position() == before + 2


# ---------------------------------------------------------------- 5. numbers


def test_negative_zero_is_stored_as_zero(plan: Plan) -> None:
    """-0.0 in any number input is stored as 0.0."""
    app = plan.app
    kr = app.execute(
        cmd.AddKeyResult(objective_id=plan.objective, title="Churn", kind="NUMERIC", start=-0.0, target=-5)
    ).id
    app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=-0.0, confidence=-0.0))
    stored = app.get_objective(plan.objective).key_results[str(kr)]
    last = events_of(app, plan.objective)[-1]
    assert isinstance(last, Objective.KeyResultCheckedIn)
    for value in (stored.start, stored.current, stored.confidence, last.value, last.confidence):
        assert value == 0.0 and math.copysign(1.0, value) == 1.0  # type: ignore[arg-type]


# ---------------------------------------------------------------- 6. idempotency


@pytest.mark.parametrize("store", ["popo", "sqlite"])
def test_repeated_key_returns_the_first_position(store: str, ctx: RequestContext) -> None:
    """A repeated key answers the first write's position, not the head of the log."""
    env = {"PERSISTENCE_MODULE": f"eventsourcing.{store}"}
    if store == "sqlite":
        env["SQLITE_DBNAME"] = ":memory:"
    app = OkrApplication(env)
    cycle = app.execute(cmd.ScheduleCycle(name="Q", start=Q1[0], end=Q1[1])).id
    first = app.execute(cmd.StartCycle(cycle_id=cycle), idempotency_key="start-q")
    app.execute(cmd.CreateTeam(name="Later writes"))
    app.execute(cmd.CreateTeam(name="move the head"))
    again = app.execute(cmd.StartCycle(cycle_id=cycle), idempotency_key="start-q")
    assert again.replayed and again.position == first.position < app.max_position()


def test_idempotency_keys_are_scoped_per_actor(plan: Plan, org: str) -> None:
    """The same key from another user of the org is another command; from the same user a replay."""
    app = plan.app
    alice = app.execute(cmd.CreateTeam(name="A"), idempotency_key="k")
    bob_ctx = RequestContext(org_id=org, actor="bob", roles=frozenset({"admin"}))
    with request_context(bob_ctx):
        bob = app.execute(cmd.CreateTeam(name="A"), idempotency_key="k")
    assert bob.id != alice.id and not bob.replayed
    assert app.execute(cmd.CreateTeam(name="A"), idempotency_key="k").id == alice.id
    assert IdempotencyRecord.id_for(org, "alice", "k") != IdempotencyRecord.id_for(org, "bob", "k")
    assert IdempotencyRecord.id_for("a:b", "c", "k") != IdempotencyRecord.id_for("a", "b:c", "k")


# ---------------------------------------------------------------- 7 + 10. not found names the id sent


def test_other_orgs_key_result_ids_reveal_nothing(plan: Plan) -> None:
    """Org B sending org A's key-result id (cache warm or cold) gets KEY_RESULT_NOT_FOUND for that id."""
    app = plan.app
    kr = plan.krs[0]
    app.execute(
        cmd.CheckInKeyResult(key_result_id=kr, value=1)
    )  # warms the key result -> objective cache for org A
    cold = OkrApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with request_context(system_context("org-b", "mallory")):
        cycle = app.execute(cmd.ScheduleCycle(name="B", start=Q1[0], end=Q1[1])).id
        theirs = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Theirs")).id
        task = app.execute(cmd.CreateTask(title="t")).id
        attempts = [
            (bound(app, cmd.CheckInKeyResult), (kr,), {"value": 1}),
            (bound(app, cmd.ScoreKeyResult), (kr,), {"score": 0.5, "reason": "x"}),
            (bound(app, cmd.ReviseKeyResult), (kr,), {"title": "x"}),
            (bound(app, cmd.RemoveKeyResult), (kr,), {}),
            (bound(app, cmd.CreateTask), (), {"title": "x", "key_result_id": kr}),
            (bound(app, cmd.LinkTask), (task,), {"key_result_id": kr}),
            (bound(app, cmd.AlignObjective), (theirs,), {"parent_key_result_id": kr}),
            (app.objective_of_key_result, (kr,), {}),
            (cold.objective_of_key_result, (kr,), {}),
        ]
        for call, args, kwargs in attempts:
            error = failure(call, *args, **kwargs)
            assert error.code == "KEY_RESULT_NOT_FOUND", (call, error)
            assert error.message == f"key result {kr} not found"
            assert str(plan.objective) not in error.message
        error = failure(bound(app, cmd.AlignObjective), theirs, parent_objective_id=plan.objective)
        assert (error.code, error.field) == ("OBJECTIVE_NOT_FOUND", "parentObjectiveId")
        assert error.message == f"objective {plan.objective} not found"


def test_key_result_not_found_names_the_id_sent(plan: Plan) -> None:
    """Unknown and removed key results are named by the id the client sent, with its field."""
    app = plan.app
    unknown = uuid.uuid4()
    error = failure(bound(app, cmd.CheckInKeyResult), unknown, value=1)
    assert (error.message, error.field) == (f"key result {unknown} not found", "keyResultId")
    app.execute(cmd.AddKeyResult(objective_id=plan.objective, title="spare", kind="BOOLEAN"))
    app.execute(cmd.RemoveKeyResult(key_result_id=plan.krs[1]))
    error = failure(bound(app, cmd.CheckInKeyResult), plan.krs[1], value=1)
    assert error.message == f"key result {plan.krs[1]} not found"
    child, _ = _objective(app, plan.cycle, "Child")
    error = failure(bound(app, cmd.AlignObjective), child, parent_key_result_id=unknown)
    assert (error.message, error.field) == (f"key result {unknown} not found", "parentKeyResultId")


# ---------------------------------------------------------------- 8. display text


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200c\u200d", "\u2060", "\ufeff", " \u200b ", "\u3164", "\u2800"],
)
def test_invisible_only_text_is_refused(plan: Plan, text: str) -> None:
    """Names and titles made only of zero-width or invisible characters are refused."""
    app = plan.app
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=plan.cycle, title=text) == "INVALID_INPUT"
    assert code_of(bound(app, cmd.CreateTeam), name=text) == "INVALID_INPUT"
    assert code_of(bound(app, cmd.AddTeamMember), plan.team, user_id=text) == "INVALID_INPUT"


@pytest.mark.parametrize(
    "mark", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
)
def test_bidi_controls_are_refused_everywhere_in_names(plan: Plan, mark: str) -> None:
    """Bidirectional embedding/override/isolate characters are refused in names, titles, owners, user ids."""
    app = plan.app
    spoof = f"alice{mark}nimda"
    before = app.max_position()
    assert code_of(bound(app, cmd.DraftObjective), cycle_id=plan.cycle, title=spoof) == "INVALID_INPUT"
    assert (
        code_of(bound(app, cmd.DraftObjective), cycle_id=plan.cycle, title="ok", owner=spoof)
        == "INVALID_INPUT"
    )
    assert code_of(bound(app, cmd.CreateTeam), name=spoof) == "INVALID_INPUT"
    assert code_of(bound(app, cmd.AddTeamMember), plan.team, user_id=spoof) == "INVALID_INPUT"
    assert (
        code_of(bound(app, cmd.AddKeyResult), plan.objective, title=spoof, kind="BOOLEAN") == "INVALID_INPUT"
    )
    assert code_of(bound(app, cmd.CreateTask), title="t", assignee=spoof) == "INVALID_INPUT"
    assert code_of(bound(app, cmd.ScheduleCycle), name=spoof, start=Q1[0], end=Q1[1]) == "INVALID_INPUT"
    assert app.max_position() == before


def test_emoji_and_accents_are_kept(plan: Plan) -> None:
    """Ordinary emoji, ZWJ sequences, flags and accents pass unchanged."""
    app = plan.app
    for title in ("Équipe 👩\u200d💻 dévs", "🚀 Launch", "🇫🇷 Paris", "Ĳssel", "עברית\u200f"):
        oid = app.execute(cmd.DraftObjective(cycle_id=plan.cycle, title=title, owner="José")).id
        assert app.get_objective(oid).title == title
    app.execute(cmd.AddTeamMember(team_id=plan.team, user_id="zoë"))
    assert check_display_text("👩\u200d💻", "title") == "👩\u200d💻"
    with pytest.raises(ValidationError):
        check_display_text("\u200d", "sub")


# ---------------------------------------------------------------- 9. check-in permissions


def test_members_check_in_only_on_their_teams_objectives(plan: Plan, org: str) -> None:
    """A member checks in on their teams' objectives or objectives they own, unless the org opens it."""
    app = plan.app
    app.execute(cmd.AddTeamMember(team_id=plan.team, user_id="mia", role="MEMBER"))
    own, own_krs = _objective(app, plan.cycle, "Mine", owner="olga")
    app.execute(cmd.ActivateObjective(objective_id=own))
    task = app.execute(cmd.CreateTask(title="t", key_result_id=plan.krs[0])).id

    def as_member(user: str) -> RequestContext:
        return RequestContext(org_id=org, actor=user, roles=frozenset({"member"}))

    with request_context(as_member("mia")):
        app.execute(cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=10))
        assert code_of(bound(app, cmd.CheckInKeyResult), own_krs[0], value=1) == "FORBIDDEN"
    with request_context(as_member("olga")):
        app.execute(cmd.CheckInKeyResult(key_result_id=own_krs[0], value=1))
        assert code_of(bound(app, cmd.CheckInKeyResult), plan.krs[0], value=1) == "FORBIDDEN"
        assert code_of(bound(app, cmd.CompleteTask), task, value=20) == "FORBIDDEN"
        app.execute(cmd.StartTask(task_id=task))  # tasks stay open to members
    app.execute(cmd.ConfigureOrg(check_ins_open_to_all=True))
    with request_context(as_member("olga")):
        app.execute(cmd.CheckInKeyResult(key_result_id=plan.krs[0], value=12))
        app.execute(cmd.CompleteTask(task_id=task, value=20))


def test_configure_org_changes_only_the_fields_given(plan: Plan) -> None:
    """Omitted settings keep their values; a repeat with nothing new is refused."""
    app = plan.app
    app.execute(cmd.ConfigureOrg(strict_policies=True, cadence_days=14))
    app.execute(cmd.ConfigureOrg(check_ins_open_to_all=True))
    org = app.organization()
    assert org is not None
    assert (org.strict_policies, org.cadence_days, org.check_ins_open_to_all) == (True, 14, True)
    app.execute(cmd.ConfigureOrg(cadence_days=10))
    assert app.org_settings() == (True, 10)
    assert code_of(bound(app, cmd.ConfigureOrg), cadence_days=10) == "INVALID_INPUT"
    assert code_of(bound(app, cmd.ConfigureOrg), check_ins_open_to_all="yes") == "INVALID_INPUT"


# ---------------------------------------------------------------- 11. plural


def test_messages_are_pluralised(plan: Plan) -> None:
    """'1 active objective', '1 key result' — never '1 ... objectives'."""
    app = plan.app
    error = failure(bound(app, cmd.CloseCycle), plan.cycle)
    assert "has 1 active objective:" in error.message
    oid = app.execute(cmd.DraftObjective(cycle_id=plan.cycle, title="Solo")).id
    app.execute(cmd.AddKeyResult(objective_id=oid, title="only", kind="BOOLEAN"))
    assert "1 key result;" in app.execute(cmd.ActivateObjective(objective_id=oid)).warnings[0]


def test_closing_a_cycle_conflicts_with_a_concurrent_activation(plan: Plan) -> None:
    """The close saves the cycle's index, so an activation prepared before it conflicts on save."""
    from eventsourcing.persistence import IntegrityError

    from okr.domain.internal import CycleIndex

    app = plan.app
    draft, _ = _objective(app, plan.cycle, "Racing")
    stale_index = app.repository.get(CycleIndex.id_for(plan.cycle))
    stale_objective = app.repository.get(draft)
    assert isinstance(stale_index, CycleIndex) and isinstance(stale_objective, Objective)
    stale_objective.activate(strict_policies=False)  # as another process would, before the close
    stale_index.record(draft, None, "ACTIVE")
    app.execute(cmd.CloseCycle(cycle_id=plan.cycle, close_active_objectives=True))
    with pytest.raises(IntegrityError):
        app.save(stale_objective, stale_index)
    assert app.get_objective(draft).state == "DRAFT"
