"""The progress view: cycles, teams, objectives, their key results and the tasks counted
towards them (what the objective and key-result queries read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar
from uuid import UUID

import orjson

from okr.domain import Cycle, Objective, Team
from okr.domain.base import OkrAggregate
from projections.views.base import (
    APPROVAL_POLICY_EVENTS,
    COMMENT_EVENTS,
    INT,
    ORGANIZATION_EVENTS,
    REAL,
    REMINDER_EVENTS,
    TASK_EVENTS,
    TEXT,
    Batch,
    E,
    Handler,
    Row,
    Table,
    View,
    dumps,
    on,
    sid,
    to_micros,
)

CYCLES = Table(
    "cycles",
    (("id", TEXT), ("org", TEXT), ("name", TEXT), ("start_date", TEXT), ("end_date", TEXT), ("state", TEXT)),
    ("id",),
    (("org", "start_date"),),
)
TEAMS = Table(
    "teams",
    (("id", TEXT), ("org", TEXT), ("name", TEXT), ("parent_team_id", TEXT), ("members", TEXT)),
    ("id",),
    (("org", "name"),),
)
OBJECTIVES = Table(
    "objectives",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("cycle_id", TEXT),
        ("team_id", TEXT),
        ("owner", TEXT),
        ("title", TEXT),
        ("description", TEXT),
        ("driver", TEXT),
        ("weight", REAL),
        ("state", TEXT),
        ("parent_objective_id", TEXT),
        ("parent_key_result_id", TEXT),
        ("carried_over_from", TEXT),
        ("carried_over_to", TEXT),
        ("learnings", TEXT),
        ("score", REAL),  # closing score (Closed) or the owner's override (ObjectiveScored)
        ("score_reason", TEXT),  # the override's reason
        ("activated_at", INT),
        ("created_at", INT),
        ("updated_at", INT),
        ("version", INT),
        ("seq", INT),
    ),
    ("id",),
    (("org", "seq"), ("org", "cycle_id", "seq"), ("parent_objective_id",), ("parent_key_result_id",)),
)
KEY_RESULTS = Table(
    "key_results",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("objective_id", TEXT),
        ("title", TEXT),
        ("kind", TEXT),
        ("direction", TEXT),
        ("unit", TEXT),
        ("start_value", REAL),
        ("target", REAL),
        ("current_value", REAL),
        ("weight", REAL),
        ("source", TEXT),
        ("cadence_days", INT),
        ("added_at", INT),
        ("confidence", REAL),
        ("last_check_in_at", INT),
        ("check_in_count", INT),
        ("score", REAL),
        ("score_reason", TEXT),
        ("seq", INT),
    ),
    ("id",),
    (("objective_id", "seq"),),
)
KR_TASKS = Table(
    "kr_tasks",
    (("key_result_id", TEXT), ("task_id", TEXT), ("weight", REAL), ("done", INT)),
    ("key_result_id", "task_id"),
)


class _KeyResultEvent(Protocol):
    """An objective event about one of its key results."""

    @property
    def key_result_id(self) -> UUID: ...


K = TypeVar("K", bound=_KeyResultEvent)


def _cycle_scheduled(e: Cycle.Scheduled, pos: int, r: Batch) -> None:
    r["cycles"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "name": e.name,
            "start_date": e.start,
            "end_date": e.end,
            "state": "PLANNED",
        }
    )


def _cycle_state(state: str) -> Handler:
    def handle(e: OkrAggregate.Event, pos: int, r: Batch) -> None:
        row = r["cycles"].get(sid(e.originator_id))
        if row is not None:
            row["state"] = state
            r["cycles"].put(row)

    return handle


def _team_created(e: Team.Created, pos: int, r: Batch) -> None:
    r["teams"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "name": e.name,
            "parent_team_id": sid(e.parent_team_id),
            "members": "{}",
        }
    )


def _team_change(change: Callable[[Row, E], None]) -> Callable[[E, int, Batch], None]:
    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["teams"].get(sid(e.originator_id))
        if row is not None:
            change(row, e)
            r["teams"].put(row)

    return handle


def _member_added(row: Row, e: Team.MemberAdded) -> None:
    members = orjson.loads(row["members"])
    members[e.user_id] = e.role
    row["members"] = dumps(members)


def _member_removed(row: Row, e: Team.MemberRemoved) -> None:
    members = orjson.loads(row["members"])
    members.pop(e.user_id, None)
    row["members"] = dumps(members)


def _renamed(row: Row, e: Team.Renamed) -> None:
    row["name"] = e.name


def _moved(row: Row, e: Team.Moved) -> None:
    row["parent_team_id"] = sid(e.parent_team_id)


def _objective_drafted(e: Objective.Drafted, pos: int, r: Batch) -> None:
    ts = to_micros(e.timestamp)
    r["objectives"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "cycle_id": sid(e.cycle_id),
            "team_id": sid(e.team_id),
            "owner": e.owner,
            "title": e.title,
            "description": e.description,
            "driver": e.driver,
            "weight": float(e.weight),
            "state": "DRAFT",
            "parent_objective_id": None,
            "parent_key_result_id": None,
            "carried_over_from": sid(e.carried_over_from),
            "carried_over_to": None,
            "learnings": "",
            "score": None,
            "score_reason": None,
            "activated_at": None,
            "created_at": ts,
            "updated_at": ts,
            "version": e.originator_version,
            "seq": pos,
        }
    )


_OBJECTIVE_FIELDS = {"title", "description", "owner", "team_id", "driver", "weight"}


def _objective_event(change: Callable[[Row, E, Batch, int], None]) -> Callable[[E, int, Batch], None]:
    """Every objective event touches the objective row (updated_at, version)."""

    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["objectives"].get(sid(e.originator_id))
        if row is None:
            return
        row["updated_at"] = to_micros(e.timestamp)
        row["version"] = e.originator_version
        change(row, e, r, pos)
        r["objectives"].put(row)

    return handle


def _objective_revised(row: Row, e: Objective.Revised, r: Batch, pos: int) -> None:
    for key, value in e.changes.items():
        if key in _OBJECTIVE_FIELDS:
            row[key] = sid(value) if key == "team_id" else float(value) if key == "weight" else value


def _aligned(row: Row, e: Objective.Aligned, r: Batch, pos: int) -> None:
    row["parent_objective_id"] = sid(e.parent_objective_id)
    row["parent_key_result_id"] = sid(e.parent_key_result_id)


def _activated(row: Row, e: Objective.Activated, r: Batch, pos: int) -> None:
    row["state"] = "ACTIVE"
    row["activated_at"] = to_micros(e.timestamp)


def _closed(row: Row, e: Objective.Closed, r: Batch, pos: int) -> None:
    row["state"] = "CLOSED"
    row["learnings"] = e.learnings
    score = getattr(e, "score", None)  # absent from Closed events written before scores existed
    row["score"] = None if score is None else float(score)
    row["score_reason"] = None


def _objective_scored(row: Row, e: Objective.ObjectiveScored, r: Batch, pos: int) -> None:
    """The owner's override of the closing score (with its reason)."""
    row["score"] = float(e.score)
    row["score_reason"] = getattr(e, "reason", "") or None


