"""Commands as data: one frozen dataclass per command; its fields are the command.

`OkrApplication.execute(command, idempotency_key=None)` dispatches a command to its handler
(`okr.handlers`, one module per aggregate) under the caller's RequestContext. The class says who
may send it (`roles`, checked before anything is read) and its `command_name`, which is the
metrics label and the command stored with an idempotency key; the fingerprint of a repeated key
is computed from the fields (`Command.args`), so a field added later must default to a value
that leaves older fingerprints unchanged only if it is omitted from `args` (see `Command.args`).

Ids are `UUID | str` as the client sent them (a malformed one is the handler's typed
"not found"); enumerations are their string values (`"NUMERIC"`, `"HIGH"`), which the domain's
StrEnums accept and the API's enums produce.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

Id = UUID | str

ADMIN: tuple[str, ...] = ("admin",)
LEADS: tuple[str, ...] = ("admin", "lead")
MEMBERS: tuple[str, ...] = ("admin", "lead", "member")


@dataclass(frozen=True)
class Command:
    """Base of every command."""

    command_name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]] = ADMIN

    def args(self) -> dict[str, Any]:
        """The fields by name (what an idempotency key's fingerprint is computed from)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ------------------------------------------------------------------ organization
@dataclass(frozen=True)
class ConfigureOrg(Command):
    """Changes only the settings given (None keeps the current value; a new org starts from
    strict_policies=False, cadence_days=7, check_ins_open_to_all=False)."""

    command_name: ClassVar[str] = "configure_org"
    strict_policies: bool | None = None
    cadence_days: int | None = None
    check_ins_open_to_all: bool | None = None


@dataclass(frozen=True)
class ConfigureReminders(Command):
    """The org's check-in reminder schedule (okr.domain.reminder): the weekday and hour in its
    time zone, how often (WEEKLY, TWICE_MONTHLY: first and third weekday of the month, MONTHLY:
    the first) and the grace days until a due check-in is overdue. Every field is set; an org that
    never sent it has MONDAY 9:00 UTC, WEEKLY, 2 grace days."""

    command_name: ClassVar[str] = "configure_reminders"
    weekday: str = "MONDAY"
    hour: int = 9
    timezone: str = "UTC"
    frequency: str = "WEEKLY"
    grace_days: int = 2


# ------------------------------------------------------------------ cycles
@dataclass(frozen=True)
class ScheduleCycle(Command):
    command_name: ClassVar[str] = "schedule_cycle"
    name: str
    start: date
    end: date


@dataclass(frozen=True)
class StartCycle(Command):
    command_name: ClassVar[str] = "start_cycle"
    cycle_id: Id


@dataclass(frozen=True)
class CloseCycle(Command):
    """Closes (freezes) a cycle. Refused while objectives are ACTIVE
    (CYCLE_HAS_ACTIVE_OBJECTIVES, naming each) unless `close_active_objectives`: then each is
    closed and scored in the same atomic write (children before their parents)."""

    command_name: ClassVar[str] = "close_cycle"
    cycle_id: Id
    close_active_objectives: bool = False


# ------------------------------------------------------------------ teams
@dataclass(frozen=True)
class CreateTeam(Command):
    command_name: ClassVar[str] = "create_team"
    name: str
    parent_team_id: Id | None = None


@dataclass(frozen=True)
class AddTeamMember(Command):
    command_name: ClassVar[str] = "add_team_member"
    team_id: Id
    user_id: str
    role: str = "MEMBER"


@dataclass(frozen=True)
class RemoveTeamMember(Command):
    command_name: ClassVar[str] = "remove_team_member"
    team_id: Id
    user_id: str


@dataclass(frozen=True)
class ReviseTeam(Command):
    """Renames and/or moves a team (None keeps the name / the parent; `top_level` moves it to the
    top, with no parent). A team never moves under itself or one of its sub-teams."""

    command_name: ClassVar[str] = "revise_team"
    team_id: Id
    name: str | None = None
    parent_team_id: Id | None = None
    top_level: bool = False


# ------------------------------------------------------------------ objectives
@dataclass(frozen=True)
class DraftObjective(Command):
    """A DRAFT objective in an open cycle; the owner defaults to the caller."""

    command_name: ClassVar[str] = "draft_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    cycle_id: Id
    title: str
    team_id: Id | None = None
    owner: str | None = None
    description: str = ""
    driver: str = "KEY_RESULTS"
    weight: float = 1.0


@dataclass(frozen=True)
class ReviseObjective(Command):
    """Changes only the fields given (None keeps the current value)."""

    command_name: ClassVar[str] = "revise_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    team_id: Id | None = None
    driver: str | None = None
    weight: float | None = None


@dataclass(frozen=True)
class AlignObjective(Command):
    """Aligns under an objective or a key result of the same cycle; None for both unaligns."""

    command_name: ClassVar[str] = "align_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    parent_objective_id: Id | None = None
    parent_key_result_id: Id | None = None


@dataclass(frozen=True)
class ActivateObjective(Command):
    """DRAFT -> ACTIVE, with every policy warning (strict orgs refuse what is out of range)."""

    command_name: ClassVar[str] = "activate_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id


@dataclass(frozen=True)
class CloseObjective(Command):
    """Scores unscored key results with their defaults and closes with the score per driver."""

    command_name: ClassVar[str] = "close_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    learnings: str = ""


@dataclass(frozen=True)
class ScoreObjective(Command):
    """Overrides a CLOSED objective's score (0.0-1.0); a reason is required when it differs
    from the computed score."""

    command_name: ClassVar[str] = "score_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    score: float
    reason: str = ""


@dataclass(frozen=True)
class AbandonObjective(Command):
    command_name: ClassVar[str] = "abandon_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    reason: str = ""


@dataclass(frozen=True)
class CarryOverObjective(Command):
    """Drafts a copy in the target cycle with the unfinished KRs, starting at their last value."""

    command_name: ClassVar[str] = "carry_over_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    target_cycle_id: Id


# ------------------------------------------------------------------ discussion and approval
@dataclass(frozen=True)
class ProposeObjective(Command):
    """Puts a DRAFT objective up for review (the owner or a lead of its team)."""

    command_name: ClassVar[str] = "propose_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id


@dataclass(frozen=True)
class ApproveObjective(Command):
    """Approves a PROPOSED DRAFT objective (a lead of its team, or an admin)."""

    command_name: ClassVar[str] = "approve_objective"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id


@dataclass(frozen=True)
class ConfigureApproval(Command):
    """Whether objectives need an approval before they activate (unset: only in strict orgs)."""

    command_name: ClassVar[str] = "configure_approval"
    approval_required: bool


@dataclass(frozen=True)
class AddComment(Command):
    """A comment on an objective, a key result or a check-in (`checkin:<position>`); with
    `reply_to_id`, a reply in that comment's thread (threads are one level deep)."""

    command_name: ClassVar[str] = "add_comment"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    subject_id: Id
    body: str
    reply_to_id: Id | None = None


@dataclass(frozen=True)
class EditComment(Command):
    """A new body (its author or an admin)."""

    command_name: ClassVar[str] = "edit_comment"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    comment_id: Id
    body: str


@dataclass(frozen=True)
class DeleteComment(Command):
    """Deletes a comment (its author or an admin): it stays in its thread as deleted, its body
    leaves every read model."""

    command_name: ClassVar[str] = "delete_comment"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    comment_id: Id


# ------------------------------------------------------------------ key results
@dataclass(frozen=True)
class AddKeyResult(Command):
    command_name: ClassVar[str] = "add_key_result"
    roles: ClassVar[tuple[str, ...]] = LEADS
    objective_id: Id
    title: str
    kind: str
    start: float = 0.0
    target: float = 1.0
    unit: str = ""
    weight: float = 1.0
    source: str = "CHECK_INS"
    cadence_days: int | None = None  # None: the org's cadence
    direction: str | None = None  # None: derived from start and target (numeric kinds)


@dataclass(frozen=True)
class ReviseKeyResult(Command):
    """Changes only the fields given (None keeps the current value)."""

    command_name: ClassVar[str] = "revise_key_result"
    roles: ClassVar[tuple[str, ...]] = LEADS
    key_result_id: Id
    title: str | None = None
    kind: str | None = None
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    weight: float | None = None
    source: str | None = None
    cadence_days: int | None = None
    direction: str | None = None


@dataclass(frozen=True)
class RemoveKeyResult(Command):
    command_name: ClassVar[str] = "remove_key_result"
    roles: ClassVar[tuple[str, ...]] = LEADS
    key_result_id: Id


@dataclass(frozen=True)
class CheckInKeyResult(Command):
    """A new value with a confidence (0-1) and a note; the event stores before and after."""

    command_name: ClassVar[str] = "check_in"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    key_result_id: Id
    value: float
    confidence: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ScoreKeyResult(Command):
    command_name: ClassVar[str] = "score_key_result"
    roles: ClassVar[tuple[str, ...]] = LEADS
    key_result_id: Id
    score: float
    reason: str = ""


# ------------------------------------------------------------------ tasks
@dataclass(frozen=True)
class CreateTask(Command):
    """A task, aligned to a key result or not (None: unaligned)."""

    command_name: ClassVar[str] = "create_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    title: str
    key_result_id: Id | None = None
    description: str = ""
    impact: str = "MEDIUM"
    assignee: str | None = None
    team_id: Id | None = None
    cycle_id: Id | None = None


@dataclass(frozen=True)
class LinkTask(Command):
    """Links a task to a key result (None unlinks it)."""

    command_name: ClassVar[str] = "link_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id
    key_result_id: Id | None = None


@dataclass(frozen=True)
class AssignTask(Command):
    command_name: ClassVar[str] = "assign_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id
    assignee: str | None = None


@dataclass(frozen=True)
class ReviseTask(Command):
    command_name: ClassVar[str] = "revise_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id
    title: str | None = None
    description: str | None = None
    impact: str | None = None


@dataclass(frozen=True)
class StartTask(Command):
    command_name: ClassVar[str] = "start_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id


@dataclass(frozen=True)
class CompleteTask(Command):
    """Completes a task; with `value`, checks in its key result in the same atomic write."""

    command_name: ClassVar[str] = "complete_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id
    value: float | None = None
    confidence: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ReopenTask(Command):
    command_name: ClassVar[str] = "reopen_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id


@dataclass(frozen=True)
class CancelTask(Command):
    command_name: ClassVar[str] = "cancel_task"
    roles: ClassVar[tuple[str, ...]] = MEMBERS
    task_id: Id
    reason: str = ""


#: Every command, in the order the API lists its mutations.
COMMANDS: tuple[type[Command], ...] = (
    ConfigureOrg,
    ConfigureReminders,
    ScheduleCycle,
    StartCycle,
    CloseCycle,
    CreateTeam,
    AddTeamMember,
    RemoveTeamMember,
    ReviseTeam,
    DraftObjective,
    ReviseObjective,
    AlignObjective,
    ActivateObjective,
    CloseObjective,
    ScoreObjective,
    AbandonObjective,
    CarryOverObjective,
    ProposeObjective,
    ApproveObjective,
    ConfigureApproval,
    AddComment,
    EditComment,
    DeleteComment,
    AddKeyResult,
    ReviseKeyResult,
    RemoveKeyResult,
    CheckInKeyResult,
    ScoreKeyResult,
    CreateTask,
    LinkTask,
    AssignTask,
    ReviseTask,
    StartTask,
    CompleteTask,
    ReopenTask,
    CancelTask,
)
