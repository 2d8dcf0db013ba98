"""Mutations: one per command, `name(input: NameInput!): NamePayload!`.

Expected failures (bad input, not found — also for other orgs' ids —, forbidden, rule
violations) come back in `errors { code message field }` and write nothing. Every input takes an
optional `idempotencyKey`: repeating it returns the first result and appends nothing. `position`
is the log position written: pass it as `consistentWith` to read your own writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Any, TypeVar

import strawberry

from api import _doc as doc
from api.context import Context, Instant, parse_uuid
from api.types import (
    Cycle,
    Impact,
    KeyResult,
    KeyResultKind,
    Objective,
    ProgressDriver,
    ProgressSource,
    Task,
    Team,
    TeamRole,
)
from api.types import Direction as DirectionEnum
from okr.application import CommandResult
from okr.domain.errors import ConcurrencyConflictError, DomainError
from okr.observability import observe_command

Info = strawberry.Info[Context, None]
P = TypeVar("P", bound="MutationPayload")
IDEMPOTENCY_DOC = "Repeat a request safely: the same key returns the first result and writes nothing."


@strawberry.type(description="An expected failure: nothing was written.")
class UserError:
    code: str
    message: str
    field: str | None


@strawberry.interface(description="What every mutation returns.")
class MutationPayload:
    errors: list[UserError]
    position: int | None = strawberry.field(
        description="Log position written (pass it as consistentWith to read your own write)."
    )
    id: strawberry.ID | None = strawberry.field(description="The id of the main aggregate or entity.")
    warnings: list[str]
    replayed: bool = strawberry.field(description="True when an idempotency key repeated an earlier request.")
    extra: strawberry.Private[dict[str, str]]


def _instant(payload: MutationPayload) -> Instant | None:
    """What a payload's nested fields read: the live views once they reached this write, or —
    for a replayed idempotency key — the world as of the first write's position (the first
    payload, not today's state). None: nothing was written."""
    if payload.errors or payload.id is None or payload.position is None:
        return None
    if payload.replayed:
        return Instant(position=payload.position)
    return Instant(after=payload.position)


@strawberry.type
class CycleResult(MutationPayload):
    @doc.field("The cycle after this write.")
    async def cycle(self, info: Info) -> Cycle | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).cycle(parse_uuid(str(self.id), "id"))
        return None if view is None else Cycle.from_view(view)


@strawberry.type
class TeamResult(MutationPayload):
    @doc.field("The team after this write.")
    async def team(self, info: Info) -> Team | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).teams.load(parse_uuid(str(self.id), "id"))
        return None if view is None else Team.from_view(view, when)


@strawberry.type
class ObjectiveResult(MutationPayload):
    @doc.field("The objective after this write.")
    async def objective(self, info: Info) -> Objective | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).objective(parse_uuid(str(self.id), "id"))
        return None if view is None else Objective.from_view(view, when)


@strawberry.type
class KeyResultResult(MutationPayload):
    @doc.field("The key result after this write.")
    async def key_result(self, info: Info) -> KeyResult | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).key_result(parse_uuid(str(self.id), "id"))
        return None if view is None else KeyResult.from_view(view, when)

    @doc.field("The key result's objective after this write.")
    async def objective(self, info: Info) -> Objective | None:
        if (when := _instant(self)) is None or "objectiveId" not in self.extra:
            return None
        view = await info.context.reader(when).objective(parse_uuid(self.extra["objectiveId"], "id"))
        return None if view is None else Objective.from_view(view, when)


@strawberry.type
class TaskResult(MutationPayload):
    @doc.field("The task after this write (its key result and objective too).")
    async def task(self, info: Info) -> Task | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).task(parse_uuid(str(self.id), "id"))
        return None if view is None else Task.from_view(view, when)


# ---------------------------------------------------------------------------------- payloads
@strawberry.type
class ConfigureOrgPayload(MutationPayload):
    pass


@strawberry.type
class ScheduleCyclePayload(CycleResult):
    pass


@strawberry.type
class StartCyclePayload(CycleResult):
    pass


@strawberry.type
class CloseCyclePayload(CycleResult):
    pass


@strawberry.type
class CreateTeamPayload(TeamResult):
    pass


@strawberry.type
class AddTeamMemberPayload(TeamResult):
    pass


@strawberry.type
class RemoveTeamMemberPayload(TeamResult):
    pass


@strawberry.type
class DraftObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class ReviseObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class AlignObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class ActivateObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class CloseObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class AbandonObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class ScoreObjectivePayload(ObjectiveResult):
    pass


