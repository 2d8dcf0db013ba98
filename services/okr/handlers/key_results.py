"""Key results: added to an objective, revised, removed, checked in, scored. A key result is
addressed by its own id (the write-side KeyResultIndex finds its objective)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from okr.access import authorize_check_in, authorize_objective
from okr.commands import AddKeyResult, CheckInKeyResult, RemoveKeyResult, ReviseKeyResult, ScoreKeyResult
from okr.domain.errors import KeyResultNotFoundError
from okr.domain.internal import KeyResultIndex
from okr.domain.key_result import KeyResultSpec
from okr.domain.objective import Objective, ObjectiveState
from okr.handlers import Outcome, handles
from okr.lookups import parse_id

if TYPE_CHECKING:
    from okr.application import OkrApplication


def on_key_result(
    app: OkrApplication,
    key_result_id: UUID | str,
    change: Callable[[Objective, UUID], list[str] | None],
    *,
    check_in: bool = False,
) -> Outcome:
    """Finds the key result's objective and authorises the change (by ownership, or for
    check-ins by team); objectives of a closed cycle are frozen (CYCLE_CLOSED)."""
    objective = app.objective_of_key_result(key_result_id)
    if check_in:
        authorize_check_in(app, objective)
    else:
        authorize_objective(app, objective)
    kr_id = parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")
    app.check_not_frozen(objective, "keyResultId")
    warnings = change(objective, kr_id) or []
    return Outcome([objective], kr_id, warnings=warnings, extra={"objectiveId": str(objective.id)})


@handles(AddKeyResult)
def add_key_result(app: OkrApplication, c: AddKeyResult) -> Outcome:
    objective = app.get_objective(c.objective_id)
    authorize_objective(app, objective)
    app.check_not_frozen(objective, "objectiveId")
    strict, org_cadence = app.org_settings()
    spec = KeyResultSpec.build(
        title=c.title,
        kind=c.kind,
        start=c.start,
        target=c.target,
        unit=c.unit,
        weight=c.weight,
        source=c.source,
        cadence_days=c.cadence_days if c.cadence_days is not None else org_cadence,
        direction=c.direction,
    )
    kr_id = objective.add_key_result(spec, strict_policies=strict)
    index = KeyResultIndex(key_result_id=kr_id, objective_id=objective.id)
    return Outcome(
        [objective, index],
        kr_id,
        warnings=objective.active_policy_warnings(),
        extra={"objectiveId": str(objective.id)},
    )


@handles(ReviseKeyResult)
def revise_key_result(app: OkrApplication, c: ReviseKeyResult) -> Outcome:
    changes = {k: v for k, v in c.args().items() if k != "key_result_id"}

    def change(objective: Objective, kr_id: UUID) -> None:
        objective.revise_key_result(kr_id, **changes)

    return on_key_result(app, c.key_result_id, change)


@handles(RemoveKeyResult)
def remove_key_result(app: OkrApplication, c: RemoveKeyResult) -> Outcome:
    def change(objective: Objective, kr_id: UUID) -> list[str]:
        strict, _ = app.org_settings()
        objective.remove_key_result(kr_id, strict_policies=strict)
        return objective.active_policy_warnings()

    return on_key_result(app, c.key_result_id, change)


@handles(CheckInKeyResult)
def check_in(app: OkrApplication, c: CheckInKeyResult) -> Outcome:
    def change(objective: Objective, kr_id: UUID) -> None:
        app.check_cycle_accepts_check_ins(objective)
        objective.check_in(kr_id, c.value, c.confidence, c.note)

    return on_key_result(app, c.key_result_id, change, check_in=True)


@handles(ScoreKeyResult)
def score_key_result(app: OkrApplication, c: ScoreKeyResult) -> Outcome:
    def change(objective: Objective, kr_id: UUID) -> None:
        children = app.child_scores(objective) if objective.state == ObjectiveState.CLOSED.value else []
        objective.score_key_result(kr_id, c.score, c.reason, children)

    return on_key_result(app, c.key_result_id, change)