def _abandoned(row: Row, e: Objective.Abandoned, r: Batch, pos: int) -> None:
    row["state"] = "ABANDONED"


def _carried_over(row: Row, e: Objective.CarriedOver, r: Batch, pos: int) -> None:
    row["carried_over_to"] = sid(e.target_objective_id)


def _kr_added(row: Row, e: Objective.KeyResultAdded, r: Batch, pos: int) -> None:
    r["key_results"].put(
        {
            "id": sid(e.key_result_id),
            "org": e.org_id,
            "objective_id": sid(e.originator_id),
            "title": e.title,
            "kind": e.kind,
            "direction": e.direction,
            "unit": e.unit,
            "start_value": float(e.start),
            "target": float(e.target),
            "current_value": float(e.current),
            "weight": float(e.weight),
            "source": e.source,
            "cadence_days": int(e.cadence_days),
            "added_at": to_micros(e.timestamp),
            "confidence": None,
            "last_check_in_at": None,
            "check_in_count": 0,
            "score": None,
            "score_reason": None,
            "seq": pos,
        }
    )


_KR_RENAMES = {"start": "start_value", "current": "current_value"}


def _kr_change(change: Callable[[Row, K], None]) -> Callable[[Row, K, Batch, int], None]:
    def apply(row: Row, e: K, r: Batch, pos: int) -> None:
        kr = r["key_results"].get(sid(e.key_result_id))
        if kr is not None:
            change(kr, e)
            r["key_results"].put(kr)

    return apply