@strawberry.type(description="`objective` is the new draft in the target cycle.")
class CarryOverObjectivePayload(ObjectiveResult):
    pass


@strawberry.type
class AddKeyResultPayload(KeyResultResult):
    pass


@strawberry.type
class ReviseKeyResultPayload(KeyResultResult):
    pass


@strawberry.type(description="`keyResult` is null (it was removed); `objective` is its objective.")
class RemoveKeyResultPayload(KeyResultResult):
    pass


@strawberry.type
class CheckInKeyResultPayload(KeyResultResult):
    pass


@strawberry.type
class ScoreKeyResultPayload(KeyResultResult):
    pass


@strawberry.type
class CreateTaskPayload(TaskResult):
    pass


@strawberry.type
class LinkTaskPayload(TaskResult):
    pass


@strawberry.type
class AssignTaskPayload(TaskResult):
    pass


@strawberry.type
class ReviseTaskPayload(TaskResult):
    pass


@strawberry.type
class StartTaskPayload(TaskResult):
    pass


@strawberry.type
class CompleteTaskPayload(TaskResult):
    pass


@strawberry.type
class ReopenTaskPayload(TaskResult):
    pass


@strawberry.type
class CancelTaskPayload(TaskResult):
    pass


# ---------------------------------------------------------------------------------- inputs
def _key() -> Any:
    return strawberry.field(default=None, description=IDEMPOTENCY_DOC)


@strawberry.input(description="Only the settings given change; omitted ones keep their value.")
class ConfigureOrgInput:
    strict_policies: bool | None = strawberry.field(
        default=None,
        description="Policy breaches become errors instead of warnings (a new org: false).",
    )
    cadence_days: int | None = strawberry.field(
        default=None, description="Default check-in cadence of new key results, 1-366 days (a new org: 7)."
    )
    check_ins_open_to_all: bool | None = strawberry.field(
        default=None,
        description=(
            "Anyone with the member role may check in on any key result of the org; otherwise only"
            " members of the objective's team and its owner (a new org: false)."
        ),
    )
    idempotency_key: str | None = _key()


@strawberry.input
class ScheduleCycleInput:
    name: str
    start: date
    end: date
    idempotency_key: str | None = _key()


@strawberry.input
class StartCycleInput:
    cycle_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class CloseCycleInput:
    cycle_id: strawberry.ID
    close_active_objectives: bool = strawberry.field(
        default=False,
        description=(
            "Close and score the cycle's ACTIVE objectives in the same write; without it a cycle"
            " with active objectives is refused (CYCLE_HAS_ACTIVE_OBJECTIVES)."
        ),
    )
    idempotency_key: str | None = _key()


@strawberry.input
class CreateTeamInput:
    name: str
    parent_team_id: strawberry.ID | None = None
    idempotency_key: str | None = _key()


@strawberry.input
class AddTeamMemberInput:
    team_id: strawberry.ID
    user_id: str
    role: TeamRole = TeamRole.MEMBER
    idempotency_key: str | None = _key()


@strawberry.input
class RemoveTeamMemberInput:
    team_id: strawberry.ID
    user_id: str
    idempotency_key: str | None = _key()


@strawberry.input
class DraftObjectiveInput:
    cycle_id: strawberry.ID
    title: str
    team_id: strawberry.ID | None = None
    owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    description: str = ""
    driver: ProgressDriver = ProgressDriver.KEY_RESULTS
    weight: float = 1.0
    idempotency_key: str | None = _key()


@strawberry.input
class ReviseObjectiveInput:
    objective_id: strawberry.ID
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    team_id: strawberry.ID | None = None
    driver: ProgressDriver | None = None
    weight: float | None = None
    idempotency_key: str | None = _key()


@strawberry.input(description="Align under an objective or a key result; both null unaligns.")
class AlignObjectiveInput:
    objective_id: strawberry.ID
    parent_objective_id: strawberry.ID | None = None
    parent_key_result_id: strawberry.ID | None = None
    idempotency_key: str | None = _key()


