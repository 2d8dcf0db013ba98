"""Write-side bookkeeping aggregates, saved atomically with the commands they serve.

They live in the log like everything else but are not OKR facts: projections and the
relay skip their topics (see INTERNAL_TOPIC_PREFIX).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate
from okr.domain.context import current_context

INTERNAL_TOPIC_PREFIX = "okr.domain.internal:"


class KeyResultIndex(OkrAggregate):
    """key result id -> objective id, so a KR is addressable by its own id."""

    @staticmethod
    def id_for(key_result_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:key-result:{key_result_id}")

    @staticmethod
    def create_id(key_result_id: UUID) -> UUID:
        return KeyResultIndex.id_for(key_result_id)

    class Indexed(OkrAggregate.Created):
        key_result_id: UUID
        objective_id: UUID

    @event(Indexed)
    def __init__(self, key_result_id: UUID, objective_id: UUID) -> None:
        self.key_result_id = key_result_id
        self.objective_id = objective_id


class CycleIndex(OkrAggregate):
    """A cycle's objectives: objective id -> [team id or None, state]. Saved atomically with
    every write that drafts an objective into the cycle or changes one's team or state, so the
    write side can list a cycle's active objectives (close) and count a team's (policies)."""

    @staticmethod
    def id_for(cycle_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:cycle-index:{cycle_id}")

    @staticmethod
    def create_id(cycle_id: UUID) -> UUID:
        return CycleIndex.id_for(cycle_id)

    class Created(OkrAggregate.Created):
        cycle_id: UUID

    @event(Created)
    def __init__(self, cycle_id: UUID) -> None:
        self.cycle_id = cycle_id
        self.objectives: dict[str, list[str | None]] = {}
        self.cycle_closed = False

    def entry(self, objective_id: UUID) -> tuple[str | None, str] | None:
        found = self.objectives.get(str(objective_id))
        return None if found is None else (found[0], str(found[1]))

    def record(self, objective_id: UUID, team_id: UUID | None, state: str) -> None:
        """Records the objective's team and state (no event when nothing changed)."""
        team = None if team_id is None else str(team_id)
        if self.objectives.get(str(objective_id)) == [team, state]:
            return
        self._recorded(objective_id=objective_id, team_id=team, state=state)

    class ObjectiveRecorded(OkrAggregate.Event):
        objective_id: UUID
        team_id: str | None
        state: str

    @event(ObjectiveRecorded)
    def _recorded(self, objective_id: UUID, team_id: str | None, state: str) -> None:
        self.objectives[str(objective_id)] = [team_id, state]

    def seal(self) -> None:
        """Marks the cycle closed: saved with the close, so a concurrent command that records
        an objective here (draft, activation, team move) conflicts and is retried."""
        self._sealed()

    class CycleClosed(OkrAggregate.Event):
        """The cycle was closed (see `seal`)."""

    @event(CycleClosed)
    def _sealed(self) -> None:
        self.cycle_closed = True

    def with_state(self, state: str) -> list[UUID]:
        return [UUID(oid) for oid, (_, s) in self.objectives.items() if s == state]

    def active_count(self, team_id: UUID) -> int:
        team = str(team_id)
        return sum(1 for t, s in self.objectives.values() if t == team and s == "ACTIVE")


class ChildrenIndex(OkrAggregate):
    """An objective's aligned children: child id -> the parent's key result id it aligns under
    (None: under the objective itself). Saved atomically with every Aligned event."""

    @staticmethod
    def id_for(parent_objective_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:objective-children:{parent_objective_id}")

    @staticmethod
    def create_id(parent_objective_id: UUID) -> UUID:
        return ChildrenIndex.id_for(parent_objective_id)

    class Created(OkrAggregate.Created):
        parent_objective_id: UUID

    @event(Created)
    def __init__(self, parent_objective_id: UUID) -> None:
        self.parent_objective_id = parent_objective_id
        self.children: dict[str, str | None] = {}

    def add(self, child_id: UUID, key_result_id: UUID | None) -> None:
        kr = None if key_result_id is None else str(key_result_id)
        if str(child_id) in self.children and self.children[str(child_id)] == kr:
            return
        self._added(child_id=child_id, key_result_id=kr)

    class ChildAdded(OkrAggregate.Event):
        child_id: UUID
        key_result_id: str | None

    @event(ChildAdded)
    def _added(self, child_id: UUID, key_result_id: str | None) -> None:
        self.children[str(child_id)] = key_result_id

    def remove(self, child_id: UUID) -> None:
        if str(child_id) in self.children:
            self._removed(child_id=child_id)

    class ChildRemoved(OkrAggregate.Event):
        child_id: UUID

    @event(ChildRemoved)
    def _removed(self, child_id: UUID) -> None:
        self.children.pop(str(child_id), None)


class IdempotencyRecord(OkrAggregate):
    """First result of a command sent with an idempotency key (per org and per actor)."""

    @staticmethod
    def id_for(org_id: str, actor: str, key: str) -> UUID:
        # org and actor are bounded ([A-Za-z0-9_-] and 1-200 characters); the JSON list keeps
        # "a:b" + "c" apart from "a" + "b:c"
        return uuid5(NAMESPACE_URL, "okr:idempotency:" + json.dumps([org_id, actor, key]))

    @staticmethod
    def create_id(key: str) -> UUID:
        ctx = current_context()
        return IdempotencyRecord.id_for(ctx.org_id, ctx.actor, key)

    class Recorded(OkrAggregate.Created):
        key: str
        command: str
        fingerprint: str
        result: dict[str, Any]

    @event(Recorded)
    def __init__(self, key: str, command: str, fingerprint: str, result: dict[str, Any]) -> None:
        self.key = key
        self.command = command
        self.fingerprint = fingerprint
        self.result = result



class TeamHierarchy(OkrAggregate):
    """One per org, saved with every team move: two concurrent moves (A under B, B under A)
    conflict on it, and the retry reads the other's move, so no cycle slips in between."""

    @staticmethod
    def id_for(org_key: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:team-hierarchy:{org_key}")

    @staticmethod
    def create_id(org_key: str) -> UUID:
        return TeamHierarchy.id_for(org_key)

    class Created(OkrAggregate.Created):
        org_key: str

    @event(Created)
    def __init__(self, org_key: str) -> None:
        self.org_key = org_key
        self.moves = 0

    def record_move(self, team_id: UUID) -> None:
        self._move_recorded(team_id=team_id)

    class MoveRecorded(OkrAggregate.Event):
        team_id: UUID

    @event(MoveRecorded)
    def _move_recorded(self, team_id: UUID) -> None:
        self.moves += 1

#: The bookkeeping aggregates (their events are never published nor projected).
INTERNAL_AGGREGATE_TYPES = (KeyResultIndex, CycleIndex, ChildrenIndex, IdempotencyRecord, TeamHierarchy)
