"""Objectives: drafted into a cycle, revised, aligned, activated, closed and scored, abandoned,
carried over. Every write keeps the cycle's index (team and state per objective) in step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from okr.access import authorize_objective, authorize_team, team_policy
from okr.commands import (
    AbandonObjective,
    ActivateObjective,
    AlignObjective,
    CarryOverObjective,
    CloseObjective,
    DraftObjective,
    ReviseObjective,
    ScoreObjective,
)
from okr.domain import formulas as f
from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.errors import (
    AlignmentAcrossCyclesError,
    KeyResultNotFoundError,
    NotFoundError,
    ObjectiveNotFoundError,
    PolicyViolation,
    RuleViolation,
    TeamNotFoundError,
    ValidationError,
)
from okr.domain.internal import ChildrenIndex, KeyResultIndex
from okr.domain.key_result import KeyResult, KeyResultSpec
from okr.domain.objective import Objective, ObjectiveState
from okr.domain.team import Team
from okr.handlers import Outcome, handles
from okr.lookups import parse_id

if TYPE_CHECKING:
    from okr.application import OkrApplication

Change = Callable[[Objective], list[str] | list[OkrAggregate] | None]


def on_objective(
    app: OkrApplication, objective_id: UUID | str, change: Change, *, frozen_ok: bool = False
) -> Outcome:
    """Loads and authorises the objective, applies `change` (it returns warnings and/or further
    aggregates to save) and saves the cycle's index with it. Unless `frozen_ok`, an objective of
    a closed cycle is refused (CYCLE_CLOSED)."""
    objective = app.get_objective(objective_id)
    authorize_objective(app, objective)
    if not frozen_ok:
        app.check_not_frozen(objective, "objectiveId")
    returned = change(objective) or []
    warnings = [w for w in returned if isinstance(w, str)]
    extra = [a for a in returned if isinstance(a, OkrAggregate)]
    to_save: list[OkrAggregate] = [objective, *extra, *app.index_objectives([objective])]
    return Outcome(to_save, objective.id, warnings=warnings)


@handles(DraftObjective)
def draft_objective(app: OkrApplication, c: DraftObjective) -> Outcome:
    cycle = app.get_cycle(c.cycle_id)
    cycle.check_open()
    team = None if c.team_id is None else app.get_team(c.team_id).id
    authorize_team(app, team)
    objective = Objective.draft(
        cycle_id=cycle.id,
        team_id=team,
        owner=c.owner if c.owner is not None else current_context().actor,
        title=c.title,
        description=c.description,
        driver=c.driver,
        weight=c.weight,
    )
    return Outcome([objective, *app.index_objectives([objective])], objective.id)


@handles(ReviseObjective)
def revise_objective(app: OkrApplication, c: ReviseObjective) -> Outcome:
    def change(objective: Objective) -> list[str]:
        team = None if c.team_id is None else app.get_team(c.team_id)
        warnings: list[str] = []
        strict, _ = app.org_settings()
        if team is not None and team.id != objective.team_id:
            authorize_team(app, team.id)
            if objective.state == ObjectiveState.ACTIVE.value:
                index = app.cycle_index(objective.cycle_id)
                warnings, violations = team_policy(team, index.active_count(team.id) + 1, strict)
                if violations:
                    raise PolicyViolation("; ".join(violations), field="teamId")
        objective.revise(
            title=c.title,
            description=c.description,
            owner=c.owner,
            team_id=None if team is None else team.id,
            driver=c.driver,
            weight=c.weight,
            strict_policies=strict,
        )
        return warnings

    return on_objective(app, c.objective_id, change)


@handles(AlignObjective)
def align_objective(app: OkrApplication, c: AlignObjective) -> Outcome:
    def change(objective: Objective) -> list[OkrAggregate]:
        if c.parent_objective_id is not None and c.parent_key_result_id is not None:
            raise ValidationError(
                "align to an objective or to a key result, not both", field="parentKeyResultId"
            )
        parent, kr_id, field_name = _parent(app, c)
        if parent is not None:
            if parent.state == ObjectiveState.ABANDONED.value:
                raise RuleViolation("cannot align to an abandoned objective", field=field_name)
            if parent.cycle_id != objective.cycle_id:
                raise AlignmentAcrossCyclesError(
                    "the parent belongs to another cycle: an objective aligns only under an"
                    " objective or key result of its own cycle",
                    field=field_name,
                )
            app.check_no_cycle(objective.id, parent)
        old_parent = app.parent_id(objective)
        objective.align(None if kr_id is not None or parent is None else parent.id, kr_id)
        changed: list[OkrAggregate] = []
        old_index: ChildrenIndex | None = None
        if old_parent is not None:
            old_index = app.children_index(old_parent)
            if old_index is not None:
                old_index.remove(objective.id)
                changed.append(old_index)
        if parent is not None:
            new_index = (
                old_index
                if old_parent == parent.id and old_index is not None
                else app.children_index(parent.id) or ChildrenIndex(parent_objective_id=parent.id)
            )
            new_index.add(objective.id, kr_id)
            if new_index not in changed:
                changed.append(new_index)
        return [i for i in changed if i.pending_events]

    return on_objective(app, c.objective_id, change)


def _parent(app: OkrApplication, c: AlignObjective) -> tuple[Objective | None, UUID | None, str]:
    """(parent objective, parent key result id, the input field naming it)."""
    if c.parent_key_result_id is not None:
        field_name = "parentKeyResultId"
        parent = app.objective_of_key_result(c.parent_key_result_id, field_name)
        return parent, parse_id(c.parent_key_result_id, KeyResultNotFoundError, field_name), field_name
    if c.parent_objective_id is not None:
        field_name = "parentObjectiveId"
        pid = parse_id(c.parent_objective_id, ObjectiveNotFoundError, field_name)
        try:
            return app.load(Objective, pid, ObjectiveNotFoundError, "objective"), None, field_name
        except NotFoundError:
            raise ObjectiveNotFoundError(f"objective {pid} not found", field=field_name) from None
    return None, None, "parentObjectiveId"


@handles(ActivateObjective)
def activate_objective(app: OkrApplication, c: ActivateObjective) -> Outcome:
    """Warnings: the key-result count (2-4) and the team's active objectives in the cycle (3-5);
    strict orgs refuse a key-result count out of range and a team's 6th (POLICY_VIOLATION); an org
    whose approval policy requires it refuses an unapproved objective (APPROVAL_REQUIRED)."""
    from okr.handlers.approvals import approval_required  # approvals builds on this module

    def change(objective: Objective) -> list[str]:
        app.get_cycle(objective.cycle_id).check_open()
        strict, _ = app.org_settings()
        team_warnings: list[str] = []
        team_violations: list[str] = []
        if objective.team_id is not None and objective.state == ObjectiveState.DRAFT.value:
            team = app.load(Team, objective.team_id, TeamNotFoundError, "team")
            index = app.cycle_index(objective.cycle_id)
            others = index.active_count(team.id) - (
                1 if index.entry(objective.id) == (str(team.id), ObjectiveState.ACTIVE.value) else 0
            )
            team_warnings, team_violations = team_policy(team, others + 1, strict)
        return objective.activate(
            strict_policies=strict,
            team_warnings=team_warnings,
            team_violations=team_violations,
            approval_required=approval_required(app),
        )

    return on_objective(app, c.objective_id, change)


@handles(CloseObjective)
def close_objective(app: OkrApplication, c: CloseObjective) -> Outcome:
    def change(objective: Objective) -> None:
        objective.check_active()
        objective.close(c.learnings, app.child_scores(objective))

    return on_objective(app, c.objective_id, change, frozen_ok=True)


@handles(ScoreObjective)
def score_objective(app: OkrApplication, c: ScoreObjective) -> Outcome:
    """Refused once the cycle is closed (its scores are final)."""

    def change(objective: Objective) -> None:
        objective.score_objective(c.score, c.reason, app.child_scores(objective))

    return on_objective(app, c.objective_id, change)


@handles(AbandonObjective)
def abandon_objective(app: OkrApplication, c: AbandonObjective) -> Outcome:
    def change(objective: Objective) -> None:
        objective.abandon(c.reason)

    return on_objective(app, c.objective_id, change, frozen_ok=True)


@handles(CarryOverObjective)
def carry_over_objective(app: OkrApplication, c: CarryOverObjective) -> Outcome:
    source = app.get_objective(c.objective_id)
    authorize_objective(app, source)
    target_cycle = app.get_cycle(c.target_cycle_id)
    target_cycle.check_open()
    if target_cycle.id == source.cycle_id:
        raise ValidationError("carry over into another cycle", field="targetCycleId")
    unfinished = source.unfinished_key_results()
    if not unfinished:
        raise RuleViolation("every key result is finished: nothing to carry over")
    copy = Objective.draft(
        cycle_id=target_cycle.id,
        team_id=source.team_id,
        owner=source.owner,
        title=source.title,
        description=source.description,
        driver=source.driver,
        weight=source.weight,
        carried_over_from=source.id,
    )
    indexes: list[OkrAggregate] = []
    for kr in unfinished:
        spec = _carried_spec(kr)
        if spec is None:  # pragma: no cover - unfinished numeric KRs have current != target
            continue
        new_id = copy.add_key_result(spec, current=kr.current)
        indexes.append(KeyResultIndex(key_result_id=new_id, objective_id=copy.id))
    source.mark_carried_over(copy.id, target_cycle.id)
    indexes.extend(app.index_objectives([copy]))
    return Outcome([source, copy, *indexes], copy.id, extra={"sourceObjectiveId": str(source.id)})


def _carried_spec(kr: KeyResult) -> KeyResultSpec | None:
    """The key result's copy for the next cycle: numeric kinds start at their last value."""
    numeric = f.KeyResultKind(kr.kind) in f.NUMERIC_KINDS
    if numeric and kr.current == kr.target:
        return None
    return KeyResultSpec.build(
        title=kr.title,
        kind=kr.kind,
        start=kr.current if numeric else kr.start,
        target=kr.target,
        unit=kr.unit,
        weight=kr.weight,
        source=kr.source,
        cadence_days=kr.cadence_days,
        direction=None if numeric else kr.direction,
    )