@strawberry.input
class ActivateObjectiveInput:
    objective_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class CloseObjectiveInput:
    objective_id: strawberry.ID
    learnings: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class ScoreObjectiveInput:
    objective_id: strawberry.ID
    score: float = strawberry.field(
        description="0.0-1.0; a reason is required when it overrides the computed score."
    )
    reason: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class AbandonObjectiveInput:
    objective_id: strawberry.ID
    reason: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class CarryOverObjectiveInput:
    objective_id: strawberry.ID
    target_cycle_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class AddKeyResultInput:
    objective_id: strawberry.ID
    title: str
    kind: KeyResultKind
    start: float = 0.0
    target: float = 1.0
    unit: str = ""
    weight: float = 1.0
    source: ProgressSource = ProgressSource.CHECK_INS
    cadence_days: int | None = strawberry.field(default=None, description="Defaults to the org's cadence.")
    direction: DirectionEnum | None = strawberry.field(
        default=None, description="Derived from start and target for numeric kinds."
    )
    idempotency_key: str | None = _key()


@strawberry.input
class ReviseKeyResultInput:
    key_result_id: strawberry.ID
    title: str | None = None
    kind: KeyResultKind | None = None
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    weight: float | None = None
    source: ProgressSource | None = None
    cadence_days: int | None = None
    direction: DirectionEnum | None = None
    idempotency_key: str | None = _key()


@strawberry.input
class RemoveKeyResultInput:
    key_result_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class CheckInKeyResultInput:
    key_result_id: strawberry.ID
    value: float
    confidence: float | None = strawberry.field(default=None, description="0.0-1.0")
    note: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class ScoreKeyResultInput:
    key_result_id: strawberry.ID
    score: float = strawberry.field(
        description="0.0-1.0; a reason is required when it overrides the default."
    )
    reason: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class CreateTaskInput:
    title: str
    key_result_id: strawberry.ID | None = strawberry.field(default=None, description="null: unaligned.")
    description: str = ""
    impact: Impact = Impact.MEDIUM
    assignee: str | None = None
    team_id: strawberry.ID | None = None
    cycle_id: strawberry.ID | None = None
    idempotency_key: str | None = _key()


@strawberry.input
class LinkTaskInput:
    task_id: strawberry.ID
    key_result_id: strawberry.ID | None = strawberry.field(default=None, description="null unlinks the task.")
    idempotency_key: str | None = _key()


@strawberry.input
class AssignTaskInput:
    task_id: strawberry.ID
    assignee: str | None = strawberry.field(default=None, description="null unassigns the task.")
    idempotency_key: str | None = _key()


@strawberry.input
class ReviseTaskInput:
    task_id: strawberry.ID
    title: str | None = None
    description: str | None = None
    impact: Impact | None = None
    idempotency_key: str | None = _key()


@strawberry.input
class StartTaskInput:
    task_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class CompleteTaskInput:
    task_id: strawberry.ID
    value: float | None = strawberry.field(
        default=None, description="Report a new value for the linked key result in the same write."
    )
    confidence: float | None = None
    note: str = ""
    idempotency_key: str | None = _key()


@strawberry.input
class ReopenTaskInput:
    task_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class CancelTaskInput:
    task_id: strawberry.ID
    reason: str = ""
    idempotency_key: str | None = _key()


# ---------------------------------------------------------------------------------- execution
def _v(value: Any) -> Any:
    """Enums to their values; everything else as is."""
    return value.value if isinstance(value, Enum) else value


async def _execute(info: Info, call: Callable[[], CommandResult], payload: type[P]) -> P:
    command = info.python_name
    try:
        result = await info.context.write(call)
    except ConcurrencyConflictError as exc:
        observe_command(command, "conflict")
        error = UserError(code=exc.code, message=exc.message, field=exc.field)
        return payload(errors=[error], position=None, id=None, warnings=[], replayed=False, extra={})
    except DomainError as exc:
        observe_command(command, "rejected")
        error = UserError(code=exc.code, message=exc.message, field=exc.field)
        return payload(errors=[error], position=None, id=None, warnings=[], replayed=False, extra={})
    except Exception:
        observe_command(command, "error")
        raise
    observe_command(command, "replayed" if result.replayed else "ok")
    return payload(
        errors=[],
        position=result.position,
        id=strawberry.ID(str(result.id)),
        warnings=list(result.warnings),
        replayed=result.replayed,
        extra=dict(result.extra),
    )


