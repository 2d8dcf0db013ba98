"""GraphQL types of what the API reports about the entities: the dashboard, the alignment tree,
prioritised tasks, the audit trail and the event feed, and who the caller is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from api import _doc as doc
from api.context import Context, Instant
from api.types import (
    Cycle,
    KeyResult,
    Objective,
    Role,
    Task,
    Team,
    _id,
    fig,
    load_cycle,
    load_team,
)
from okr.domain import formulas as f
from okr.domain.cycle import CycleState as CycleState
from okr.domain.formulas import Direction as Direction
from okr.domain.formulas import Grade as Grade
from okr.domain.formulas import Impact as Impact
from okr.domain.formulas import KeyResultKind as KeyResultKind
from okr.domain.formulas import Status as Status
from okr.domain.key_result import ProgressSource as ProgressSource
from okr.domain.objective import ObjectiveState as ObjectiveState
from okr.domain.objective import ProgressDriver as ProgressDriver
from okr.domain.task import TaskState as TaskState
from okr.domain.team import TeamRole as TeamRole
from projections import model as m


@strawberry.type
class PrioritizedTask:
    task: Task
    priority: float = strawberry.field(
        description="impact weight x KR weight share x (1 - KR progress); 0 for unaligned tasks."
    )
    aligned: bool

    @classmethod
    def from_view(cls, v: m.PrioritizedTask) -> PrioritizedTask:
        return cls(task=Task.from_view(v.task), priority=fig(v.priority), aligned=v.aligned)


@strawberry.type
class AuditEntry:
    position: int
    at: datetime
    aggregate_type: str
    aggregate_id: strawberry.ID
    version: int
    event_type: str
    actor: str
    correlation_id: str
    causation_id: str
    payload: JSON

    @classmethod
    def from_view(cls, v: m.AuditEntry) -> AuditEntry:
        return cls(
            position=v.position,
            at=v.at,
            aggregate_type=v.aggregate_type,
            aggregate_id=strawberry.ID(str(v.aggregate_id)),
            version=v.version,
            event_type=v.event_type,
            actor=v.actor,
            correlation_id=v.correlation_id,
            causation_id=v.causation_id,
            payload=cast(JSON, v.payload),
        )


@strawberry.type
class TreeNode:
    objective: Objective
    children: list[Annotated[TreeNode, strawberry.lazy("api.reports")]]

    @classmethod
    def from_view(cls, v: m.TreeNode, when: Instant | None = None) -> TreeNode:
        return cls(
            objective=Objective.from_view(v.objective, when),
            children=[cls.from_view(c, when) for c in v.children],
        )


@strawberry.type
class StatusCount:
    status: Status
    count: int


@strawberry.type
class StateCount:
    state: ObjectiveState
    count: int


@strawberry.type
class Dashboard:
    cycle_id: strawberry.ID
    team_id: strawberry.ID | None
    at: datetime
    objectives_total: int
    counts_by_status: list[StatusCount]
    counts_by_state: list[StateCount]
    mean_progress: float
    expected_progress: float
    alignment_ratio: float = strawberry.field(description="Linked non-cancelled tasks / all non-cancelled.")
    objectives_aligned_ratio: float = strawberry.field(description="Objectives with a parent / all.")
    outdated_key_results: list[KeyResult]
    policy_warnings: list[str]
    when: strawberry.Private[Instant | None] = None

    @classmethod
    def from_view(cls, v: m.Dashboard, when: Instant | None = None) -> Dashboard:
        return cls(
            cycle_id=strawberry.ID(str(v.cycle_id)),
            team_id=_id(v.team_id),
            at=v.at,
            objectives_total=v.objectives_total,
            counts_by_status=[
                StatusCount(status=Status(s), count=v.counts_by_status.get(s, 0)) for s in f.Status
            ],
            counts_by_state=[
                StateCount(state=ObjectiveState(s.value), count=v.counts_by_state.get(s.value, 0))
                for s in ObjectiveState
            ],
            mean_progress=fig(v.mean_progress),
            expected_progress=fig(v.expected_progress),
            alignment_ratio=fig(v.alignment_ratio),
            objectives_aligned_ratio=fig(v.objectives_aligned_ratio),
            outdated_key_results=[KeyResult.from_view(k, when) for k in v.outdated_key_results],
            policy_warnings=list(v.policy_warnings),
            when=when,
        )

    @strawberry.field
    async def cycle(self, info: strawberry.Info[Context, None]) -> Cycle | None:
        return await load_cycle(info, self.cycle_id, self.when)

    @strawberry.field
    async def team(self, info: strawberry.Info[Context, None]) -> Team | None:
        return await load_team(info, self.team_id, self.when)


@strawberry.type
class Me:
    user_id: str
    org_id: str
    roles: list[Role]

    @doc.field("The teams you are a member or lead of.")
    async def teams(self, info: strawberry.Info[Context, None]) -> list[Team]:
        ctx = info.context
        org, user = ctx.org, self.user_id
        views = await ctx.read(lambda: ctx.read_model.teams(org))
        return [Team.from_view(t) for t in views if user in t.members]


@strawberry.type(description="One event of this org's log, as it happened.")
class Event:
    position: int
    at: datetime
    aggregate_type: str
    aggregate_id: strawberry.ID
    version: int
    event_type: str
    actor: str
    correlation_id: str
    causation_id: str
    payload: JSON
