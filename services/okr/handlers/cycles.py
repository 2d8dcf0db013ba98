"""Cycles: scheduled, started, closed (a closed cycle is frozen)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from okr.commands import CloseCycle, ScheduleCycle, StartCycle
from okr.domain.base import OkrAggregate, plural
from okr.domain.cycle import Cycle
from okr.domain.errors import (
    CycleHasActiveObjectivesError,
    NotFoundError,
    ObjectiveNotFoundError,
    ValidationError,
)
from okr.domain.objective import Objective, ObjectiveState
from okr.handlers import Outcome, handles

if TYPE_CHECKING:
    from okr.application import OkrApplication


@handles(ScheduleCycle)
def schedule_cycle(app: OkrApplication, c: ScheduleCycle) -> Outcome:
    cycle = Cycle.schedule(c.name, c.start, c.end)
    return Outcome([cycle], cycle.id)


@handles(StartCycle)
def start_cycle(app: OkrApplication, c: StartCycle) -> Outcome:
    cycle = app.get_cycle(c.cycle_id)
    cycle.start_cycle()
    return Outcome([cycle], cycle.id)


@handles(CloseCycle)
def close_cycle(app: OkrApplication, c: CloseCycle) -> Outcome:
    if not isinstance(c.close_active_objectives, bool):
        raise ValidationError("closeActiveObjectives must be a boolean", field="closeActiveObjectives")
    cycle = app.get_cycle(c.cycle_id)
    cycle.check_open()
    index = app.cycle_index(cycle.id)
    active: dict[UUID, Objective] = {}
    for oid in index.with_state(ObjectiveState.ACTIVE.value):
        try:
            objective = app.load(Objective, oid, ObjectiveNotFoundError, "objective")
        except NotFoundError:  # pragma: no cover - the index only lists this org's
            continue
        if objective.state == ObjectiveState.ACTIVE.value:
            active[oid] = objective
        else:  # pragma: no cover - the index is saved with every state change
            index.record(objective.id, objective.team_id, objective.state)
    if active and not c.close_active_objectives:
        listed = "; ".join(f'"{o.title}" ({o.id})' for o in active.values())
        raise CycleHasActiveObjectivesError(
            f"cycle {cycle.name} has {plural(len(active), 'active objective')}: {listed};"
            " close them first, or pass closeActiveObjectives: true to close and score"
            " them with the cycle",
            field="cycleId",
        )
    order = _children_first(app, active)
    for objective in order:
        objective.close("", app.child_scores(objective, active))
        index.record(objective.id, objective.team_id, objective.state)
    cycle.close()
    app.forget_active_cycle(cycle.id)
    to_save: list[OkrAggregate] = [*order]
    if index.objectives:  # (an empty cycle gets no index)
        index.seal()  # conflicts with a concurrent draft/activation recorded here
        to_save.append(index)
    to_save.append(cycle)
    return Outcome(to_save, cycle.id, extra={"closedObjectives": ",".join(str(o.id) for o in order)})


def _children_first(app: OkrApplication, active: dict[UUID, Objective]) -> list[Objective]:
    """The active objectives, each after its active children (a parent's score sees theirs)."""
    order: list[Objective] = []
    visited: set[UUID] = set()

    def visit(objective: Objective) -> None:
        visited.add(objective.id)
        children = app.children_index(objective.id)
        for child_key in sorted(children.children) if children is not None else []:
            child = active.get(UUID(child_key))
            if child is not None and child.id not in visited:
                visit(child)
        order.append(objective)

    for objective in active.values():
        if objective.id not in visited:
            visit(objective)
    return order