@strawberry.type
class Mutation:
    @doc.mutation("Org settings: strict policies, check-in cadence (admin).")
    async def configure_org(self, info: Info, input: ConfigureOrgInput) -> ConfigureOrgPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.configure_org(
                strict_policies=input.strict_policies,
                cadence_days=input.cadence_days,
                check_ins_open_to_all=input.check_ins_open_to_all,
                idempotency_key=input.idempotency_key,
            ),
            ConfigureOrgPayload,
        )

    @strawberry.mutation
    async def schedule_cycle(self, info: Info, input: ScheduleCycleInput) -> ScheduleCyclePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.schedule_cycle(
                name=input.name, start=input.start, end=input.end, idempotency_key=input.idempotency_key
            ),
            ScheduleCyclePayload,
        )

    @strawberry.mutation
    async def start_cycle(self, info: Info, input: StartCycleInput) -> StartCyclePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.start_cycle(input.cycle_id, idempotency_key=input.idempotency_key),
            StartCyclePayload,
        )

    @doc.mutation(
        "Closes (freezes) the cycle; refused while objectives are ACTIVE unless"
        " closeActiveObjectives closes and scores them too (admin)."
    )
    async def close_cycle(self, info: Info, input: CloseCycleInput) -> CloseCyclePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.close_cycle(
                input.cycle_id,
                close_active_objectives=input.close_active_objectives,
                idempotency_key=input.idempotency_key,
            ),
            CloseCyclePayload,
        )

    @strawberry.mutation
    async def create_team(self, info: Info, input: CreateTeamInput) -> CreateTeamPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.create_team(
                name=input.name, parent_team_id=input.parent_team_id, idempotency_key=input.idempotency_key
            ),
            CreateTeamPayload,
        )

    @strawberry.mutation
    async def add_team_member(self, info: Info, input: AddTeamMemberInput) -> AddTeamMemberPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.add_team_member(
                input.team_id,
                user_id=input.user_id,
                role=_v(input.role),
                idempotency_key=input.idempotency_key,
            ),
            AddTeamMemberPayload,
        )

    @strawberry.mutation
    async def remove_team_member(self, info: Info, input: RemoveTeamMemberInput) -> RemoveTeamMemberPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.remove_team_member(
                input.team_id, user_id=input.user_id, idempotency_key=input.idempotency_key
            ),
            RemoveTeamMemberPayload,
        )

    @strawberry.mutation
    async def draft_objective(self, info: Info, input: DraftObjectiveInput) -> DraftObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.draft_objective(
                cycle_id=input.cycle_id,
                title=input.title,
                team_id=input.team_id,
                owner=input.owner,
                description=input.description,
                driver=_v(input.driver),
                weight=input.weight,
                idempotency_key=input.idempotency_key,
            ),
            DraftObjectivePayload,
        )

    @strawberry.mutation
    async def revise_objective(self, info: Info, input: ReviseObjectiveInput) -> ReviseObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.revise_objective(
                input.objective_id,
                title=input.title,
                description=input.description,
                owner=input.owner,
                team_id=input.team_id,
                driver=_v(input.driver),
                weight=input.weight,
                idempotency_key=input.idempotency_key,
            ),
            ReviseObjectivePayload,
        )

    @strawberry.mutation
    async def align_objective(self, info: Info, input: AlignObjectiveInput) -> AlignObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.align_objective(
                input.objective_id,
                parent_objective_id=input.parent_objective_id,
                parent_key_result_id=input.parent_key_result_id,
                idempotency_key=input.idempotency_key,
            ),
            AlignObjectivePayload,
        )

    @doc.mutation("DRAFT -> ACTIVE; policy warnings come back in `warnings`.")
    async def activate_objective(self, info: Info, input: ActivateObjectiveInput) -> ActivateObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.activate_objective(input.objective_id, idempotency_key=input.idempotency_key),
            ActivateObjectivePayload,
        )

    @doc.mutation("Scores it (default scores for unscored key results) and closes it.")
    async def close_objective(self, info: Info, input: CloseObjectiveInput) -> CloseObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.close_objective(
                input.objective_id, learnings=input.learnings, idempotency_key=input.idempotency_key
            ),
            CloseObjectivePayload,
        )

    @doc.mutation("Overrides a CLOSED objective's score (a reason when it differs from the computed one).")
    async def score_objective(self, info: Info, input: ScoreObjectiveInput) -> ScoreObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.score_objective(
                input.objective_id,
                score=input.score,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
            ScoreObjectivePayload,
        )

    @strawberry.mutation
    async def abandon_objective(self, info: Info, input: AbandonObjectiveInput) -> AbandonObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.abandon_objective(
                input.objective_id, reason=input.reason, idempotency_key=input.idempotency_key
            ),
            AbandonObjectivePayload,
        )

    @doc.mutation("Drafts a copy with the unfinished key results in another cycle.")
    async def carry_over_objective(
        self, info: Info, input: CarryOverObjectiveInput
    ) -> CarryOverObjectivePayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.carry_over_objective(
                input.objective_id,
                target_cycle_id=input.target_cycle_id,
                idempotency_key=input.idempotency_key,
            ),
            CarryOverObjectivePayload,
        )

    @strawberry.mutation
    async def add_key_result(self, info: Info, input: AddKeyResultInput) -> AddKeyResultPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.add_key_result(
                input.objective_id,
                title=input.title,
                kind=_v(input.kind),
                start=input.start,
                target=input.target,
                unit=input.unit,
                weight=input.weight,
                source=_v(input.source),
                cadence_days=input.cadence_days,
                direction=_v(input.direction),
                idempotency_key=input.idempotency_key,
            ),
            AddKeyResultPayload,
        )

    @strawberry.mutation
    async def revise_key_result(self, info: Info, input: ReviseKeyResultInput) -> ReviseKeyResultPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.revise_key_result(
                input.key_result_id,
                title=input.title,
                kind=_v(input.kind),
                start=input.start,
                target=input.target,
                unit=input.unit,
                weight=input.weight,
                source=_v(input.source),
                cadence_days=input.cadence_days,
                direction=_v(input.direction),
                idempotency_key=input.idempotency_key,
            ),
            ReviseKeyResultPayload,
        )

    @strawberry.mutation
    async def remove_key_result(self, info: Info, input: RemoveKeyResultInput) -> RemoveKeyResultPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.remove_key_result(input.key_result_id, idempotency_key=input.idempotency_key),
            RemoveKeyResultPayload,
        )

    @doc.mutation("A new value with a confidence (0-1) and a note.")
    async def check_in_key_result(self, info: Info, input: CheckInKeyResultInput) -> CheckInKeyResultPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.check_in(
                input.key_result_id,
                value=input.value,
                confidence=input.confidence,
                note=input.note,
                idempotency_key=input.idempotency_key,
            ),
            CheckInKeyResultPayload,
        )

    @strawberry.mutation
    async def score_key_result(self, info: Info, input: ScoreKeyResultInput) -> ScoreKeyResultPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.score_key_result(
                input.key_result_id,
                score=input.score,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
            ScoreKeyResultPayload,
        )

    @strawberry.mutation
    async def create_task(self, info: Info, input: CreateTaskInput) -> CreateTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.create_task(
                title=input.title,
                key_result_id=input.key_result_id,
                description=input.description,
                impact=_v(input.impact),
                assignee=input.assignee,
                team_id=input.team_id,
                cycle_id=input.cycle_id,
                idempotency_key=input.idempotency_key,
            ),
            CreateTaskPayload,
        )

    @strawberry.mutation
    async def link_task(self, info: Info, input: LinkTaskInput) -> LinkTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.link_task(
                input.task_id, key_result_id=input.key_result_id, idempotency_key=input.idempotency_key
            ),
            LinkTaskPayload,
        )

    @strawberry.mutation
    async def assign_task(self, info: Info, input: AssignTaskInput) -> AssignTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.assign_task(
                input.task_id, assignee=input.assignee, idempotency_key=input.idempotency_key
            ),
            AssignTaskPayload,
        )

    @strawberry.mutation
    async def revise_task(self, info: Info, input: ReviseTaskInput) -> ReviseTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.revise_task(
                input.task_id,
                title=input.title,
                description=input.description,
                impact=_v(input.impact),
                idempotency_key=input.idempotency_key,
            ),
            ReviseTaskPayload,
        )

    @strawberry.mutation
    async def start_task(self, info: Info, input: StartTaskInput) -> StartTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.start_task(input.task_id, idempotency_key=input.idempotency_key),
            StartTaskPayload,
        )

    @doc.mutation("With `value`, checks in the linked key result in the same write.")
    async def complete_task(self, info: Info, input: CompleteTaskInput) -> CompleteTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.complete_task(
                input.task_id,
                value=input.value,
                confidence=input.confidence,
                note=input.note,
                idempotency_key=input.idempotency_key,
            ),
            CompleteTaskPayload,
        )

    @strawberry.mutation
    async def reopen_task(self, info: Info, input: ReopenTaskInput) -> ReopenTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.reopen_task(input.task_id, idempotency_key=input.idempotency_key),
            ReopenTaskPayload,
        )

    @strawberry.mutation
    async def cancel_task(self, info: Info, input: CancelTaskInput) -> CancelTaskPayload:
        app = info.context.app
        return await _execute(
            info,
            lambda: app.cancel_task(
                input.task_id, reason=input.reason, idempotency_key=input.idempotency_key
            ),
            CancelTaskPayload,
        )
