"""What command handlers read from the write side: aggregates of the caller's org (another org's
id is simply "not found"), the write-side indexes, roll-ups of aligned children, and whether a
cycle is frozen. A mixin of OkrApplication (it uses the application's repository)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from okr.domain import formulas as f
from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.cycle import Cycle, CycleState
from okr.domain.errors import (
    AlignmentCycleError,
    CycleClosedError,
    CycleNotActiveError,
    CycleNotFoundError,
    KeyResultNotFoundError,
    NotFoundError,
    ObjectiveNotFoundError,
    TaskNotFoundError,
    TeamNotFoundError,
)
from okr.domain.internal import ChildrenIndex, CycleIndex, KeyResultIndex
from okr.domain.key_result import DEFAULT_CADENCE_DAYS
from okr.domain.objective import Objective, ObjectiveState, ProgressDriver
from okr.domain.organization import Organization
from okr.domain.task import Task
from okr.domain.team import Team

if TYPE_CHECKING:
    from eventsourcing.application import Repository

A = TypeVar("A", bound=OkrAggregate)

_CACHE_LIMIT = 100_000


def parse_id(value: UUID | str, error: type[NotFoundError], field_name: str) -> UUID:
    """Malformed ids get a typed error (never a 500)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise error(f"{field_name} {str(value)[:80]!r} is not a valid id", field=field_name) from None


