"""Tasks: created (aligned to a key result or not), linked, assigned, revised, started,
completed (optionally reporting a value for the key result), reopened, cancelled. A task's key
result is re-tallied in the same write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from okr.access import authorize_check_in
from okr.commands import (
    AssignTask,
    CancelTask,
    CompleteTask,
    CreateTask,
    LinkTask,
    ReopenTask,
    ReviseTask,
    StartTask,
)
from okr.domain.base import OkrAggregate, check_number
from okr.domain.errors import InvalidValueError, KeyResultNotFoundError, NotFoundError, RuleViolation
from okr.domain.internal import KeyResultIndex
from okr.domain.objective import Objective
from okr.domain.task import Task
from okr.handlers import Outcome, handles
from okr.lookups import parse_id

if TYPE_CHECKING:
    from okr.application import OkrApplication


def link_target(app: OkrApplication, key_result_id: UUID | str) -> tuple[Objective, UUID]:
    """The open objective of the key result a task links to, and the key result's id."""
    objective = app.objective_of_key_result(key_result_id)
    app.check_not_frozen(objective, "keyResultId")
    if objective.is_finished:
        raise RuleViolation(
            f"the key result's objective is {objective.state}; link to an open one", field="keyResultId"
        )
    return objective, parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")


@handles(CreateTask)
def create_task(app: OkrApplication, c: CreateTask) -> Outcome:
    team = None if c.team_id is None else app.get_team(c.team_id).id
    cycle = None if c.cycle_id is None else app.get_cycle(c.cycle_id).id
    objective: Objective | None = None
    kr_id: UUID | None = None
    if c.key_result_id is not None:
        objective, kr_id = link_target(app, c.key_result_id)
        cycle = objective.cycle_id
        team = team if team is not None else objective.team_id
    task = Task.create(
        title=c.title,
        description=c.description,
        impact=c.impact,
        assignee=c.assignee,
        key_result_id=kr_id,
        objective_id=None if objective is None else objective.id,
        cycle_id=cycle,
        team_id=team,
    )
    to_save: list[OkrAggregate] = [task]
    if objective is not None and kr_id is not None:
        objective.record_task(kr_id, task.id, task.weight, task.is_done)
        to_save.append(objective)
    return Outcome(to_save, task.id)


def on_task(
    app: OkrApplication, task_id: UUID | str, change: Callable[[Task], list[OkrAggregate]]
) -> Outcome:
    """Runs `change` on the task, then re-tallies the linked key result(s) in the same write."""
    task = app.get_task(task_id)
    before = task.key_result_id
    extra = change(task)
    to_save: list[OkrAggregate] = [task, *extra]
    objectives = {o.id: o for o in extra if isinstance(o, Objective)}
    for kr_id in {before, task.key_result_id} - {None}:
        assert kr_id is not None
        try:
            index: object = app.repository.get(KeyResultIndex.id_for(kr_id))
            assert isinstance(index, KeyResultIndex)
            objective = objectives.get(index.objective_id) or app.get_objective(index.objective_id)
            if str(kr_id) not in objective.key_results:
                continue  # the KR was removed since; nothing to tally
            if objective.is_finished or app.is_frozen(objective):
                continue  # a finished or frozen objective's key results are final
        except (AggregateNotFoundError, NotFoundError):
            continue
        linked = kr_id == task.key_result_id and task.counts_for_progress
        objective.record_task(kr_id, task.id, task.weight if linked else None, task.is_done)
        if objective.id not in objectives:
            objectives[objective.id] = objective
            to_save.append(objective)
    return Outcome(to_save, task.id)


@handles(LinkTask)
def link_task(app: OkrApplication, c: LinkTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        if c.key_result_id is None:
            task.unlink()
            return []
        objective, kr_id = link_target(app, c.key_result_id)
        task.link(kr_id, objective.id, objective.cycle_id)
        return [objective]

    return on_task(app, c.task_id, change)


@handles(AssignTask)
def assign_task(app: OkrApplication, c: AssignTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        task.assign(c.assignee)
        return []

    return on_task(app, c.task_id, change)


@handles(ReviseTask)
def revise_task(app: OkrApplication, c: ReviseTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        task.revise(title=c.title, description=c.description, impact=c.impact)
        return []

    return on_task(app, c.task_id, change)


@handles(StartTask)
def start_task(app: OkrApplication, c: StartTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        task.start()
        return []

    return on_task(app, c.task_id, change)


@handles(CompleteTask)
def complete_task(app: OkrApplication, c: CompleteTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        reported = None if c.value is None else check_number(c.value, "value")
        if reported is None:
            task.complete(None)
            return []
        if task.key_result_id is None:
            raise InvalidValueError("an unlinked task has no key result to report a value for", field="value")
        try:
            objective = app.objective_of_key_result(task.key_result_id)
        except KeyResultNotFoundError:
            raise KeyResultNotFoundError(
                f"the task's key result {task.key_result_id} was removed: complete it without a value",
                field="value",
            ) from None
        authorize_check_in(app, objective)
        app.check_cycle_accepts_check_ins(objective)
        task.complete(reported)
        objective.check_in(
            task.key_result_id,
            reported,
            c.confidence,
            c.note or f"completed task: {task.title}",
            task_id=task.id,
        )
        return [objective]

    return on_task(app, c.task_id, change)


@handles(ReopenTask)
def reopen_task(app: OkrApplication, c: ReopenTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        task.reopen()
        return []

    return on_task(app, c.task_id, change)


@handles(CancelTask)
def cancel_task(app: OkrApplication, c: CancelTask) -> Outcome:
    def change(task: Task) -> list[OkrAggregate]:
        task.cancel(c.reason)
        return []

    return on_task(app, c.task_id, change)
