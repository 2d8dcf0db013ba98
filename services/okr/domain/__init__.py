"""The OKR domain: aggregates, events, rules and pure formulas (stdlib + eventsourcing only)."""

from okr.domain.context import (
    RequestContext,
    current_context,
    maybe_context,
    now,
    request_context,
)
from okr.domain.cycle import Cycle, CycleState
from okr.domain.errors import DomainError
from okr.domain.internal import INTERNAL_TOPIC_PREFIX, IdempotencyRecord, KeyResultIndex
from okr.domain.objective import (
    KeyResult,
    KeyResultSpec,
    Objective,
    ObjectiveState,
    ProgressDriver,
    ProgressSource,
)
from okr.domain.organization import Organization
from okr.domain.task import Task, TaskState
from okr.domain.team import Team, TeamRole

AGGREGATE_TYPES = (Cycle, Team, Objective, Task, Organization)

__all__ = [
    "AGGREGATE_TYPES",
    "INTERNAL_TOPIC_PREFIX",
    "Cycle",
    "CycleState",
    "DomainError",
    "IdempotencyRecord",
    "KeyResult",
    "KeyResultIndex",
    "KeyResultSpec",
    "Objective",
    "ObjectiveState",
    "Organization",
    "ProgressDriver",
    "ProgressSource",
    "RequestContext",
    "Task",
    "TaskState",
    "Team",
    "TeamRole",
    "current_context",
    "maybe_context",
    "now",
    "request_context",
]
