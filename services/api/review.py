"""The end-of-cycle review in GraphQL: `cycleReview(cycleId, teamId)` and its types.

Every type here is plain data (no resolvers): the whole review is computed at once as of the
cycle's close (projections.queries.review), so no nested field can read a later instant, and
`data()` gives the same dictionary a query selecting every field answers (`okr report --format
json`).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.utils.str_converters import to_camel_case

from api.types import CycleState, Grade, KeyResultKind, ObjectiveState, ProgressSource, fig, fig_or_none, num
from projections import model as m

REVIEW_DOC = (
    "The end-of-cycle review of a CLOSED cycle, as of its close (time travel: later events never"
    " change it): per team its objectives with final score, grade, learnings and the key results"
    " left unfinished (carry-over material), and its grade distribution, mean score, check-in"
    " discipline, aligned share of done tasks and biggest movers. An open cycle is refused"
    " (CYCLE_NOT_CLOSED); a team that did not exist at the close is TEAM_NOT_FOUND."
)


def _id(value: UUID | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="The reviewed cycle, as it was at its close.")
class ReviewCycle:
    id: strawberry.ID
    name: str
    start: date
    end: date
    state: CycleState


@strawberry.type(description="A key result at the close.")
class KeyResultReview:
    id: strawberry.ID
    objective_id: strawberry.ID
    title: str
    kind: KeyResultKind
    unit: str
    source: ProgressSource
    start: float
    target: float
    value: float = strawberry.field(description="Its value at the close.")
    progress: float = strawberry.field(description="Progress at the close, 0-1.")
    score: float | None
    grade: Grade | None
    cadence_days: int
    check_ins: int = strawberry.field(description="Check-ins between the cycle's start and its close.")
    periods: int = strawberry.field(
        description=(
            "Cadence periods: the cycle's time from its first day (00:00 UTC) to the close, cut into"
            " windows of cadenceDays (the last one cut by the close); 0 for TASKS-driven key results."
        )
    )
    periods_with_check_in: int = strawberry.field(description="Periods holding at least one check-in.")
    discipline: float | None = strawberry.field(
        description="periodsWithCheckIn / periods (null: no period to keep)."
    )
    progress_change: float = strawberry.field(
        description="Progress at the close minus progress before its first check-in (TASKS-driven: from 0)."
    )
    unfinished: bool = strawberry.field(description="Progress below 1: what a carry-over copies.")

    @classmethod
    def from_view(cls, v: m.KeyResultReview) -> KeyResultReview:
        return cls(
            id=strawberry.ID(str(v.id)),
            objective_id=strawberry.ID(str(v.objective_id)),
            title=v.title,
            kind=KeyResultKind(v.kind),
            unit=v.unit,
            source=ProgressSource(v.source),
            start=num(v.start),
            target=num(v.target),
            value=num(v.value),
            progress=fig(v.progress),
            score=fig_or_none(v.score),
            grade=None if v.grade is None else Grade(v.grade),
            cadence_days=v.cadence_days,
            check_ins=v.check_ins,
            periods=v.periods,
            periods_with_check_in=v.periods_with_check_in,
            discipline=fig_or_none(v.discipline),
            progress_change=fig(v.progress_change),
            unfinished=v.unfinished,
        )


@strawberry.type(description="An objective at the close.")
class ObjectiveReview:
    id: strawberry.ID
    title: str
    owner: str
    state: ObjectiveState
    score: float | None = strawberry.field(description="The final score (null when ABANDONED).")
    score_reason: str | None
    grade: Grade | None
    learnings: str
    progress: float
    key_results: list[KeyResultReview]
    carried_over_key_results: list[KeyResultReview] = strawberry.field(
        description="The key results left unfinished at the close: what carryOverObjective copies."
    )

    @classmethod
    def from_view(cls, v: m.ObjectiveReview) -> ObjectiveReview:
        return cls(
            id=strawberry.ID(str(v.id)),
            title=v.title,
            owner=v.owner,
            state=ObjectiveState(v.state),
            score=fig_or_none(v.score),
            score_reason=v.score_reason,
            grade=None if v.grade is None else Grade(v.grade),
            learnings=v.learnings,
            progress=fig(v.progress),
            key_results=[KeyResultReview.from_view(k) for k in v.key_results],
            carried_over_key_results=[KeyResultReview.from_view(k) for k in v.carried_over],
        )


@strawberry.type
class GradeCount:
    grade: Grade
    count: int


@strawberry.type(description="Figures over the CLOSED objectives of a team or of the whole review.")
class ReviewSummary:
    objectives: int = strawberry.field(description="CLOSED objectives (the ones the figures count).")
    abandoned: int
    grade_distribution: list[GradeCount] = strawberry.field(
        description="GREEN, YELLOW, RED, always all three."
    )
    mean_score: float | None
    periods: int = strawberry.field(description="Cadence periods of their check-in key results, summed.")
    periods_with_check_in: int
    check_in_discipline: float | None = strawberry.field(description="periodsWithCheckIn / periods.")
    done_tasks: int
    aligned_done_tasks: int
    aligned_done_share: float | None = strawberry.field(
        description="Done tasks linked to a key result / all done tasks (null: none done)."
    )
    biggest_movers: list[KeyResultReview] = strawberry.field(
        description="The three largest progress changes over the cycle, by size (falls count too)."
    )

    @classmethod
    def from_view(cls, v: m.ReviewSummary) -> ReviewSummary:
        return cls(
            objectives=v.objectives,
            abandoned=v.abandoned,
            grade_distribution=[GradeCount(grade=Grade(g), count=n) for g, n in v.grade_distribution.items()],
            mean_score=fig_or_none(v.mean_score),
            periods=v.periods,
            periods_with_check_in=v.periods_with_check_in,
            check_in_discipline=fig_or_none(v.check_in_discipline),
            done_tasks=v.done_tasks,
            aligned_done_tasks=v.aligned_done_tasks,
            aligned_done_share=fig_or_none(v.aligned_done_share),
            biggest_movers=[KeyResultReview.from_view(k) for k in v.biggest_movers],
        )


@strawberry.type
class TeamReview:
    team_id: strawberry.ID | None = strawberry.field(description="null: objectives of no team.")
    team_name: str | None = strawberry.field(description="The team's name at the close.")
    summary: ReviewSummary
    objectives: list[ObjectiveReview]

    @classmethod
    def from_view(cls, v: m.TeamReview) -> TeamReview:
        return cls(
            team_id=_id(v.team_id),
            team_name=v.team_name,
            summary=ReviewSummary.from_view(v.summary),
            objectives=[ObjectiveReview.from_view(o) for o in v.objectives],
        )


@strawberry.type(description=REVIEW_DOC)
class CycleReview:
    cycle: ReviewCycle
    closed_at: datetime
    team_id: strawberry.ID | None = strawberry.field(description="The team asked for (null: every team).")
    summary: ReviewSummary
    teams: list[TeamReview] = strawberry.field(description="By name; objectives of no team last.")

    @classmethod
    def from_view(cls, v: m.CycleReview) -> CycleReview:
        c = v.cycle
        return cls(
            cycle=ReviewCycle(
                id=strawberry.ID(str(c.id)), name=c.name, start=c.start, end=c.end, state=CycleState(c.state)
            ),
            closed_at=v.closed_at,
            team_id=_id(v.team_id),
            summary=ReviewSummary.from_view(v.summary),
            teams=[TeamReview.from_view(t) for t in v.teams],
        )


def data(value: Any) -> Any:
    """The JSON a GraphQL query selecting every field answers for these types: field names in
    camelCase, enums by name, instants and dates in ISO 8601, ids as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {to_camel_case(f.name): data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [data(v) for v in value]
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