class Lookups:
    """Reads for command handlers; every cache is keyed by org."""

    repository: Repository[UUID]

    def __init__(self) -> None:
        # (org, key result id) -> objective id: index entries never change, and keying by org
        # means another org's id is never even looked up from here
        self._kr_objectives: dict[tuple[str, UUID], UUID] = {}
        # (org, cycle id) -> name of a CLOSED cycle (terminal, so safe to remember)
        self._closed_cycles: dict[tuple[str, UUID], str] = {}
        # (org, cycle id) -> name of a cycle seen ACTIVE: trusted only for ACTIVE objectives
        # (see cycle_state)
        self._active_cycles: dict[tuple[str, UUID], str] = {}

    # ------------------------------------------------------------------ aggregates
    def load(self, cls: type[A], aggregate_id: UUID, error: type[NotFoundError], what: str) -> A:
        """Loads for the current org. Objectives and tasks come from the cache (a stale copy
        conflicts on save and is reloaded); everything else is read fresh, because commands
        only read it (team membership, cycle state, policies) and no save would catch staleness.
        """
        if cls not in (Objective, Task):
            self.evict(aggregate_id)
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise error(f"{what} {aggregate_id} not found", field=f"{what}Id") from None
        if not isinstance(aggregate, cls) or aggregate.org_id != current_context().org_id:
            raise error(f"{what} {aggregate_id} not found", field=f"{what}Id")
        return aggregate

    def evict(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def get_cycle(self, cycle_id: UUID | str) -> Cycle:
        cid = parse_id(cycle_id, CycleNotFoundError, "cycleId")
        return self.load(Cycle, cid, CycleNotFoundError, "cycle")

    def get_team(self, team_id: UUID | str) -> Team:
        return self.load(Team, parse_id(team_id, TeamNotFoundError, "teamId"), TeamNotFoundError, "team")

    def get_objective(self, objective_id: UUID | str) -> Objective:
        oid = parse_id(objective_id, ObjectiveNotFoundError, "objectiveId")
        return self.load(Objective, oid, ObjectiveNotFoundError, "objective")

    def get_task(self, task_id: UUID | str) -> Task:
        return self.load(Task, parse_id(task_id, TaskNotFoundError, "taskId"), TaskNotFoundError, "task")

    def objective_of_key_result(
        self, key_result_id: UUID | str, field_name: str = "keyResultId"
    ) -> Objective:
        """Finds a KR's objective via the index saved atomically with it (no read model).

        Every failure is KEY_RESULT_NOT_FOUND naming only the id the client sent: another
        org's key result (or its objective) is indistinguishable from one that never existed.
        """
        kr_id = parse_id(key_result_id, KeyResultNotFoundError, field_name)
        not_found = KeyResultNotFoundError(f"key result {kr_id} not found", field=field_name)
        objective_id = self.objective_id_of(kr_id)
        if objective_id is None:
            raise not_found
        try:
            objective = self.load(Objective, objective_id, ObjectiveNotFoundError, "objective")
        except NotFoundError:
            raise not_found from None
        if str(kr_id) not in objective.key_results:  # removed KRs are not found
            raise not_found
        return objective

    def objective_id_of(self, kr_id: UUID) -> UUID | None:
        """The id of the objective a key result of the current org belongs to (None: no such)."""
        org_id = current_context().org_id
        objective_id = self._kr_objectives.get((org_id, kr_id))
        if objective_id is not None:
            return objective_id
        try:
            index: object = self.repository.get(KeyResultIndex.id_for(kr_id))
        except AggregateNotFoundError:
            return None
        if not isinstance(index, KeyResultIndex) or index.org_id != org_id:
            return None
        if len(self._kr_objectives) > _CACHE_LIMIT:
            self._kr_objectives.clear()
        self._kr_objectives[(org_id, kr_id)] = index.objective_id  # an index entry never changes
        return index.objective_id

    def organization(self) -> Organization | None:
        try:
            org_uuid = Organization.id_for(current_context().org_id)
            self.evict(org_uuid)
            org: object = self.repository.get(org_uuid)
        except AggregateNotFoundError:
            return None
        assert isinstance(org, Organization)
        return org

    def org_settings(self) -> tuple[bool, int]:
        """(strict_policies, cadence_days) of the current org."""
        org = self.organization()
        if org is None:
            return False, DEFAULT_CADENCE_DAYS
        return org.strict_policies, org.cadence_days

    # ------------------------------------------------------------------ write-side indexes
    def cycle_index(self, cycle_id: UUID) -> CycleIndex:
        """The cycle's objective index, read fresh (a new, unsaved one if it has none yet)."""
        index_id = CycleIndex.id_for(cycle_id)
        self.evict(index_id)
        try:
            index: object = self.repository.get(index_id)
        except AggregateNotFoundError:
            return CycleIndex(cycle_id=cycle_id)
        assert isinstance(index, CycleIndex)
        return index

    def index_objectives(self, objectives: list[Objective]) -> list[OkrAggregate]:
        """Records each objective's team and state in its cycle's index; returns the indexes
        that changed (to save in the same write)."""
        indexes: dict[UUID, CycleIndex] = {}
        for objective in objectives:
            index = indexes.get(objective.cycle_id) or self.cycle_index(objective.cycle_id)
            indexes[objective.cycle_id] = index
            index.record(objective.id, objective.team_id, objective.state)
        return [i for i in indexes.values() if i.pending_events]

    def children_index(self, parent_id: UUID) -> ChildrenIndex | None:
        index_id = ChildrenIndex.id_for(parent_id)
        self.evict(index_id)
        try:
            index: object = self.repository.get(index_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(index, ChildrenIndex)
        return index

    def children_of(self, parent: Objective, known: Mapping[UUID, Objective]) -> list[Objective]:
        """The parent's counted children (ACTIVE or CLOSED, aligned to it or to one of its
        current key results); `known` holds copies this command already changed."""
        index = self.children_index(parent.id)
        if index is None:
            return []
        children: list[Objective] = []
        for child_key, kr_key in sorted(index.children.items()):
            if kr_key is not None and kr_key not in parent.key_results:
                continue  # aligned under a key result that was removed since
            child_id = UUID(child_key)
            child = known.get(child_id)
            if child is None:
                try:
                    child = self.load(Objective, child_id, ObjectiveNotFoundError, "objective")
                except NotFoundError:
                    continue
            if child.state in f.COUNTED_CHILD_STATES:
                children.append(child)
        return children

    def rollup(self, objective: Objective, known: Mapping[UUID, Objective], stack: frozenset[UUID]) -> float:
        """Progress per driver, with the aligned children's progress (bounded depth)."""
        if objective.driver == ProgressDriver.KEY_RESULTS.value or len(stack) >= f.MAX_ALIGNMENT_DEPTH:
            return objective.rollup_progress([])
        inner = stack | {objective.id}
        pairs = [
            (self.rollup(child, known, inner), child.weight)
            for child in self.children_of(objective, known)
            if child.id not in inner
        ]
        return objective.rollup_progress(pairs)

    def child_scores(
        self, parent: Objective, known: Mapping[UUID, Objective] | None = None
    ) -> list[tuple[float, float]]:
        """(score, weight) of the parent's counted children: a closed child's closing score, an
        open child's default score (its progress rounded to 0.1)."""
        if parent.driver == ProgressDriver.KEY_RESULTS.value:
            return []
        known = known or {}
        pairs: list[tuple[float, float]] = []
        for child in self.children_of(parent, known):
            if child.id == parent.id:
                continue
            if child.state == ObjectiveState.CLOSED.value and child.closing_score is not None:
                pairs.append((child.closing_score, child.weight))
            else:
                progress = self.rollup(child, known, frozenset({parent.id}))
                pairs.append((f.default_score(progress), child.weight))
        return pairs

    def parent_id(self, objective: Objective) -> UUID | None:
        """The objective its current parent is (the owner of the parent key result)."""
        if objective.parent_objective_id is not None:
            return objective.parent_objective_id
        if objective.parent_key_result_id is not None:
            return self.objective_id_of(objective.parent_key_result_id)
        return None

    def check_no_cycle(self, child_id: UUID, parent: Objective) -> None:
        """Refuses an alignment that would make `child_id` its own ancestor."""
        seen: set[UUID] = set()
        node: Objective | None = parent
        depth = 0
        while node is not None:
            if node.id == child_id:
                raise AlignmentCycleError(
                    "that alignment would make the objective its own ancestor", field="parentId"
                )
            if node.id in seen or depth > f.MAX_ALIGNMENT_DEPTH:
                raise AlignmentCycleError("alignment chain too deep or cyclic", field="parentId")
            seen.add(node.id)
            depth += 1
            next_id = node.parent_objective_id
            if node.parent_key_result_id is not None:
                index: object = self.repository.get(KeyResultIndex.id_for(node.parent_key_result_id))
                assert isinstance(index, KeyResultIndex)
                next_id = index.objective_id
            if next_id is None:
                return
            self.evict(next_id)
            loaded: object = self.repository.get(next_id)
            node = loaded if isinstance(loaded, Objective) else None

    # ------------------------------------------------------------------ frozen cycles
    def cycle_state(self, objective: Objective) -> tuple[str, str]:
        """(state, name) of an objective's cycle. CLOSED is terminal, so it is remembered. An
        ACTIVE cycle is remembered too, but trusted only for an ACTIVE objective (the hot path of
        check-ins): closing a cycle writes to each of its active objectives (or is refused), so
        a command on a stale copy conflicts on save and its retry sees the objective closed.
        Everything else reads the cycle fresh (another process may have started or closed it)."""
        key = (current_context().org_id, objective.cycle_id)
        name = self._closed_cycles.get(key)
        if name is not None:
            return CycleState.CLOSED.value, name
        if objective.state == ObjectiveState.ACTIVE.value:
            name = self._active_cycles.get(key)
            if name is not None:
                return CycleState.ACTIVE.value, name
        cycle = self.load(Cycle, objective.cycle_id, CycleNotFoundError, "cycle")
        if len(self._closed_cycles) + len(self._active_cycles) > _CACHE_LIMIT:
            self._closed_cycles.clear()
            self._active_cycles.clear()
        if cycle.is_closed:
            self._active_cycles.pop(key, None)
            self._closed_cycles[key] = cycle.name
        elif cycle.state == CycleState.ACTIVE.value:
            self._active_cycles[key] = cycle.name
        return cycle.state, cycle.name

    def forget_active_cycle(self, cycle_id: UUID) -> None:
        self._active_cycles.pop((current_context().org_id, cycle_id), None)

    def is_frozen(self, objective: Objective) -> bool:
        return self.cycle_state(objective)[0] == CycleState.CLOSED.value

    def check_not_frozen(self, objective: Objective, field_name: str | None = None) -> None:
        """Objectives of a closed cycle are frozen: no check-ins, key-result changes, scores,
        revisions, alignments, activations or newly linked tasks."""
        state, name = self.cycle_state(objective)
        if state == CycleState.CLOSED.value:
            raise CycleClosedError(
                f"cycle {name} is closed: its objectives accept no changes", field=field_name
            )

    def check_cycle_accepts_check_ins(self, objective: Objective) -> None:
        state, name = self.cycle_state(objective)
        if state == CycleState.CLOSED.value:
            raise CycleClosedError(
                f"cycle {name} is closed: its key results accept no check-ins", field="keyResultId"
            )
        if state == CycleState.PLANNED.value:
            raise CycleNotActiveError(
                f"cycle {name} is PLANNED: check-ins start when the cycle starts", field="keyResultId"
            )
