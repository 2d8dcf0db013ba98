"""The read side's public query contract: result types and the `ReadModel` protocol.

The API calls only this (no SQL outside services/projections/). Every figure that depends on
"now" (expected progress, status, outdated, grade, warnings) is evaluated at read time for the
instant `at` (None = now); `as_of` answers from the log up to that instant (time travel),
never from the current tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

T = TypeVar("T")

MAX_PAGE = 100


class ConsistencyTimeoutError(TimeoutError):
    """The views did not reach the requested position in time."""

    code = "CONSISTENCY_TIMEOUT"


class InvalidCursorError(ValueError):
    code = "INVALID_CURSOR"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list. Cursors are opaque strings."""

    items: list[T]
    cursors: list[str]
    total_count: int
    has_next_page: bool
    has_previous_page: bool = False

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


@dataclass(frozen=True)
class CycleView:
    id: UUID
    name: str
    start: date
    end: date
    state: str  # PLANNED | ACTIVE | CLOSED
    expected_progress: float  # at `at`; 0 while PLANNED


@dataclass(frozen=True)
class TeamView:
    id: UUID
    name: str
    parent_team_id: UUID | None
    members: dict[str, str]  # user id -> LEAD | MEMBER


@dataclass(frozen=True)
class KeyResultView:
    id: UUID
    objective_id: UUID
    title: str
    kind: str
    direction: str
    unit: str
    start: float
    target: float
    current: float
    weight: float
    source: str  # CHECK_INS | TASKS
    cadence_days: int
    confidence: float | None
    last_check_in_at: datetime | None
    check_in_count: int
    score: float | None  # explicit or closing score; None until scored
    score_reason: str | None
    progress: float  # clamped [0, 1]
    attainment: float  # unclamped
    expected_progress: float  # at `at` (0 while the cycle is PLANNED)
    status: str  # ACCOMPLISHED | ON_TRACK | NEEDS_ATTENTION | OFF_TRACK (at `at`); a threshold
    # in bounds is ON_TRACK until the cycle is over, an unmeasured one is never ACCOMPLISHED
    outdated: bool  # no check-in within its cadence (at `at`), ACTIVE objectives only
    grade: str | None  # of `score`
    tasks_total: int  # linked, non-cancelled
    tasks_done: int


@dataclass(frozen=True)
class ObjectiveView:
    id: UUID
    cycle_id: UUID
    team_id: UUID | None
    owner: str
    title: str
    description: str
    driver: str
    weight: float
    state: str  # DRAFT | ACTIVE | CLOSED | ABANDONED
    parent_objective_id: UUID | None
    parent_key_result_id: UUID | None
    carried_over_from: UUID | None
    carried_over_to: UUID | None
    learnings: str
    key_results: list[KeyResultView]
    progress: float  # roll-up per driver (key results and/or aligned children), clamped [0, 1]
    attainment: float | None  # the same roll-up, same driver, unclamped; None: nothing to roll up
    expected_progress: float  # 0 while the cycle is PLANNED
    status: str | None  # worst KR / children status; None when it has nothing to measure
    outdated: bool  # any KR outdated
    confidence: float | None  # lowest latest KR confidence
    score: float | None  # None until CLOSED; then the closing score, or the owner's override
    score_reason: str | None  # the override's reason (None: the closing score stands)
    grade: str | None  # of `score`
    warnings: list[str]  # policy warnings (KR count, objectives per team)
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class TaskView:
    id: UUID
    title: str
    description: str
    impact: str
    assignee: str | None
    state: str  # TODO | IN_PROGRESS | DONE | CANCELLED
    key_result_id: UUID | None
    objective_id: UUID | None
    cycle_id: UUID | None
    team_id: UUID | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PrioritizedTask:
    task: TaskView
    priority: float  # impact weight x KR weight share x (1 - KR progress); 0 for unaligned
    aligned: bool


@dataclass(frozen=True)
class CheckInView:
    position: int
    key_result_id: UUID
    objective_id: UUID
    value_before: float
    value: float
    confidence: float | None
    note: str
    author: str
    at: datetime
    task_id: UUID | None


@dataclass(frozen=True)
class AuditEntry:
    position: int
    at: datetime
    aggregate_type: str
    aggregate_id: UUID
    version: int
    event_type: str  # the bare event class name, e.g. "KeyResultCheckedIn"
    actor: str
    correlation_id: str
    causation_id: str
    payload: dict[str, Any]  # the event's own fields (values before and after where it has them)


@dataclass(frozen=True)
class SeriesPoint:
    """One observation of a key result's value (a check-in's value, or a done share)."""

    at: datetime
    value: float


