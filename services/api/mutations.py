"""Mutations: one per command, `name(input: NameInput!): NamePayload!`, all from one table.

Expected failures (bad input, not found — also for other orgs' ids —, forbidden, rule
violations) come back in `errors { code message field }` and write nothing. Every input takes an
optional `idempotencyKey`: repeating it returns the first result and appends nothing. `position`
is the log position written: pass it as `consistentWith` to read your own writes.

`MUTATIONS` lists every command of okr.commands (in their order) with its explicit input
(api.inputs), the result type its payload extends (what the payload reads back) and its docs.
From it come the `<Command>Payload` types and one resolver per mutation, which converts the
input into the command field by field (`to_command`) and runs it with `OkrApplication.execute`.
A table whose inputs and commands disagree on a field is refused at import time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.tools import create_type
from strawberry.types.base import get_object_definition

from api import _doc as doc
from api import inputs as i
from api.context import Context, Instant, parse_uuid
from api.types import Comment, Cycle, KeyResult, Objective, Task, Team
from okr import commands as c
from okr.application import CommandResult
from okr.domain.errors import ConcurrencyConflictError, DomainError
from okr.observability import observe_command

Info = strawberry.Info[Context, None]
P = TypeVar("P", bound="MutationPayload")
C = TypeVar("C", bound=c.Command)


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


@strawberry.type
class CommentResult(MutationPayload):
    @doc.field("The comment after this write (deleted: without its body).")
    async def comment(self, info: Info) -> Comment | None:
        if (when := _instant(self)) is None:
            return None
        view = await info.context.reader(when).comment(parse_uuid(str(self.id), "id"))
        return None if view is None else Comment.from_view(view, when)


# ---------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Spec:
    """One mutation: the command it runs, its input, the payload's base (what it reads back
    after the write), the mutation's description and the payload type's, if any."""

    command: type[c.Command]
    input: type[object]
    result: type[MutationPayload]
    description: str | None = None
    payload_description: str | None = None

    @property
    def name(self) -> str:
        """The mutation's Python name: the command class in snake case (`check_in_key_result`)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.command.__name__).lower()


MUTATIONS: tuple[Spec, ...] = (
    Spec(
        c.ConfigureOrg,
        i.ConfigureOrgInput,
        MutationPayload,
        "Org settings: strict policies, check-in cadence (admin).",
    ),
    Spec(
        c.ConfigureReminders,
        i.ConfigureRemindersInput,
        MutationPayload,
        "The org's check-in reminder schedule: weekday, hour and time zone, frequency, grace days (admin).",
    ),
    Spec(c.ScheduleCycle, i.ScheduleCycleInput, CycleResult),
    Spec(c.StartCycle, i.StartCycleInput, CycleResult),
    Spec(
        c.CloseCycle,
        i.CloseCycleInput,
        CycleResult,
        "Closes (freezes) the cycle; refused while objectives are ACTIVE unless"
        " closeActiveObjectives closes and scores them too (admin).",
    ),
    Spec(c.CreateTeam, i.CreateTeamInput, TeamResult),
    Spec(c.AddTeamMember, i.AddTeamMemberInput, TeamResult),
    Spec(c.RemoveTeamMember, i.RemoveTeamMemberInput, TeamResult),
    Spec(
        c.ReviseTeam,
        i.ReviseTeamInput,
        TeamResult,
        "Renames and/or moves a team (TEAM_HIERARCHY_CYCLE: never under itself or a sub-team) (admin).",
    ),
    Spec(c.DraftObjective, i.DraftObjectiveInput, ObjectiveResult),
    Spec(c.ReviseObjective, i.ReviseObjectiveInput, ObjectiveResult),
    Spec(c.AlignObjective, i.AlignObjectiveInput, ObjectiveResult),
    Spec(
        c.ActivateObjective,
        i.ActivateObjectiveInput,
        ObjectiveResult,
        "DRAFT -> ACTIVE; policy warnings come back in `warnings`.",
    ),
    Spec(
        c.CloseObjective,
        i.CloseObjectiveInput,
        ObjectiveResult,
        "Scores it (default scores for unscored key results) and closes it.",
    ),
    Spec(
        c.ScoreObjective,
        i.ScoreObjectiveInput,
        ObjectiveResult,
        "Overrides a CLOSED objective's score (a reason when it differs from the computed one).",
    ),
    Spec(c.AbandonObjective, i.AbandonObjectiveInput, ObjectiveResult),
    Spec(
        c.CarryOverObjective,
        i.CarryOverObjectiveInput,
        ObjectiveResult,
        "Drafts a copy with the unfinished key results in another cycle.",
        "`objective` is the new draft in the target cycle.",
    ),
    Spec(
        c.ProposeObjective,
        i.ProposeObjectiveInput,
        ObjectiveResult,
        "Puts a DRAFT objective up for review (its owner, a lead of its team or an admin).",
    ),
    Spec(
        c.ApproveObjective,
        i.ApproveObjectiveInput,
        ObjectiveResult,
        "Approves a PROPOSED DRAFT objective (a lead of its team or an admin).",
    ),
    Spec(
        c.ConfigureApproval,
        i.ConfigureApprovalInput,
        MutationPayload,
        "Whether objectives need an approval before activation (APPROVAL_REQUIRED); unset: strict orgs do.",
    ),
    Spec(
        c.AddComment,
        i.AddCommentInput,
        CommentResult,
        "A comment on an objective, a key result or a check-in, or a reply in a thread.",
    ),
    Spec(c.EditComment, i.EditCommentInput, CommentResult, "A new body (the author or an admin)."),
    Spec(
        c.DeleteComment,
        i.DeleteCommentInput,
        CommentResult,
        "Deletes a comment (the author or an admin): it stays in its thread as deleted, without its body.",
    ),
    Spec(c.AddKeyResult, i.AddKeyResultInput, KeyResultResult),
    Spec(c.ReviseKeyResult, i.ReviseKeyResultInput, KeyResultResult),
    Spec(
        c.RemoveKeyResult,
        i.RemoveKeyResultInput,
        KeyResultResult,
        payload_description="`keyResult` is null (it was removed); `objective` is its objective.",
    ),
    Spec(
        c.CheckInKeyResult,
        i.CheckInKeyResultInput,
        KeyResultResult,
        "A new value with a confidence (0-1) and a note.",
    ),
    Spec(c.ScoreKeyResult, i.ScoreKeyResultInput, KeyResultResult),
    Spec(c.CreateTask, i.CreateTaskInput, TaskResult),
    Spec(c.LinkTask, i.LinkTaskInput, TaskResult),
    Spec(c.AssignTask, i.AssignTaskInput, TaskResult),
    Spec(c.ReviseTask, i.ReviseTaskInput, TaskResult),
    Spec(c.StartTask, i.StartTaskInput, TaskResult),
    Spec(
        c.CompleteTask,
        i.CompleteTaskInput,
        TaskResult,
        "With `value`, checks in the linked key result in the same write.",
    ),
    Spec(c.ReopenTask, i.ReopenTaskInput, TaskResult),
    Spec(c.CancelTask, i.CancelTaskInput, TaskResult),
)


