"""The OKR domain: aggregates, events, rules and pure formulas (stdlib + eventsourcing only)."""

from okr.domain.approval import ApprovalPolicy
from okr.domain.base import OkrAggregate, event_classes
from okr.domain.comment import Comment
from okr.domain.context import (
    RequestContext,
    current_context,
    maybe_context,
    now,
    request_context,
)
from okr.domain.cycle import Cycle, CycleState
from okr.domain.errors import DomainError
from okr.domain.internal import (
    INTERNAL_AGGREGATE_TYPES,
    INTERNAL_TOPIC_PREFIX,
    IdempotencyRecord,
    KeyResultIndex,
)
from okr.domain.key_result import KeyResult, KeyResultSpec, ProgressSource
from okr.domain.objective import Objective, ObjectiveState, ProgressDriver
from okr.domain.organization import Organization
from okr.domain.reminder import Reminder
from okr.domain.task import Task, TaskState
from okr.domain.team import Team, TeamRole

AGGREGATE_TYPES = (Cycle, Team, Objective, Task, Organization, Comment, ApprovalPolicy, Reminder)
#: Every event class of the public aggregates (what views and consumers may read).
PUBLIC_EVENT_CLASSES: tuple[type[OkrAggregate.Event], ...] = tuple(
    cls for aggregate in AGGREGATE_TYPES for cls in event_classes(aggregate)
)

__all__ = [
    "AGGREGATE_TYPES",
    "INTERNAL_AGGREGATE_TYPES",
    "INTERNAL_TOPIC_PREFIX",
    "PUBLIC_EVENT_CLASSES",
    "ApprovalPolicy",
    "Comment",
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
    "Reminder",
    "RequestContext",
    "Task",
    "TaskState",
    "Team",
    "TeamRole",
    "current_context",
    "event_classes",
    "maybe_context",
    "now",
    "request_context",
]