@dataclass(frozen=True)
class TaskTally:
    """A linked task's weight and done flag from `at` on (weight None: it left the key result)."""

    at: datetime
    task_id: str
    weight: float | None
    done: bool


@dataclass(frozen=True)
class SeriesRequest:
    """The observations a forecast of one key result needs: inside [since, until]."""

    key_result_id: UUID
    objective_id: UUID
    from_tasks: bool  # progress source TASKS: the task tallies (from the start), not check-ins
    since: datetime  # the cycle's start
    until: datetime  # the instant forecast from


@dataclass(frozen=True)
class ForecastSeries:
    check_ins: list[SeriesPoint]  # oldest first, the last MAX_SERIES of [since, until]
    tallies: list[TaskTally]  # in log order up to `until` (TASKS key results only)


MAX_SERIES = 500  # observations a forecast is fitted to at most (the latest)


@dataclass(frozen=True)
class TreeNode:
    objective: ObjectiveView
    children: list[TreeNode] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    cycle_id: UUID
    team_id: UUID | None
    at: datetime
    objectives_total: int
    counts_by_status: dict[str, int]  # status -> number of ACTIVE objectives
    counts_by_state: dict[str, int]  # DRAFT/ACTIVE/CLOSED/ABANDONED -> n
    mean_progress: float  # over ACTIVE and CLOSED objectives
    expected_progress: float
    alignment_ratio: float  # the cycle's non-cancelled tasks linked to a key result / all of them
    # (a task belongs to its key result's cycle, an unlinked one to the cycle it was created in)
    objectives_aligned_ratio: float  # objectives with a parent / all objectives
    outdated_key_results: list[KeyResultView]
    policy_warnings: list[str]


@dataclass(frozen=True)
class ObjectiveFilter:
    cycle_id: UUID | None = None
    team_id: UUID | None = None
    owner: str | None = None
    states: tuple[str, ...] = ()
    parent_objective_id: UUID | None = None
    unaligned_only: bool = False  # no parent objective or key result


@dataclass(frozen=True)
class TaskFilter:
    cycle_id: UUID | None = None
    team_id: UUID | None = None
    key_result_id: UUID | None = None
    objective_id: UUID | None = None
    assignee: str | None = None
    states: tuple[str, ...] = ()
    unaligned_only: bool = False


@dataclass(frozen=True)
class AuditFilter:
    aggregate_id: UUID | None = None
    aggregate_types: tuple[str, ...] = ()  # Cycle, Team, Objective, Task, Organization (any case)
    actor: str | None = None
    event_types: tuple[str, ...] = ()  # "KeyResultCheckedIn" or "Objective.KeyResultCheckedIn"
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class KeyResultReview:
    """A key result at its cycle's close, with its check-in discipline and how far it moved."""

    id: UUID
    objective_id: UUID
    title: str
    kind: str
    unit: str
    source: str  # CHECK_INS | TASKS
    start: float
    target: float
    value: float  # at the close
    progress: float  # at the close, clamped [0, 1]
    score: float | None
    grade: str | None
    cadence_days: int
    check_ins: int  # check-ins from the cycle's start to its close
    periods: int  # cadence periods from the cycle's start to its close (0: TASKS source)
    periods_with_check_in: int
    discipline: float | None  # periods_with_check_in / periods (None: no period, or TASKS)
    progress_change: float  # progress at the close - before its first check-in (TASKS: from 0)
    unfinished: bool  # progress < 1: what a carry-over copies into the next cycle


@dataclass(frozen=True)
class ObjectiveReview:
    id: UUID
    title: str
    owner: str
    team_id: UUID | None
    state: str  # CLOSED | ABANDONED
    score: float | None  # the final score (CLOSED)
    score_reason: str | None
    grade: str | None
    learnings: str
    progress: float
    key_results: list[KeyResultReview]
    carried_over: list[KeyResultReview]  # the unfinished key results (carry-over material)


@dataclass(frozen=True)
class ReviewSummary:
    """Figures over the CLOSED objectives of a scope (a team, or the whole review)."""

    objectives: int  # CLOSED objectives (abandoned ones are listed, not counted)
    abandoned: int
    grade_distribution: dict[str, int]  # GREEN, YELLOW, RED -> n (every grade, in that order)
    mean_score: float | None
    periods: int  # cadence periods of their CHECK_INS key results, pooled
    periods_with_check_in: int
    check_in_discipline: float | None
    done_tasks: int
    aligned_done_tasks: int
    aligned_done_share: float | None  # None: no done task (or no team to own them)
    biggest_movers: list[KeyResultReview]  # up to 3, by size of progress change


