"""Queries: every one scoped to the token's org; ids of other orgs answer null (not found).

`consistentWith: position` (or the `X-Consistent-With` header) waits until the views have
processed that log position (read-your-writes); `asOf` answers from the log up to that instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry

from api import _doc as doc
from api.context import Context, Instant, Reader, parse_uuid
from api.errors import BadInputError, NotFoundApiError
from api.reminders import DueCheckIn
from api.reports import AuditEntry, Dashboard, Me, PrioritizedTask, TreeNode
from api.review import REVIEW_DOC, CycleReview
from api.types import (
    CheckIn,
    Connection,
    Cycle,
    Objective,
    ObjectiveState,
    Role,
    TaskState,
    Team,
    check_first,
    connection_from_page,
)
from api.types import KeyResult as KeyResultType
from api.types import Task as TaskType
from projections import model as m

Info = strawberry.Info[Context, None]
CONSISTENT_DOC = "Wait until the views have processed this log position (a mutation's `position`)."
AS_OF_DOC = (
    "Answer from the log as it was at this instant (time travel): this field and every field"
    " nested under it (key results, check-ins, cycle, team, parent objective, …) show the world as"
    " it was then, with status and expected progress evaluated at that instant. It must have a time"
    " zone and must not be in the future (BAD_USER_INPUT); omit it for now."
)
MAX_FILTER_VALUES = 50
MAX_FILTER_TEXT = 200


ConsistentWith = Annotated[int | None, strawberry.argument(description=CONSISTENT_DOC)]
AsOf = Annotated[datetime | None, strawberry.argument(description=AS_OF_DOC)]


def _uuid(value: strawberry.ID | None, name: str) -> UUID | None:
    return None if value is None else parse_uuid(value, name)


def _text(value: str | None, name: str) -> str | None:
    """A filter string the stores can compare: at most 200 characters, no NUL, no lone surrogate
    (PostgreSQL and SQLite refuse those as parameters: a 500 instead of an empty answer)."""
    if value is None:
        return None
    if len(value) > MAX_FILTER_TEXT:
        raise BadInputError(f"{name} must be at most {MAX_FILTER_TEXT} characters", field=name)
    if "\x00" in value or _unencodable(value):
        raise BadInputError(f"{name} must not contain NUL or lone surrogates", field=name)
    return value


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bounded(values: list[str] | None, name: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if len(values) > MAX_FILTER_VALUES:
        raise BadInputError(f"{name} takes at most {MAX_FILTER_VALUES} values", field=name)
    return tuple(v for v in values if _text(v, name) is not None)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise BadInputError(f"{name} needs a time zone (e.g. 2026-03-01T00:00:00Z)", field=name)
    return value


def _as_of(ctx: Context, value: datetime | None) -> Instant | None:
    """The instant of an `asOf` argument; the future is refused (nothing is known about it yet)."""
    when = _aware(value, "asOf")
    if when is None:
        return None
    now = ctx.read_model.now()
    if when > now:
        raise BadInputError(
            f"asOf {when.isoformat()} is in the future (now is {now.isoformat()}): omit asOf for now",
            field="asOf",
        )
    return Instant(time=when)


async def _live(info: Info, consistent_with: int | None) -> Context:
    """The request's context once the views reached `consistentWith` (live reads)."""
    ctx = info.context
    await ctx.consistent(consistent_with)
    return ctx


async def _at(
    info: Info, as_of: datetime | None, consistent_with: int | None
) -> tuple[Context, Instant | None]:
    """The context and the instant of an `asOf` root; a live read waits for `consistentWith`."""
    ctx = info.context
    when = _as_of(ctx, as_of)
    if when is None:
        await ctx.consistent(consistent_with)
    return ctx, when


async def _known_cycle(reader: Reader, cycle_id: UUID) -> None:
    if await reader.cycle(cycle_id) is None:
        raise NotFoundApiError(f"cycle {cycle_id} not found", code="CYCLE_NOT_FOUND", field="cycleId")


@strawberry.input
class ObjectiveFilter:
    cycle_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    owner: str | None = None
    states: list[ObjectiveState] | None = None
    parent_objective_id: strawberry.ID | None = None
    unaligned_only: bool = strawberry.field(default=False, description="No parent objective or key result.")

    def to_model(self) -> m.ObjectiveFilter:
        return m.ObjectiveFilter(
            cycle_id=_uuid(self.cycle_id, "cycleId"),
            team_id=_uuid(self.team_id, "teamId"),
            owner=_text(self.owner, "owner"),
            states=tuple(s.value for s in self.states or ()),
            parent_objective_id=_uuid(self.parent_objective_id, "parentObjectiveId"),
            unaligned_only=self.unaligned_only,
        )


