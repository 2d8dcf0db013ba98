"""The forecast fields of KeyResult and Objective: projections/forecast.py, per request.

Every field resolves through the reader of the object it hangs off, so an `asOf` root forecasts
from the series as of that instant. Series are batched over key results by the reader's
DataLoader; each forecast is computed once per request and instant (the objective's roll-up
reuses its key results' and aligned children's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import strawberry

from api.context import Reader
from okr.domain import formulas as f
from projections import forecast as fc
from projections.model import ObjectiveView, SeriesRequest, TreeNode

T = TypeVar("T")

ForecastMethod = strawberry.enum(
    fc.Method,
    name="ForecastMethod",
    description=(
        "DAMPED_TREND: a trend over the key result's check-ins whose slope may decay, averaged over"
        " its damping (the straight line included); TASK_COMPLETION_TREND: the same over the done"
        " share of the linked tasks' weight; ROLLUP: an objective's roll-up of forecasts."
    ),
)
ForecastUnavailableReason = strawberry.enum(
    fc.Unavailable,
    name="ForecastUnavailableReason",
    description=(
        f"Why there is no forecast. TOO_FEW_CHECK_INS: fewer than {fc.MIN_POINTS} observations in"
        " the cycle so far; MILESTONE: a BOOLEAN key result has no trend; CYCLE_NOT_STARTED;"
        " CYCLE_ENDED: the end value is known; NOTHING_TO_ROLL_UP: the objective's driver has no"
        " input; MISSING_FORECASTS: a weighted key result or aligned objective has no forecast."
    ),
)


@strawberry.type(
    description=(
        "Where a key result will be at its cycle's end, from its check-ins in the cycle so far"
        f" (task-driven key results: the done share of task weight over time). The band [low, high]"
        f" is a {round(fc.LEVEL * 100)}% prediction interval of the end value; probabilityOfTarget"
        " is from the same predictive distribution. Backtested in bench/forecast.py."
    )
)
class KeyResultForecast:
    value: float = strawberry.field(
        description="The expected value at the cycle's end (task-driven: the done share, 0-1)."
    )
    low: float = strawberry.field(description="The band's lower end (same scale as value).")
    high: float = strawberry.field(description="The band's upper end.")
    probability_of_target: float = strawberry.field(
        description=(
            "P(the end value meets the target in the key result's direction): at or above it"
            " (INCREASE, STAY_ABOVE), at or below it (DECREASE, STAY_BELOW); for thresholds, the"
            " probability of being in bounds at the end; task-driven: of every task done."
        )
    )
    method: fc.Method
    based_on_check_ins: int = strawberry.field(
        description=(
            "Observations the trend was fitted to: check-ins in the cycle (several at one instant"
            " count once); task-driven: each change of the done share, and now."
        )
    )
    at: datetime = strawberry.field(description="The instant forecast: the cycle's end.")
    level: float = strawberry.field(description="The band's nominal coverage.")
    progress: float = strawberry.field(description="The key-result progress formula applied to value.")
    progress_low: float = strawberry.field(description="Progress over the band: its lower end.")
    progress_high: float = strawberry.field(description="Progress over the band: its upper end.")

    @classmethod
    def of(cls, r: fc.KeyResultForecast) -> KeyResultForecast:
        return cls(
            value=_fig(r.value),
            low=_fig(r.low),
            high=_fig(r.high),
            probability_of_target=_fig(r.probability_of_target),
            method=r.method,
            based_on_check_ins=r.points,
            at=r.at,
            level=r.level,
            progress=_fig(r.progress),
            progress_low=_fig(r.progress_low),
            progress_high=_fig(r.progress_high),
        )


@strawberry.type(
    description=(
        "An objective's progress at its cycle's end: the progress roll-up (same driver, same"
        " weights) of its key results' forecast progress and its counted aligned objectives'"
        " forecasts. The band is an approximation: the weighted mean of the inputs' band ends, the"
        " exact band when the inputs move together; independent inputs would give a narrower one,"
        " so it errs on the wide side."
    )
)
class ObjectiveForecast:
    progress: float = strawberry.field(description="Forecast progress at the cycle's end, 0-1.")
    low: float = strawberry.field(description="The band's lower end (progress).")
    high: float = strawberry.field(description="The band's upper end (progress).")
    method: fc.Method
    based_on_forecasts: int = strawberry.field(description="Key results and aligned objectives rolled up.")
    at: datetime = strawberry.field(description="The instant forecast: the cycle's end.")
    level: float = strawberry.field(description="The nominal coverage of the inputs' bands.")

    @classmethod
    def of(cls, r: fc.ObjectiveForecast) -> ObjectiveForecast:
        return cls(
            progress=_fig(r.progress),
            low=_fig(r.progress_low),
            high=_fig(r.progress_high),
            method=fc.Method.ROLLUP,
            based_on_forecasts=r.inputs,
            at=r.at,
            level=r.level,
        )


@strawberry.type(description="Why a forecast field is null.")
class ForecastUnavailable:
    reason: fc.Unavailable
    message: str

    @classmethod
    def of(cls, r: fc.NoForecast) -> ForecastUnavailable:
        return cls(reason=r.reason, message=r.message)


def _fig(value: float) -> float:
    return round(value, 4) + 0.0


async def _once(reader: Reader, key: object, compute: Callable[[], Awaitable[T]]) -> T:
    """`compute()` once per reader (request and instant) for `key`; others await the same."""
    memo: dict[object, Any] = reader.memo
    task = memo.get(key)
    if task is None:
        task = memo[key] = asyncio.ensure_future(compute())
    result: T = await task
    return result


async def key_result_forecast(
    reader: Reader, kr_id: UUID, objective_id: UUID, target: fc.KeyResultTarget
) -> fc.KeyResultForecast | fc.NoForecast:
    return await _once(reader, ("kr", kr_id), lambda: _key_result(reader, kr_id, objective_id, target))


async def _key_result(
    reader: Reader, kr_id: UUID, objective_id: UUID, target: fc.KeyResultTarget
) -> fc.KeyResultForecast | fc.NoForecast:
    objective = await reader.objectives.load(objective_id)
    cycle = None if objective is None else await reader.cycles.load(objective.cycle_id)
    if cycle is None or cycle.state == "PLANNED":
        return fc.NoForecast(fc.Unavailable.CYCLE_NOT_STARTED, "the cycle has not started")
    if cycle.state == "CLOSED":
        return fc.NoForecast(fc.Unavailable.CYCLE_ENDED, "the cycle is closed: its end value is known")
    start, end = f.cycle_window(cycle.start, cycle.end)
    at = await reader.instant()
    if not start <= at < end or (not target.from_tasks and target.kind == f.KeyResultKind.BOOLEAN):
        return fc.forecast_key_result(target, [], start, end, at)  # the reason, without a series
    series = await reader.series.load(SeriesRequest(kr_id, objective_id, target.from_tasks, start, at))
    points = fc.task_share_series(series.tallies, start, at) if target.from_tasks else series.check_ins
    return await asyncio.to_thread(fc.forecast_key_result, target, points, start, end, at)


def _find(nodes: Iterable[TreeNode], objective_id: UUID) -> TreeNode | None:
    for node in nodes:
        if node.objective.id == objective_id:
            return node
        found = _find(node.children, objective_id)
        if found is not None:
            return found
    return None


async def objective_forecast(
    reader: Reader, view: ObjectiveView, seen: frozenset[UUID] = frozenset()
) -> fc.ObjectiveForecast | fc.NoForecast:
    return await _once(reader, ("objective", view.id), lambda: _objective(reader, view, seen | {view.id}))


async def _objective(
    reader: Reader, view: ObjectiveView, seen: frozenset[UUID]
) -> fc.ObjectiveForecast | fc.NoForecast:
    cycle = await reader.cycles.load(view.cycle_id)
    if cycle is None:
        return fc.NoForecast(fc.Unavailable.CYCLE_NOT_STARTED, "the cycle has not started")
    key_results = await asyncio.gather(
        *(
            key_result_forecast(
                reader,
                kr.id,
                kr.objective_id,
                fc.KeyResultTarget(kr.kind, kr.direction, kr.start, kr.target, kr.source),
            )
            for kr in view.key_results
        )
    )
    children: list[ObjectiveView] = []
    if view.driver != "KEY_RESULTS" and len(seen) < f.MAX_ALIGNMENT_DEPTH:
        node = _find(await reader.trees.load(view.cycle_id), view.id)
        children = [
            c.objective
            for c in (node.children if node is not None else [])
            if c.objective.state in f.COUNTED_CHILD_STATES and c.objective.id not in seen
        ]
    child_forecasts = await asyncio.gather(*(objective_forecast(reader, c, seen) for c in children))
    return fc.objective_forecast(
        view.driver,
        [(r, kr.weight) for r, kr in zip(key_results, view.key_results, strict=True)],
        [(r, c.weight) for r, c in zip(child_forecasts, children, strict=True)],
        at=f.cycle_window(cycle.start, cycle.end)[1],
    )
