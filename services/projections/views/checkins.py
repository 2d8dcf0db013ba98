"""The check-ins view: the history of every key-result check-in, one row per event."""

from __future__ import annotations

from okr.domain import Objective
from okr.domain.base import OkrAggregate
from projections.views.base import (
    APPROVAL_POLICY_EVENTS,
    COMMENT_EVENTS,
    CYCLE_EVENTS,
    INT,
    OBJECTIVE_EVENTS,
    ORGANIZATION_EVENTS,
    REAL,
    REMINDER_EVENTS,
    TASK_EVENTS,
    TEAM_EVENTS,
    TEXT,
    Batch,
    Table,
    View,
    on,
    sid,
    to_micros,
)

CHECK_INS = Table(
    "check_ins",
    (
        ("position", INT),
        ("org", TEXT),
        ("key_result_id", TEXT),
        ("objective_id", TEXT),
        ("value_before", REAL),
        ("value", REAL),
        ("confidence", REAL),
        ("note", TEXT),
        ("author", TEXT),
        ("at", INT),
        ("task_id", TEXT),
    ),
    ("position",),
    (("key_result_id", "position"),),
)


def _check_in_row(e: Objective.KeyResultCheckedIn, pos: int, r: Batch) -> None:
    r["check_ins"].append(
        (
            pos,
            e.org_id,
            sid(e.key_result_id),
            sid(e.originator_id),
            float(e.value_before),
            float(e.value),
            None if e.confidence is None else float(e.confidence),
            e.note,
            e.actor,
            to_micros(e.timestamp),
            sid(e.task_id),
        )
    )


#: The check-ins view is the history of one event.
CHECK_INS_IGNORED: frozenset[type[OkrAggregate.Event]] = (
    CYCLE_EVENTS
    | TEAM_EVENTS
    | (OBJECTIVE_EVENTS - {Objective.KeyResultCheckedIn})
    | ORGANIZATION_EVENTS
    | TASK_EVENTS
    | COMMENT_EVENTS
    | APPROVAL_POLICY_EVENTS
    | REMINDER_EVENTS
)


def check_ins_view() -> View:
    return View(
        "checkins",
        (CHECK_INS,),
        [on(Objective.KeyResultCheckedIn, _check_in_row)],
        ignored=CHECK_INS_IGNORED,
    )