@dataclass(frozen=True)
class TeamReview:
    team_id: UUID | None  # None: objectives of no team
    team_name: str | None  # the name at the close
    summary: ReviewSummary
    objectives: list[ObjectiveReview]


@dataclass(frozen=True)
class CycleReview:
    """The end-of-cycle review, as of the cycle's close (time travel): it reads the same later."""

    cycle: CycleView  # as of the close
    closed_at: datetime
    team_id: UUID | None  # the team asked for (None: every team)
    summary: ReviewSummary
    teams: list[TeamReview]  # by name, objectives of no team last


@dataclass(frozen=True)
class CommentView:
    """A comment; a deleted one keeps its place (its body None, its mentions empty)."""

    id: UUID
    position: int  # of its Added event: comments are listed in this order (oldest first)
    subject_type: str  # OBJECTIVE | KEY_RESULT | CHECK_IN
    subject_id: str  # an objective's or key result's id, or checkin:<position>
    objective_id: UUID
    key_result_id: UUID | None
    thread_id: UUID | None  # the thread's root (None: a root)
    reply_to_id: UUID | None
    author: str
    body: str | None
    mentions: list[str]
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None
    version: int

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class ApprovalView:
    """Where a proposed objective is in the draft -> discuss -> finalise flow."""

    objective_id: UUID
    state: str  # PROPOSED | APPROVED (objectives never proposed have no row: NOT_PROPOSED)
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None


@dataclass(frozen=True)
class DueCheckInView:
    """A key result due for a check-in at an instant (`okr.domain.reminder.reminder_state`)."""

    key_result_id: UUID
    objective_id: UUID
    key_result_title: str
    objective_title: str
    owner: str
    team_id: UUID | None
    cadence_days: int
    last_check_in_at: datetime | None
    due_since: datetime  # last check-in (or activation) + cadence
    period: datetime  # the reminder slot it is due in
    overdue_at: datetime  # period + the org's grace days
    overdue: bool


