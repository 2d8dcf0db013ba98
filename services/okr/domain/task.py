"""Task: everyday work, ideally linked to a key result so that finishing it moves progress."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import MAX_TEXT, OkrAggregate, check_choice, check_text, check_title
from okr.domain.errors import InvalidTransitionError, TaskCancelledError, ValidationError
from okr.domain.formulas import IMPACT_WEIGHT, Impact


class TaskState(StrEnum):
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class Task(OkrAggregate):
    @classmethod
    def create(
        cls,
        *,
        title: str,
        description: str = "",
        impact: str = Impact.MEDIUM.value,
        assignee: str | None = None,
        key_result_id: UUID | None = None,
        objective_id: UUID | None = None,
        cycle_id: UUID | None = None,
        team_id: UUID | None = None,
    ) -> Task:
        return cls(
            title=check_title(title),
            description=check_text(description, "description", MAX_TEXT),
            impact=check_choice(impact, Impact, "impact"),
            assignee=None if assignee is None else check_title(assignee, "assignee"),
            key_result_id=key_result_id,
            objective_id=objective_id,
            cycle_id=cycle_id,
            team_id=team_id,
        )

    class Created(OkrAggregate.Created):
        title: str
        description: str
        impact: str
        assignee: str | None
        key_result_id: UUID | None
        objective_id: UUID | None
        cycle_id: UUID | None
        team_id: UUID | None

    @event(Created)
    def __init__(
        self,
        title: str,
        description: str,
        impact: str,
        assignee: str | None,
        key_result_id: UUID | None,
        objective_id: UUID | None,
        cycle_id: UUID | None,
        team_id: UUID | None,
    ) -> None:
        self.title = title
        self.description = description
        self.impact = impact
        self.assignee = assignee
        self.key_result_id = key_result_id
        self.objective_id = objective_id
        self.cycle_id = cycle_id
        self.team_id = team_id
        self.state = TaskState.TODO.value

    @property
    def weight(self) -> float:
        return float(IMPACT_WEIGHT[Impact(self.impact)])

    @property
    def is_done(self) -> bool:
        return self.state == TaskState.DONE.value

    @property
    def counts_for_progress(self) -> bool:
        return self.state != TaskState.CANCELLED.value

    def check_not_cancelled(self) -> None:
        if self.state == TaskState.CANCELLED.value:
            raise TaskCancelledError("task is cancelled and accepts no changes", field="taskId")

    def link(self, key_result_id: UUID, objective_id: UUID, cycle_id: UUID) -> None:
        self.check_not_cancelled()
        if self.key_result_id == key_result_id:
            raise ValidationError("task is already linked to that key result", field="keyResultId")
        self._linked(key_result_id=key_result_id, objective_id=objective_id, cycle_id=cycle_id)

    class Linked(OkrAggregate.Event):
        key_result_id: UUID
        objective_id: UUID
        cycle_id: UUID

    @event(Linked)
    def _linked(self, key_result_id: UUID, objective_id: UUID, cycle_id: UUID) -> None:
        self.key_result_id = key_result_id
        self.objective_id = objective_id
        self.cycle_id = cycle_id

    def unlink(self) -> None:
        self.check_not_cancelled()
        if self.key_result_id is None:
            raise ValidationError("task is not linked", field="taskId")
        self._unlinked(previous_key_result_id=self.key_result_id)

    class Unlinked(OkrAggregate.Event):
        previous_key_result_id: UUID

    @event(Unlinked)
    def _unlinked(self, previous_key_result_id: UUID) -> None:
        self.key_result_id = None
        self.objective_id = None

    def assign(self, assignee: str | None) -> None:
        self.check_not_cancelled()
        who = None if assignee is None else check_title(assignee, "assignee")
        if who == self.assignee:
            raise ValidationError("task already has that assignee", field="assignee")
        self._assigned(assignee=who)

    class Assigned(OkrAggregate.Event):
        assignee: str | None

    @event(Assigned)
    def _assigned(self, assignee: str | None) -> None:
        self.assignee = assignee

    def revise(
        self, *, title: str | None = None, description: str | None = None, impact: str | None = None
    ) -> None:
        self.check_not_cancelled()
        changes: dict[str, str] = {}
        if title is not None:
            changes["title"] = check_title(title)
        if description is not None:
            changes["description"] = check_text(description, "description", MAX_TEXT)
        if impact is not None:
            changes["impact"] = check_choice(impact, Impact, "impact")
        changes = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not changes:
            raise ValidationError("nothing to change")
        self._revised(changes=changes)

    class Revised(OkrAggregate.Event):
        """Only the fields that changed (title, description, impact)."""

        changes: dict[str, str]

    @event(Revised)
    def _revised(self, changes: dict[str, str]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def start(self) -> None:
        self.check_not_cancelled()
        if self.state != TaskState.TODO.value:
            raise InvalidTransitionError(f"task is {self.state}; only TODO tasks start")
        self._started()

    class Started(OkrAggregate.Event):
        """TODO -> IN_PROGRESS."""

    @event(Started)
    def _started(self) -> None:
        self.state = TaskState.IN_PROGRESS.value

    def complete(self, reported_value: float | None) -> None:
        self.check_not_cancelled()
        if self.state == TaskState.DONE.value:
            raise InvalidTransitionError("task is already DONE")
        self._completed(reported_value=reported_value)

    class Completed(OkrAggregate.Event):
        reported_value: float | None

    @event(Completed)
    def _completed(self, reported_value: float | None) -> None:
        self.state = TaskState.DONE.value

    def reopen(self) -> None:
        self.check_not_cancelled()
        if self.state != TaskState.DONE.value:
            raise InvalidTransitionError(f"task is {self.state}; only DONE tasks reopen")
        self._reopened()

    class Reopened(OkrAggregate.Event):
        """DONE -> TODO."""

    @event(Reopened)
    def _reopened(self) -> None:
        self.state = TaskState.TODO.value

    def cancel(self, reason: str = "") -> None:
        self.check_not_cancelled()
        self._cancelled(reason=check_text(reason, "reason", 5_000))

    class Cancelled(OkrAggregate.Event):
        reason: str

    @event(Cancelled)
    def _cancelled(self, reason: str) -> None:
        self.state = TaskState.CANCELLED.value