@strawberry.input
class TaskFilter:
    cycle_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    key_result_id: strawberry.ID | None = None
    objective_id: strawberry.ID | None = None
    assignee: str | None = None
    states: list[TaskState] | None = None
    unaligned_only: bool = False

    def to_model(self) -> m.TaskFilter:
        return m.TaskFilter(
            cycle_id=_uuid(self.cycle_id, "cycleId"),
            team_id=_uuid(self.team_id, "teamId"),
            key_result_id=_uuid(self.key_result_id, "keyResultId"),
            objective_id=_uuid(self.objective_id, "objectiveId"),
            assignee=_text(self.assignee, "assignee"),
            states=tuple(s.value for s in self.states or ()),
            unaligned_only=self.unaligned_only,
        )


@strawberry.input
class AuditFilter:
    aggregate_id: strawberry.ID | None = None
    aggregate_types: list[str] | None = strawberry.field(
        default=None, description="Cycle, Team, Objective, Task, Organization"
    )
    actor: str | None = None
    event_types: list[str] | None = strawberry.field(
        default=None, description='e.g. "KeyResultCheckedIn" or "Objective.KeyResultCheckedIn"'
    )
    since: datetime | None = None
    until: datetime | None = None

    def to_model(self) -> m.AuditFilter:
        return m.AuditFilter(
            aggregate_id=_uuid(self.aggregate_id, "aggregateId"),
            aggregate_types=_bounded(self.aggregate_types, "aggregateTypes"),
            actor=_text(self.actor, "actor"),
            event_types=_bounded(self.event_types, "eventTypes"),
            since=_aware(self.since, "since"),
            until=_aware(self.until, "until"),
        )