class ReadModel(Protocol):
    """What the API may ask. Every call is scoped to `org`; other orgs' ids answer None/empty.

    All calls are blocking (call them through asyncio.to_thread from async resolvers).
    `first` is capped at MAX_PAGE; `after` is a cursor from a previous page.
    """

    def position(self) -> int:
        """The lowest position that every view has processed."""

    def wait_for(self, position: int, timeout: float = 5.0) -> None:
        """Blocks until every view has processed `position` (woken by the runners, not by
        polling); raises ConsistencyTimeoutError when `timeout` expires."""

    def cycles(self, org: str, at: datetime | None = None) -> list[CycleView]: ...

    def cycle(self, org: str, cycle_id: UUID, at: datetime | None = None) -> CycleView | None:
        """None for an id that is no cycle of `org` (ask it before `dashboard`: CYCLE_NOT_FOUND)."""

    def teams(self, org: str) -> list[TeamView]: ...

    def teams_by_ids(self, org: str, ids: list[UUID]) -> list[TeamView | None]: ...

    def objective(
        self, org: str, objective_id: UUID, at: datetime | None = None, as_of: datetime | None = None
    ) -> ObjectiveView | None: ...

    def objectives_by_ids(
        self, org: str, ids: list[UUID], at: datetime | None = None
    ) -> list[ObjectiveView | None]:
        """Batch load for DataLoaders (same order as `ids`)."""

    def objectives(
        self,
        org: str,
        filter: ObjectiveFilter,
        first: int = 20,
        after: str | None = None,
        at: datetime | None = None,
    ) -> Page[ObjectiveView]: ...

    def key_result(
        self, org: str, key_result_id: UUID, at: datetime | None = None, as_of: datetime | None = None
    ) -> KeyResultView | None: ...

    def tree(self, org: str, cycle_id: UUID, as_of: datetime | None = None) -> list[TreeNode]:
        """Roots (no parent inside this cycle) with their aligned children, recursively."""

    def dashboard(
        self, org: str, cycle_id: UUID, team_id: UUID | None = None, as_of: datetime | None = None
    ) -> Dashboard: ...

    def tasks(
        self, org: str, filter: TaskFilter, first: int = 20, after: str | None = None
    ) -> Page[TaskView]: ...

    def task(self, org: str, task_id: UUID) -> TaskView | None: ...

    def prioritized_tasks(
        self, org: str, cycle_id: UUID | None, team_id: UUID | None, first: int = 20
    ) -> list[PrioritizedTask]:
        """Open tasks (TODO, IN_PROGRESS) by priority, descending; unaligned last."""

    def check_ins(
        self, org: str, key_result_id: UUID, first: int = 20, after: str | None = None
    ) -> Page[CheckInView]:
        """Newest first."""

    def forecast_series(
        self, org: str, requests: list[SeriesRequest], until_position: int | None = None
    ) -> list[ForecastSeries]:
        """The series of each request (same order), in one read: check-ins from the check-ins
        view, task tallies from the log's index (the audit view). Both are append-only
        histories, so bounding them by `until` (and `until_position`, for an instant given as a
        log position) reads exactly what the log held then: time travel sees no later entry."""

    def audit_log(
        self, org: str, filter: AuditFilter, first: int = 20, after: str | None = None
    ) -> Page[AuditEntry]:
        """By position ascending (keyset on position)."""

    def history(self, org: str, aggregate_id: UUID) -> list[AuditEntry]:
        """Every event of one aggregate, oldest first, with values before and after; for a key
        result's id, the events of its objective that concern that key result."""

    def events_after(self, org: str, after: int, limit: int) -> tuple[list[AuditEntry], int]:
        """Up to `limit` of the org's events after log position `after`, by position, from the
        audit view, and the position this read covers: every event of the org up to it was
        returned (`after` itself when the audit view has not gone beyond it yet)."""

    def now(self) -> datetime:
        """The "now" of read-time figures."""

    def cycle_review(
        self, org: str, cycle_id: UUID, team_id: UUID | None = None, timeout: float = 10.0
    ) -> CycleReview:
        """The review of a CLOSED cycle as of its close instant (time travel), for one team or all;
        raises CYCLE_NOT_FOUND, TEAM_NOT_FOUND (no such team at the close) or CYCLE_NOT_CLOSED."""

    def comments(
        self, org: str, subject_id: str, first: int = 20, after: str | None = None
    ) -> Page[CommentView]:
        """The threads' roots on a subject (an objective's or key result's id, or a check-in's
        `checkin:<position>`), oldest first."""

    def replies(
        self, org: str, thread_id: UUID, first: int = 20, after: str | None = None
    ) -> Page[CommentView]:
        """A thread's replies, oldest first."""

    def comment(self, org: str, comment_id: UUID) -> CommentView | None: ...

    def comment_counts(self, org: str, subject_ids: list[str]) -> list[int]:
        """Comments not deleted (replies included) per subject, in the order of `subject_ids`."""

    def approvals(self, org: str, objective_ids: list[UUID]) -> list[ApprovalView | None]:
        """Batch load (None: never proposed)."""

    def due_check_ins(
        self, org: str, user: str, first: int = 20, after: str | None = None
    ) -> Page[DueCheckInView]:
        """Key results `user` owns or their teams' objectives hold, due or overdue now."""

    def snapshot(
        self, org: str, *, as_of: datetime | None = None, position: int | None = None, timeout: float = 10.0
    ) -> InstantReads:
        """Every view of `org` as of an instant or a log position, rebuilt from the log (time
        travel); every read of one instant goes through the one snapshot. Close it after use."""


class InstantReads(Protocol):
    """The reads of one org at one past instant (a time-travel snapshot)."""

    at: datetime

    def close(self) -> None: ...

    def cycles(self) -> list[CycleView]: ...

    def cycle(self, cycle_id: UUID) -> CycleView | None: ...

    def teams(self) -> list[TeamView]: ...

    def teams_by_ids(self, ids: list[UUID]) -> list[TeamView | None]: ...

    def objective(self, objective_id: UUID) -> ObjectiveView | None: ...

    def objectives_by_ids(self, ids: list[UUID]) -> list[ObjectiveView | None]: ...

    def key_result(self, key_result_id: UUID) -> KeyResultView | None: ...

    def tree(self, cycle_id: UUID) -> list[TreeNode]: ...

    def dashboard(self, cycle_id: UUID, team_id: UUID | None) -> Dashboard: ...

    def check_ins(self, key_result_id: UUID, first: int, after: str | None) -> Page[CheckInView]: ...

    def task(self, task_id: UUID) -> TaskView | None: ...

    def cycle_review(self, cycle_id: UUID, team_id: UUID | None) -> CycleReview:
        """The review with this instant as the close."""

    def comments(self, subject_id: str, first: int, after: str | None) -> Page[CommentView]: ...

    def replies(self, thread_id: UUID, first: int, after: str | None) -> Page[CommentView]: ...

    def comment(self, comment_id: UUID) -> CommentView | None: ...

    def comment_counts(self, subject_ids: list[str]) -> list[int]: ...

    def approvals(self, objective_ids: list[UUID]) -> list[ApprovalView | None]: ...