def _kr_revised(kr: Row, e: Objective.KeyResultRevised) -> None:
    for key, value in e.changes.items():
        column = _KR_RENAMES.get(key, key)
        if column in kr and column not in ("id", "org", "objective_id", "seq"):
            kr[column] = value


def _kr_checked_in(kr: Row, e: Objective.KeyResultCheckedIn) -> None:
    kr["current_value"] = float(e.value)
    if e.confidence is not None:
        kr["confidence"] = float(e.confidence)
    kr["last_check_in_at"] = to_micros(e.timestamp)
    kr["check_in_count"] = kr["check_in_count"] + 1


def _kr_scored(kr: Row, e: Objective.KeyResultScored) -> None:
    kr["score"] = float(e.score)
    kr["score_reason"] = e.reason or None


def _kr_removed(row: Row, e: Objective.KeyResultRemoved, r: Batch, pos: int) -> None:
    r["key_results"].delete(sid(e.key_result_id))


def _kr_task_recorded(row: Row, e: Objective.KeyResultTaskRecorded, r: Batch, pos: int) -> None:
    kr_id, task_id = sid(e.key_result_id), sid(e.task_id)
    if e.weight is None:
        r["kr_tasks"].delete(kr_id, task_id)
    else:
        r["kr_tasks"].put(
            {"key_result_id": kr_id, "task_id": task_id, "weight": float(e.weight), "done": int(bool(e.done))}
        )


#: What the progress view reads nothing from: org settings are read by the write side, and a
#: task's effect on progress arrives as Objective.KeyResultTaskRecorded.
PROGRESS_IGNORED: frozenset[type[OkrAggregate.Event]] = (
    ORGANIZATION_EVENTS | TASK_EVENTS | COMMENT_EVENTS | APPROVAL_POLICY_EVENTS | REMINDER_EVENTS
)


def _reviewed(row: Row, e: Objective.ProposedForReview | Objective.Approved, r: Batch, pos: int) -> None:
    """The approval state lives in the comments view; here the event only touches the row."""


def progress_view() -> View:
    o = _objective_event
    return View(
        "progress",
        (CYCLES, TEAMS, OBJECTIVES, KEY_RESULTS, KR_TASKS),
        [
            on(Cycle.Scheduled, _cycle_scheduled),
            on(Cycle.Started, _cycle_state("ACTIVE")),
            on(Cycle.Closed, _cycle_state("CLOSED")),
            on(Team.Created, _team_created),
            on(Team.MemberAdded, _team_change(_member_added)),
            on(Team.MemberRemoved, _team_change(_member_removed)),
            on(Team.Renamed, _team_change(_renamed)),
            on(Team.Moved, _team_change(_moved)),
            on(Objective.Drafted, _objective_drafted),
            on(Objective.Revised, o(_objective_revised)),
            on(Objective.Aligned, o(_aligned)),
            on(Objective.Activated, o(_activated)),
            on(Objective.Closed, o(_closed)),
            on(Objective.ObjectiveScored, o(_objective_scored)),
            on(Objective.Abandoned, o(_abandoned)),
            on(Objective.CarriedOver, o(_carried_over)),
            on(Objective.KeyResultAdded, o(_kr_added)),
            on(Objective.KeyResultRevised, o(_kr_change(_kr_revised))),
            on(Objective.KeyResultRemoved, o(_kr_removed)),
            on(Objective.KeyResultCheckedIn, o(_kr_change(_kr_checked_in))),
            on(Objective.KeyResultScored, o(_kr_change(_kr_scored))),
            on(Objective.KeyResultTaskRecorded, o(_kr_task_recorded)),
            on(Objective.ProposedForReview, o(_reviewed)),
            on(Objective.Approved, o(_reviewed)),
        ],
        ignored=PROGRESS_IGNORED,
    )
