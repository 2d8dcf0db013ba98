"""GraphQL output types: built from the read side's views (projections.model)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Generic, TypeVar
from uuid import UUID

import strawberry
from strawberry.dataloader import DataLoader

from api import _doc as doc
from api import forecasts as fz
from api.context import Context, Instant, Reader, parse_uuid
from api.errors import BadInputError
from okr.domain import formulas as f
from okr.domain.comment import SubjectType as CommentSubjectType
from okr.domain.comment import check_in_subject_id
from okr.domain.cycle import CycleState as CycleState
from okr.domain.formulas import Direction as Direction
from okr.domain.formulas import Grade as Grade
from okr.domain.formulas import Impact as Impact
from okr.domain.formulas import KeyResultKind as KeyResultKind
from okr.domain.formulas import Status as Status
from okr.domain.key_result import ProgressSource as ProgressSource
from okr.domain.objective import ApprovalState as ApprovalState
from okr.domain.objective import ObjectiveState as ObjectiveState
from okr.domain.objective import ProgressDriver as ProgressDriver
from okr.domain.task import TaskState as TaskState
from okr.domain.team import TeamRole as TeamRole
from projections import forecast as fc
from projections import model as m

N = TypeVar("N")


# ---------------------------------------------------------------------------------- enums
# Not a domain enum: roles are plain strings on the write side (okr.application.ROLES), and
# their values are lower case ("admin") while every other GraphQL enum's values are its keys.
@strawberry.enum
class Role(Enum):
    ADMIN = "admin"
    LEAD = "lead"
    MEMBER = "member"
    VIEWER = "viewer"


#: The domain's StrEnums registered as GraphQL enums under their own names; the API builds
#: and reads their members directly (a view's "NUMERIC" is KeyResultKind("NUMERIC")).
DOMAIN_ENUMS: tuple[type[StrEnum], ...] = (
    CycleState,
    TeamRole,
    ObjectiveState,
    ProgressDriver,
    ProgressSource,
    KeyResultKind,
    Direction,
    Status,
    Grade,
    Impact,
    TaskState,
)
for _enum in DOMAIN_ENUMS:
    strawberry.enum(_enum, name=_enum.__name__)


E = TypeVar("E", bound=Enum)


def enum_of(cls: type[E], value: str | None) -> E | None:
    return None if value is None else cls(value)


# ---------------------------------------------------------------------------------- connections
@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type(description="A page of a list with keyset cursors: inserts never shift pages.")
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    total_count: int

    @doc.field("The nodes of this page (shortcut for edges { node }).")
    def nodes(self) -> list[N]:
        return [edge.node for edge in self.edges]


V = TypeVar("V")


def connection_from_page(page: m.Page[V], convert: Callable[[V], N]) -> Connection[N]:
    """Builds a Connection from a read-side Page (convert: view -> GraphQL type)."""
    return Connection(
        edges=[Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)],
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        ),
        total_count=page.total_count,
    )


MAX_FIRST = m.MAX_PAGE


def check_first(first: int) -> int:
    """Page sizes are 1-100: larger pages are refused, not silently cut."""
    if not 1 <= first <= MAX_FIRST:
        raise BadInputError(f"first must be between 1 and {MAX_FIRST}", field="first")
    return first


FIGURE_DECIMALS = 4


def fig(value: float) -> float:
    """A figure a person reads (progress, ratios, scores…): rounded to 4 decimal places at the
    API edge, never -0.0 (the read side keeps full precision)."""
    return round(value, FIGURE_DECIMALS) + 0.0


def fig_or_none(value: float | None) -> float | None:
    return None if value is None else fig(value)


def num(value: float) -> float:
    """A value as entered (start, target, check-in values): unrounded, but never -0.0."""
    return value + 0.0


def reader(info: strawberry.Info[Context, None], when: Instant | None) -> Reader:
    return info.context.reader(when)


ViewT = TypeVar("ViewT")
OutT = TypeVar("OutT")


async def _load(
    loader: DataLoader[UUID, ViewT | None], raw_id: str | None, field: str, convert: Callable[[ViewT], OutT]
) -> OutT | None:
    """One nested lookup through the request's (instant's) DataLoader; None for no id."""
    if raw_id is None:
        return None
    view = await loader.load(parse_uuid(raw_id, field))
    return None if view is None else convert(view)


async def load_objective(
    info: strawberry.Info[Context, None], oid: str | None, when: Instant | None = None
) -> Objective | None:
    return await _load(reader(info, when).objectives, oid, "id", lambda v: Objective.from_view(v, when))


async def load_team(
    info: strawberry.Info[Context, None], tid: str | None, when: Instant | None = None
) -> Team | None:
    return await _load(reader(info, when).teams, tid, "teamId", lambda v: Team.from_view(v, when))


async def load_cycle(
    info: strawberry.Info[Context, None], cid: str | None, when: Instant | None = None
) -> Cycle | None:
    return await _load(reader(info, when).cycles, cid, "cycleId", Cycle.from_view)


# ---------------------------------------------------------------------------------- entities
@strawberry.type
class Cycle:
    id: strawberry.ID
    name: str
    start: date
    end: date
    state: CycleState
    expected_progress: float = strawberry.field(description="Elapsed fraction of the cycle, 0-1.")

    @classmethod
    def from_view(cls, v: m.CycleView) -> Cycle:
        return cls(
            id=strawberry.ID(str(v.id)),
            name=v.name,
            start=v.start,
            end=v.end,
            state=CycleState(v.state),
            expected_progress=fig(v.expected_progress),
        )


@strawberry.type
class TeamMember:
    user_id: str
    role: TeamRole


@strawberry.type
class Team:
    id: strawberry.ID
    name: str
    parent_team_id: strawberry.ID | None
    members: list[TeamMember]
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.TeamView, when: Instant | None = None) -> Team:
        return cls(
            id=strawberry.ID(str(v.id)),
            name=v.name,
            parent_team_id=_id(v.parent_team_id),
            members=[TeamMember(user_id=u, role=TeamRole(r)) for u, r in sorted(v.members.items())],
            when=when,
        )

    @strawberry.field
    async def parent(self, info: strawberry.Info[Context, None]) -> Team | None:
        return await load_team(info, self.parent_team_id, self.when)


def _id(value: UUID | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def kr_warnings(v: m.KeyResultView) -> list[str]:
    warnings = []
    if v.outdated:
        warnings.append(f"no check-in within its cadence of {v.cadence_days} days")
    if f.is_low_confidence(v.confidence):
        warnings.append(f"low confidence ({v.confidence:.2f})")
    return warnings


@strawberry.type
class KeyResult:
    id: strawberry.ID
    objective_id: strawberry.ID
    title: str
    kind: KeyResultKind
    direction: Direction
    unit: str
    start: float
    target: float
    current: float
    weight: float
    source: ProgressSource
    cadence_days: int
    confidence: float | None
    last_check_in_at: datetime | None
    check_in_count: int
    score: float | None
    score_reason: str | None
    progress: float = strawberry.field(description="Clamped to 0-1.")
    attainment: float = strawberry.field(description="Unclamped: over-achievement stays visible.")
    expected_progress: float
    status: Status
    outdated: bool
    grade: Grade | None
    warnings: list[str]
    tasks_total: int
    tasks_done: int
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.KeyResultView, when: Instant | None = None) -> KeyResult:
        return cls(
            id=strawberry.ID(str(v.id)),
            objective_id=strawberry.ID(str(v.objective_id)),
            title=v.title,
            kind=KeyResultKind(v.kind),
            direction=Direction(v.direction),
            unit=v.unit,
            start=num(v.start),
            target=num(v.target),
            current=num(v.current),
            weight=num(v.weight),
            source=ProgressSource(v.source),
            cadence_days=v.cadence_days,
            confidence=fig_or_none(v.confidence),
            last_check_in_at=v.last_check_in_at,
            check_in_count=v.check_in_count,
            score=fig_or_none(v.score),
            score_reason=v.score_reason,
            progress=fig(v.progress),
            attainment=fig(v.attainment),
            expected_progress=fig(v.expected_progress),
            status=Status(v.status),
            outdated=v.outdated,
            grade=enum_of(Grade, v.grade),
            warnings=kr_warnings(v),
            tasks_total=v.tasks_total,
            tasks_done=v.tasks_done,
            when=when,
        )

    @strawberry.field
    async def objective(self, info: strawberry.Info[Context, None]) -> Objective | None:
        return await load_objective(info, self.objective_id, self.when)

    async def _forecast(self, info: strawberry.Info[Context, None]) -> fc.KeyResultForecast | fc.NoForecast:
        target = fc.KeyResultTarget(
            self.kind.value, self.direction.value, self.start, self.target, self.source.value
        )
        kr_id, objective_id = parse_uuid(self.id, "id"), parse_uuid(self.objective_id, "objectiveId")
        return await fz.key_result_forecast(reader(info, self.when), kr_id, objective_id, target)

    @doc.field(
        "Where this key result will be at its cycle's end, with a prediction band and the"
        " probability of meeting its target (as of the same instant as the key result: an asOf"
        " forecast sees no later check-in). Null when no honest forecast can be made: see"
        " forecastUnavailable."
    )
    async def forecast(self, info: strawberry.Info[Context, None]) -> fz.KeyResultForecast | None:
        result = await self._forecast(info)
        return None if isinstance(result, fc.NoForecast) else fz.KeyResultForecast.of(result)

    @doc.field("Why forecast is null (null when there is a forecast).")
    async def forecast_unavailable(
        self, info: strawberry.Info[Context, None]
    ) -> fz.ForecastUnavailable | None:
        result = await self._forecast(info)
        return fz.ForecastUnavailable.of(result) if isinstance(result, fc.NoForecast) else None

    @doc.field("Check-ins, newest first (as of the same instant as the key result).")
    async def check_ins(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[CheckIn]:
        kr_id, size = parse_uuid(self.id, "id"), check_first(first)
        page = await reader(info, self.when).check_ins(kr_id, size, after)
        when = self.when
        return connection_from_page(page, lambda v: CheckIn.from_view(v, when))

    @doc.field(
        "Discussion threads on this key result (roots oldest first, each with its replies); a"
        " deleted comment keeps its place without its body."
    )
    async def comments(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[Comment]:
        return await comment_connection(info, self.id, first, after, self.when)

    @doc.field("Comments on this key result that are not deleted (replies included).")
    async def comment_count(self, info: strawberry.Info[Context, None]) -> int:
        return await reader(info, self.when).comment_counts.load(str(self.id))


@strawberry.type
class Objective:
    id: strawberry.ID
    cycle_id: strawberry.ID
    team_id: strawberry.ID | None
    owner: str
    title: str
    description: str
    driver: ProgressDriver
    weight: float
    state: ObjectiveState
    parent_objective_id: strawberry.ID | None
    parent_key_result_id: strawberry.ID | None
    carried_over_from_id: strawberry.ID | None
    carried_over_to_id: strawberry.ID | None
    learnings: str
    view: strawberry.Private[m.ObjectiveView]
    progress: float = strawberry.field(description="Roll-up per driver, 0-1.")
    attainment: float | None = strawberry.field(
        description=(
            "The same roll-up as progress (same driver: key results and/or aligned children) of"
            " unclamped values: over-achievement stays visible (null with nothing to measure)."
        )
    )
    expected_progress: float
    status: Status | None = strawberry.field(description="The worst key result's status.")
    outdated: bool
    confidence: float | None = strawberry.field(description="The lowest latest key-result confidence.")
    score: float | None = strawberry.field(
        description="Null until CLOSED; then the closing score (per driver), or the owner's override."
    )
    score_reason: str | None = strawberry.field(description="Why the owner overrode the closing score.")
    grade: Grade | None = strawberry.field(
        description=f"Of score: GREEN >= {f.GREEN_GRADE}, YELLOW >= {f.YELLOW_GRADE}, else RED."
    )
    warnings: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.ObjectiveView, when: Instant | None = None) -> Objective:
        return cls(
            id=strawberry.ID(str(v.id)),
            cycle_id=strawberry.ID(str(v.cycle_id)),
            team_id=_id(v.team_id),
            owner=v.owner,
            title=v.title,
            description=v.description,
            driver=ProgressDriver(v.driver),
            weight=num(v.weight),
            state=ObjectiveState(v.state),
            parent_objective_id=_id(v.parent_objective_id),
            parent_key_result_id=_id(v.parent_key_result_id),
            carried_over_from_id=_id(v.carried_over_from),
            carried_over_to_id=_id(v.carried_over_to),
            learnings=v.learnings,
            view=v,
            progress=fig(v.progress),
            attainment=fig_or_none(v.attainment),
            expected_progress=fig(v.expected_progress),
            status=enum_of(Status, v.status),
            outdated=v.outdated,
            confidence=fig_or_none(v.confidence),
            score=fig_or_none(v.score),
            score_reason=v.score_reason,
            grade=enum_of(Grade, v.grade),
            warnings=list(v.warnings),
            created_at=v.created_at,
            updated_at=v.updated_at,
            version=v.version,
            when=when,
        )

    @strawberry.field
    def key_results(self) -> list[KeyResult]:
        return [KeyResult.from_view(kr, self.when) for kr in self.view.key_results]

    @doc.field(
        "This objective's progress at its cycle's end: its key results' (and, per driver, its"
        " counted aligned objectives') forecasts rolled up like progress. Null when an input has"
        " no forecast: see forecastUnavailable."
    )
    async def forecast(self, info: strawberry.Info[Context, None]) -> fz.ObjectiveForecast | None:
        result = await fz.objective_forecast(reader(info, self.when), self.view)
        return None if isinstance(result, fc.NoForecast) else fz.ObjectiveForecast.of(result)

    @doc.field("Why forecast is null (null when there is a forecast).")
    async def forecast_unavailable(
        self, info: strawberry.Info[Context, None]
    ) -> fz.ForecastUnavailable | None:
        result = await fz.objective_forecast(reader(info, self.when), self.view)
        return fz.ForecastUnavailable.of(result) if isinstance(result, fc.NoForecast) else None

    @strawberry.field
    async def cycle(self, info: strawberry.Info[Context, None]) -> Cycle | None:
        return await load_cycle(info, self.cycle_id, self.when)

    @strawberry.field
    async def team(self, info: strawberry.Info[Context, None]) -> Team | None:
        return await load_team(info, self.team_id, self.when)

    @strawberry.field
    async def parent_objective(self, info: strawberry.Info[Context, None]) -> Objective | None:
        return await load_objective(info, self.parent_objective_id, self.when)

    @doc.field(
        "Discussion threads on this objective (roots oldest first, each with its replies); a"
        " deleted comment keeps its place without its body."
    )
    async def comments(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[Comment]:
        return await comment_connection(info, self.id, first, after, self.when)

    @doc.field("Comments on this objective that are not deleted (replies included).")
    async def comment_count(self, info: strawberry.Info[Context, None]) -> int:
        return await reader(info, self.when).comment_counts.load(str(self.id))

    @doc.field("Where this objective is in the draft -> discuss -> finalise flow.")
    async def approval(self, info: strawberry.Info[Context, None]) -> ObjectiveApproval:
        view = await reader(info, self.when).approvals.load(parse_uuid(self.id, "id"))
        return ObjectiveApproval.from_view(view)


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    description: str
    impact: Impact
    assignee: str | None
    state: TaskState
    key_result_id: strawberry.ID | None
    objective_id: strawberry.ID | None
    cycle_id: strawberry.ID | None
    team_id: strawberry.ID | None
    aligned: bool = strawberry.field(description="Linked to a key result.")
    created_at: datetime
    updated_at: datetime
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.TaskView, when: Instant | None = None) -> Task:
        return cls(
            id=strawberry.ID(str(v.id)),
            title=v.title,
            description=v.description,
            impact=Impact(v.impact),
            assignee=v.assignee,
            state=TaskState(v.state),
            key_result_id=_id(v.key_result_id),
            objective_id=_id(v.objective_id),
            cycle_id=_id(v.cycle_id),
            team_id=_id(v.team_id),
            aligned=v.key_result_id is not None,
            created_at=v.created_at,
            updated_at=v.updated_at,
            when=when,
        )

    @strawberry.field
    async def key_result(self, info: strawberry.Info[Context, None]) -> KeyResult | None:
        if self.objective_id is None or self.key_result_id is None:
            return None
        objective = await reader(info, self.when).objectives.load(
            parse_uuid(self.objective_id, "objectiveId")
        )
        if objective is None:
            return None
        for kr in objective.key_results:
            if str(kr.id) == self.key_result_id:
                return KeyResult.from_view(kr, self.when)
        return None

    @strawberry.field
    async def objective(self, info: strawberry.Info[Context, None]) -> Objective | None:
        return await load_objective(info, self.objective_id, self.when)

    @strawberry.field
    async def team(self, info: strawberry.Info[Context, None]) -> Team | None:
        return await load_team(info, self.team_id, self.when)


@strawberry.type
class CheckIn:
    position: int
    key_result_id: strawberry.ID
    objective_id: strawberry.ID
    value_before: float
    value: float
    confidence: float | None
    note: str
    author: str
    at: datetime
    task_id: strawberry.ID | None
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.CheckInView, when: Instant | None = None) -> CheckIn:
        return cls(
            position=v.position,
            key_result_id=strawberry.ID(str(v.key_result_id)),
            objective_id=strawberry.ID(str(v.objective_id)),
            value_before=num(v.value_before),
            value=num(v.value),
            confidence=fig_or_none(v.confidence),
            note=v.note,
            author=v.author,
            at=v.at,
            task_id=_id(v.task_id),
            when=when,
        )

    @doc.field("The check-in's id as a comment subject: `checkin:<position>`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(check_in_subject_id(self.position))

    @doc.field("Discussion threads on this check-in (as of the same instant as its key result).")
    async def comments(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[Comment]:
        return await comment_connection(info, check_in_subject_id(self.position), first, after, self.when)

    @doc.field("Comments on this check-in that are not deleted.")
    async def comment_count(self, info: strawberry.Info[Context, None]) -> int:
        return await reader(info, self.when).comment_counts.load(check_in_subject_id(self.position))


# ---------------------------------------------------------------------------------- discussion
strawberry.enum(CommentSubjectType, name="CommentSubjectType")
strawberry.enum(ApprovalState, name="ApprovalState")


async def comment_connection(
    info: strawberry.Info[Context, None], subject_id: str, first: int, after: str | None, when: Instant | None
) -> Connection[Comment]:
    page = await reader(info, when).comments(str(subject_id), check_first(first), after)
    return connection_from_page(page, lambda v: Comment.from_view(v, when))


@strawberry.type(
    description=(
        "A comment on an objective, a key result or a check-in. Threads are one level deep: a"
        " root's replies are listed under it, oldest first. A deleted comment keeps its place"
        " (deleted: true) without body or mentions."
    )
)
class Comment:
    id: strawberry.ID
    subject_type: CommentSubjectType
    subject_id: strawberry.ID
    objective_id: strawberry.ID
    key_result_id: strawberry.ID | None
    thread_id: strawberry.ID | None = strawberry.field(
        description="The thread's root (null: this is a root)."
    )
    reply_to_id: strawberry.ID | None = strawberry.field(description="The comment this one answers.")
    author: str
    body: str | None = strawberry.field(description="Null once deleted.")
    mentions: list[str] = strawberry.field(description="User ids mentioned as @user-id, in order.")
    deleted: bool
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None
    version: int
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.CommentView, when: Instant | None = None) -> Comment:
        return cls(
            id=strawberry.ID(str(v.id)),
            subject_type=CommentSubjectType(v.subject_type),
            subject_id=strawberry.ID(v.subject_id),
            objective_id=strawberry.ID(str(v.objective_id)),
            key_result_id=_id(v.key_result_id),
            thread_id=_id(v.thread_id),
            reply_to_id=_id(v.reply_to_id),
            author=v.author,
            body=v.body,
            mentions=list(v.mentions),
            deleted=v.deleted,
            created_at=v.created_at,
            edited_at=v.edited_at,
            deleted_at=v.deleted_at,
            deleted_by=v.deleted_by,
            version=v.version,
            when=when,
        )

    @doc.field("The replies in this thread, oldest first (empty for a reply).")
    async def replies(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[Comment]:
        if self.thread_id is not None:
            return connection_from_page(m.Page([], [], 0, False, after is not None), lambda v: v)
        page = await reader(info, self.when).replies(parse_uuid(self.id, "id"), check_first(first), after)
        return connection_from_page(page, lambda v: Comment.from_view(v, self.when))

    @strawberry.field
    async def objective(self, info: strawberry.Info[Context, None]) -> Objective | None:
        return await load_objective(info, self.objective_id, self.when)


@strawberry.type(description="An objective's approval (draft -> discuss -> finalise).")
class ObjectiveApproval:
    state: ApprovalState
    proposed_by: str | None
    proposed_at: datetime | None
    approved_by: str | None = strawberry.field(
        description="Who approved it (kept when a revision sends it back)."
    )
    approved_at: datetime | None

    @classmethod
    def from_view(cls, v: m.ApprovalView | None) -> ObjectiveApproval:
        if v is None:
            return cls(
                state=ApprovalState.NOT_PROPOSED,
                proposed_by=None,
                proposed_at=None,
                approved_by=None,
                approved_at=None,
            )
        return cls(
            state=ApprovalState(v.state),
            proposed_by=v.proposed_by,
            proposed_at=v.proposed_at,
            approved_by=v.approved_by,
            approved_at=v.approved_at,
        )
