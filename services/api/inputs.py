"""The mutations' inputs: one explicit, typed GraphQL input per command (okr.commands).

Each input has its command's fields by name (the enums are the domain's StrEnums, see api.types)
plus `idempotency_key`; `api.mutations` converts an input into its command field by field and
refuses at import time an input whose fields do not match its command's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from api.reminders import ReminderFrequency, Weekday
from api.types import Direction, Impact, KeyResultKind, ProgressDriver, ProgressSource, TeamRole

IDEMPOTENCY_DOC = "Repeat a request safely: the same key returns the first result and writes nothing."


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
    direction: Direction | None = strawberry.field(
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
    direction: Direction | None = None
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


@strawberry.input(description="Rename and/or move a team; omitted fields keep their value.")
class ReviseTeamInput:
    team_id: strawberry.ID
    name: str | None = strawberry.field(default=None, description="The new name (null keeps it).")
    parent_team_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Move the team under this team (null keeps its parent); never under itself or a sub-team."
        ),
    )
    top_level: bool = strawberry.field(
        default=False, description="Move the team to the top level (no parent); not with parentTeamId."
    )
    idempotency_key: str | None = _key()


# ---------------------------------------------------------------------------------- discussion and approval
@strawberry.input
class ProposeObjectiveInput:
    objective_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class ApproveObjectiveInput:
    objective_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input
class ConfigureApprovalInput:
    approval_required: bool = strawberry.field(
        description="Objectives need a lead's approval before they activate (a new org: false)."
    )
    idempotency_key: str | None = _key()


@strawberry.input
class AddCommentInput:
    subject_id: strawberry.ID = strawberry.field(
        description="An objective's or key result's id, or a check-in's id (`checkin:<position>`)."
    )
    body: str = strawberry.field(description="1-5,000 characters; `@user-id` mentions are listed.")
    reply_to_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Reply in this comment's thread (a reply to a reply joins the thread's root).",
    )
    idempotency_key: str | None = _key()


@strawberry.input
class EditCommentInput:
    comment_id: strawberry.ID
    body: str
    idempotency_key: str | None = _key()


@strawberry.input
class DeleteCommentInput:
    comment_id: strawberry.ID
    idempotency_key: str | None = _key()


@strawberry.input(description="The org's check-in reminder schedule (every field is set; see the README).")
class ConfigureRemindersInput:
    weekday: Weekday = strawberry.field(default=Weekday.MONDAY, description="The day reminders go out.")
    hour: int = strawberry.field(default=9, description="0-23, in `timezone`.")
    timezone: str = strawberry.field(default="UTC", description="An IANA time zone, e.g. Europe/Berlin.")
    frequency: ReminderFrequency = strawberry.field(default=ReminderFrequency.WEEKLY)
    grace_days: int = strawberry.field(
        default=2,
        description="Days after a reminder until overdue (WEEKLY 1-6, TWICE_MONTHLY 1-13, MONTHLY 1-27).",
    )
    idempotency_key: str | None = _key()