@strawberry.type
class Query:
    @doc.field("Who the token says you are.")
    async def me(self, info: Info) -> Me:
        principal = info.context.principal
        return Me(
            user_id=principal.user,
            org_id=principal.org,
            roles=[Role(r) for r in sorted(principal.roles)],
        )

    @strawberry.field
    async def cycles(self, info: Info, consistent_with: ConsistentWith = None) -> list[Cycle]:
        ctx = await _live(info, consistent_with)
        org = ctx.org
        return [Cycle.from_view(c) for c in await ctx.read(lambda: ctx.read_model.cycles(org))]

    @strawberry.field
    async def cycle(
        self, info: Info, id: strawberry.ID, consistent_with: ConsistentWith = None
    ) -> Cycle | None:
        cycle_id = parse_uuid(id, "id")
        ctx = await _live(info, consistent_with)
        org = ctx.org
        view = await ctx.read(lambda: ctx.read_model.cycle(org, cycle_id))
        return None if view is None else Cycle.from_view(view)

    @strawberry.field
    async def teams(self, info: Info, consistent_with: ConsistentWith = None) -> list[Team]:
        ctx = await _live(info, consistent_with)
        org = ctx.org
        return [Team.from_view(t) for t in await ctx.read(lambda: ctx.read_model.teams(org))]

    @strawberry.field
    async def objective(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: AsOf = None,
        consistent_with: ConsistentWith = None,
    ) -> Objective | None:
        oid = parse_uuid(id, "id")
        ctx, when = await _at(info, as_of, consistent_with)
        view = await ctx.reader(when).objective(oid)
        return None if view is None else Objective.from_view(view, when)

    @strawberry.field
    async def objectives(
        self,
        info: Info,
        filter: ObjectiveFilter | None = None,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[Objective]:
        ctx = await _live(info, consistent_with)
        org, size, flt = ctx.org, check_first(first), (filter or ObjectiveFilter()).to_model()
        page = await ctx.read(lambda: ctx.read_model.objectives(org, flt, size, after))
        for view in page.items:  # the objectives loader answers nested lookups without a query
            ctx.objectives.prime(view.id, view)
        return connection_from_page(page, Objective.from_view)

    @strawberry.field
    async def key_result(
        self,
        info: Info,
        id: strawberry.ID,
        as_of: AsOf = None,
        consistent_with: ConsistentWith = None,
    ) -> KeyResultType | None:
        kr_id = parse_uuid(id, "id")
        ctx, when = await _at(info, as_of, consistent_with)
        view = await ctx.reader(when).key_result(kr_id)
        return None if view is None else KeyResultType.from_view(view, when)

    @doc.field("The cycle's objectives as a tree of alignment.")
    async def tree(
        self,
        info: Info,
        cycle_id: strawberry.ID,
        as_of: AsOf = None,
        consistent_with: ConsistentWith = None,
    ) -> list[TreeNode]:
        cid = parse_uuid(cycle_id, "cycleId")
        ctx, when = await _at(info, as_of, consistent_with)
        reader = ctx.reader(when)
        await _known_cycle(reader, cid)
        roots = await reader.tree(cid)
        return [TreeNode.from_view(r, when) for r in roots]

    @doc.field("Counts by status, mean progress, alignment, outdated key results.")
    async def dashboard(
        self,
        info: Info,
        cycle_id: strawberry.ID,
        team_id: strawberry.ID | None = None,
        as_of: AsOf = None,
        consistent_with: ConsistentWith = None,
    ) -> Dashboard:
        cid, tid = parse_uuid(cycle_id, "cycleId"), _uuid(team_id, "teamId")
        ctx, when = await _at(info, as_of, consistent_with)
        org = ctx.org
        reader = ctx.reader(when)
        await _known_cycle(reader, cid)
        if when is None:
            cache = ctx.services.dashboards
            view = await ctx.read(
                lambda: cache.get_or_compute((org, cid, tid), lambda: ctx.read_model.dashboard(org, cid, tid))
            )
        else:
            view = await reader.dashboard(cid, tid)
        return Dashboard.from_view(view, when)

    @doc.field(REVIEW_DOC)
    async def cycle_review(
        self,
        info: Info,
        cycle_id: strawberry.ID,
        team_id: strawberry.ID | None = None,
        consistent_with: ConsistentWith = None,
    ) -> CycleReview:
        cid, tid = parse_uuid(cycle_id, "cycleId"), _uuid(team_id, "teamId")
        ctx = await _live(info, consistent_with)
        org = ctx.org
        review = await ctx.read(lambda: ctx.read_model.cycle_review(org, cid, tid))
        return CycleReview.from_view(review)

    @strawberry.field
    async def tasks(
        self,
        info: Info,
        filter: TaskFilter | None = None,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[TaskType]:
        ctx = await _live(info, consistent_with)
        org, size, flt = ctx.org, check_first(first), (filter or TaskFilter()).to_model()
        page = await ctx.read(lambda: ctx.read_model.tasks(org, flt, size, after))
        return connection_from_page(page, TaskType.from_view)

    @doc.field("Open tasks by priority (impact x KR share x remaining progress).")
    async def prioritized_tasks(
        self,
        info: Info,
        cycle_id: strawberry.ID | None = None,
        team_id: strawberry.ID | None = None,
        first: int = 20,
        consistent_with: ConsistentWith = None,
    ) -> list[PrioritizedTask]:
        ctx = await _live(info, consistent_with)
        org, size = ctx.org, check_first(first)
        cid, tid = _uuid(cycle_id, "cycleId"), _uuid(team_id, "teamId")
        items = await ctx.read(lambda: ctx.read_model.prioritized_tasks(org, cid, tid, size))
        return [PrioritizedTask.from_view(p) for p in items]

    @doc.field("Tasks linked to no key result.")
    async def unaligned_tasks(
        self,
        info: Info,
        cycle_id: strawberry.ID | None = None,
        team_id: strawberry.ID | None = None,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[TaskType]:
        ctx = await _live(info, consistent_with)
        org, size = ctx.org, check_first(first)
        flt = m.TaskFilter(
            cycle_id=_uuid(cycle_id, "cycleId"), team_id=_uuid(team_id, "teamId"), unaligned_only=True
        )
        page = await ctx.read(lambda: ctx.read_model.tasks(org, flt, size, after))
        return connection_from_page(page, TaskType.from_view)

    @doc.field("A key result's check-ins, newest first.")
    async def check_ins(
        self,
        info: Info,
        key_result_id: strawberry.ID,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[CheckIn]:
        ctx = await _live(info, consistent_with)
        org, kr_id, size = ctx.org, parse_uuid(key_result_id, "keyResultId"), check_first(first)
        page = await ctx.read(lambda: ctx.read_model.check_ins(org, kr_id, size, after))
        return connection_from_page(page, CheckIn.from_view)

    @doc.field(
        "Your check-in to-do list: key results of objectives you own or your teams hold, due or"
        " overdue now (the org's reminder schedule), in the order they were added."
    )
    async def due_check_ins(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[DueCheckIn]:
        ctx = await _live(info, consistent_with)
        org, user, size = ctx.org, ctx.principal.user, check_first(first)
        page = await ctx.read(lambda: ctx.read_model.due_check_ins(org, user, size, after))
        return connection_from_page(page, DueCheckIn.from_view)

    @doc.field("Who changed what and when, by log position.")
    async def audit_log(
        self,
        info: Info,
        filter: AuditFilter | None = None,
        first: int = 20,
        after: str | None = None,
        consistent_with: ConsistentWith = None,
    ) -> Connection[AuditEntry]:
        ctx = await _live(info, consistent_with)
        org, size, flt = ctx.org, check_first(first), (filter or AuditFilter()).to_model()
        page = await ctx.read(lambda: ctx.read_model.audit_log(org, flt, size, after))
        return connection_from_page(page, AuditEntry.from_view)

    @doc.field("Every event of one aggregate, oldest first, with values before and after.")
    async def history(
        self, info: Info, aggregate_id: strawberry.ID, consistent_with: ConsistentWith = None
    ) -> list[AuditEntry]:
        ctx = await _live(info, consistent_with)
        org, aid = ctx.org, parse_uuid(aggregate_id, "aggregateId")
        return [AuditEntry.from_view(e) for e in await ctx.read(lambda: ctx.read_model.history(org, aid))]
