"""The alignment view: tasks, with the key result, objective, cycle and team each is aligned to."""

from __future__ import annotations

from collections.abc import Callable

from okr.domain import Objective, Task
from okr.domain.base import OkrAggregate
from projections.views.base import (
    APPROVAL_POLICY_EVENTS,
    COMMENT_EVENTS,
    CYCLE_EVENTS,
    INT,
    OBJECTIVE_EVENTS,
    ORGANIZATION_EVENTS,
    REMINDER_EVENTS,
    TEAM_EVENTS,
    TEXT,
    Batch,
    E,
    Row,
    Table,
    View,
    on,
    sid,
    to_micros,
)

TASKS = Table(
    "tasks",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("title", TEXT),
        ("description", TEXT),
        ("impact", TEXT),
        ("assignee", TEXT),
        ("state", TEXT),
        ("key_result_id", TEXT),
        ("objective_id", TEXT),
        ("cycle_id", TEXT),
        ("team_id", TEXT),
        ("created_at", INT),
        ("updated_at", INT),
        ("seq", INT),
    ),
    ("id",),
    (("org", "seq"), ("org", "cycle_id", "seq"), ("key_result_id",)),
)


def _task_created(e: Task.Created, pos: int, r: Batch) -> None:
    ts = to_micros(e.timestamp)
    r["tasks"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "title": e.title,
            "description": e.description,
            "impact": e.impact,
            "assignee": e.assignee,
            "state": "TODO",
            "key_result_id": sid(e.key_result_id),
            "objective_id": sid(e.objective_id),
            "cycle_id": sid(e.cycle_id),
            "team_id": sid(e.team_id),
            "created_at": ts,
            "updated_at": ts,
            "seq": pos,
        }
    )


def _task_event(change: Callable[[Row, E], None]) -> Callable[[E, int, Batch], None]:
    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["tasks"].get(sid(e.originator_id))
        if row is None:
            return
        row["updated_at"] = to_micros(e.timestamp)
        change(row, e)
        r["tasks"].put(row)

    return handle


def _task_linked(row: Row, e: Task.Linked) -> None:
    row["key_result_id"] = sid(e.key_result_id)
    row["objective_id"] = sid(e.objective_id)
    row["cycle_id"] = sid(e.cycle_id)


def _task_unlinked(row: Row, e: Task.Unlinked) -> None:
    row["key_result_id"] = None
    row["objective_id"] = None


def _task_assigned(row: Row, e: Task.Assigned) -> None:
    row["assignee"] = e.assignee


def _task_revised(row: Row, e: Task.Revised) -> None:
    for key in ("title", "description", "impact"):
        if key in e.changes:
            row[key] = e.changes[key]


def _task_state(state: str) -> Callable[[Row, OkrAggregate.Event], None]:
    def change(row: Row, e: OkrAggregate.Event) -> None:
        row["state"] = state

    return change


def _task_kr_removed(e: Objective.KeyResultRemoved, pos: int, r: Batch) -> None:
    """A removed key result leaves its tasks unaligned (they keep their cycle and team)."""
    kr_id = sid(e.key_result_id)
    rows = r["tasks"]
    for row in rows.find("key_result_id", kr_id):
        row["key_result_id"] = None
        row["objective_id"] = None
        row["updated_at"] = to_micros(e.timestamp)
        rows.put(row)


#: The alignment view holds tasks: of the other aggregates' events only a removed key result
#: matters (its tasks become unaligned); a task's cycle and team come with its own events.
ALIGNMENT_IGNORED: frozenset[type[OkrAggregate.Event]] = (
    CYCLE_EVENTS
    | TEAM_EVENTS
    | (OBJECTIVE_EVENTS - {Objective.KeyResultRemoved})
    | ORGANIZATION_EVENTS
    | COMMENT_EVENTS
    | APPROVAL_POLICY_EVENTS
    | REMINDER_EVENTS
)


def alignment_view() -> View:
    t = _task_event
    return View(
        "alignment",
        (TASKS,),
        [
            on(Task.Created, _task_created),
            on(Task.Linked, t(_task_linked)),
            on(Task.Unlinked, t(_task_unlinked)),
            on(Task.Assigned, t(_task_assigned)),
            on(Task.Revised, t(_task_revised)),
            on(Task.Started, t(_task_state("IN_PROGRESS"))),
            on(Task.Completed, t(_task_state("DONE"))),
            on(Task.Reopened, t(_task_state("TODO"))),
            on(Task.Cancelled, t(_task_state("CANCELLED"))),
            on(Objective.KeyResultRemoved, _task_kr_removed),
        ],
        ignored=ALIGNMENT_IGNORED,
    )