def input_fields(input_type: type[object]) -> set[str]:
    """The input's GraphQL fields by Python name, without `idempotency_key` (not a command field)."""
    definition = get_object_definition(input_type, strict=True)
    return {f.python_name for f in definition.fields} - {"idempotency_key"}


def check_table(specs: Sequence[Spec], commands: Sequence[type[c.Command]] = c.COMMANDS) -> None:
    """Raises TypeError unless every command has exactly one mutation, in the commands' order,
    with an input named after it whose fields are exactly the command's (plus idempotency_key)."""
    listed = [spec.command for spec in specs]
    if listed != list(commands):
        missing = sorted(cmd.__name__ for cmd in commands if listed.count(cmd) != 1)
        msg = f"MUTATIONS must list each command of okr.commands once, in order (check: {missing or 'order'})"
        raise TypeError(msg)
    for spec in specs:
        if spec.input.__name__ != f"{spec.command.__name__}Input":
            msg = (
                f"{spec.command.__name__}'s input is {spec.input.__name__}, not {spec.command.__name__}Input"
            )
            raise TypeError(msg)
        have, want = input_fields(spec.input), {f.name for f in fields(spec.command)}
        if have != want:
            msg = (
                f"{spec.input.__name__} and {spec.command.__name__} differ: input only"
                f" {sorted(have - want)}, command only {sorted(want - have)}"
            )
            raise TypeError(msg)


def _plain(value: object) -> object:
    """Enum members to their string values (what the commands hold); everything else as is."""
    return value.value if isinstance(value, Enum) else value


def to_command(command: type[C], input: object) -> C:
    """The command with the input's fields of the same names (ids as sent, enums as values)."""
    return command(**{f.name: _plain(getattr(input, f.name)) for f in fields(command)})


# ---------------------------------------------------------------------------------- execution
async def _execute(info: Info, command: str, call: Callable[[], CommandResult], payload: type[P]) -> P:
    """Runs `call` through the context's writer (a thread); expected failures become the
    payload's errors. `command` labels the metrics (the mutation's Python name)."""
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


def _payload(spec: Spec) -> type[MutationPayload]:
    """`<Command>Payload`: the spec's result type under the mutation's own name."""
    cls = type(f"{spec.command.__name__}Payload", (spec.result,), {"__module__": __name__})
    payload: type[MutationPayload] = strawberry.type(cls, description=spec.payload_description)
    return payload


def _resolver(spec: Spec) -> Callable[..., Awaitable[MutationPayload]]:
    """`async def <name>(info, input: <Command>Input) -> <Command>Payload`, for strawberry."""
    payload = _payload(spec)

    async def resolve(info: Info, input: Any) -> MutationPayload:
        command = to_command(spec.command, input)
        app = info.context.app
        return await _execute(
            info, spec.name, lambda: app.execute(command, idempotency_key=input.idempotency_key), payload
        )

    resolve.__name__ = resolve.__qualname__ = spec.name
    resolve.__annotations__ = {"info": Info, "input": spec.input, "return": payload}
    return resolve


check_table(MUTATIONS)
Mutation = create_type(
    "Mutation", [strawberry.mutation(_resolver(spec), description=spec.description) for spec in MUTATIONS]
)
