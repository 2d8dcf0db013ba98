"""Forecasts: where a key result will be at its cycle's end, and its objective's roll-up.

Pure (numpy, scipy and statsmodels; no I/O, no clock: the instant is an argument), so the API,
the backtest (bench/forecast.py) and the tests run the same code.

The model. A damped trend over time (days since the cycle's start), fitted to the cycle's
observations so far and extended to the cycle's end: y = a + b·tau·(1 − exp(−t/tau)), whose
slope decays with time constant tau; the straight line is its limit (no damping). Each
candidate tau (a grid relative to the cycle's length, and the line) is an ordinary least-squares
fit with its prediction interval of one new observation at the end (statsmodels: the fitted
curve's uncertainty plus the residual spread, t distribution with n − k degrees of freedom);
the candidates are averaged with Akaike weights times a prior (LINE_PRIOR on the line, the rest
spread over the damped trends; the backtest chose it).
The band is the central LEVEL interval of that mixture, so it widens with noise, with few points,
with the distance to the end, and with doubt about the damping; with three points (one degree
of freedom) it is honestly very wide. `probability_of_target` comes from the same predictive
mixture: P(end value meets the target in the key result's direction), for thresholds P(end
value in bounds). bench/forecast.py backtests it (coverage of the band, error against "last value").

- Observations: check-ins inside the cycle up to the instant asked about (several at one
  instant count once, as the last of them). Task-driven key results (progress source TASKS)
  observe the done share of their linked tasks' weight instead: one observation at each change
  of the tally inside the cycle, and one at the instant asked about (the share is known
  exactly at every instant, not only when it changes). Shares stay within [0, 1].
- No forecast (a reason instead): fewer than MIN_POINTS observations, a milestone (BOOLEAN: 0
  or 1, no trend to extend), a cycle that has not started or is over.
- An objective's forecast applies the key-result progress formula (okr.domain.formulas) to
  each key result's forecast value, low and high, and rolls them up with the driver and the
  weights exactly as progress is rolled up. The band of the roll-up is an approximation: the
  weighted mean of the key results' band ends, which is the band of the weighted mean when the
  key results move together (comonotone). Independent key results would give a narrower band,
  so the roll-up's band errs on the wide side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from okr.domain import formulas as f
from projections.model import SeriesPoint, TaskTally

LEVEL = 0.9  # nominal coverage of the band
MIN_POINTS = 3  # a line through two points has no residual spread to speak of
DAY_S = 86400.0


class Method(StrEnum):
    DAMPED_TREND = "DAMPED_TREND"  # the trend model over check-in values
    TASK_COMPLETION_TREND = "TASK_COMPLETION_TREND"  # the same over the done share of task weight
    ROLLUP = "ROLLUP"  # an objective: its key results' (and aligned objectives') forecasts


class Unavailable(StrEnum):
    TOO_FEW_CHECK_INS = "TOO_FEW_CHECK_INS"
    MILESTONE = "MILESTONE"
    CYCLE_NOT_STARTED = "CYCLE_NOT_STARTED"
    CYCLE_ENDED = "CYCLE_ENDED"
    NOTHING_TO_ROLL_UP = "NOTHING_TO_ROLL_UP"
    MISSING_FORECASTS = "MISSING_FORECASTS"


#: An observation (a check-in's value, or a done share) and a task's tally from an instant on:
#: the read model's types.
Point = SeriesPoint
TaskRecord = TaskTally


#: Damping time constants of the candidate trends, as multiples of the cycle's length (None:
#: no damping, the straight line).
DAMPINGS: tuple[float | None, ...] = (None, 0.125, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
#: Prior weight of the straight line (the rest is spread over the damped trends). 0.5 left the
#: damped family of bench/forecast.py worse than "last value"; 0.2 beats it there and keeps the
#: linear family's coverage within 80-95% (seeds 1 and 7).
LINE_PRIOR = 0.2


def damped_time(t: npt.NDArray[np.float64], tau: float | None) -> npt.NDArray[np.float64]:
    """The regressor of a trend whose slope decays as exp(-t/tau): tau (1 - exp(-t/tau));
    t itself (a straight line) without damping."""
    if tau is None:
        return t
    out: npt.NDArray[np.float64] = tau * -np.expm1(-t / tau)
    return out


@dataclass(frozen=True)
class Prediction:
    """The predictive distribution of the value at the horizon: a mixture of t distributions
    (one per candidate trend: `weights`, `means`, `scales`, `dfs`), its mean and central band."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    dfs: tuple[float, ...]
    level: float

    def _z(self, y: float) -> npt.NDArray[np.float64]:
        means = np.asarray(self.means, dtype=np.float64)
        scales = np.asarray(self.scales, dtype=np.float64)
        out: npt.NDArray[np.float64] = (y - means) / scales
        return out

    def cdf(self, y: float) -> float:
        return float(np.dot(self.weights, stats.t.cdf(self._z(y), self.dfs)))

    def sf(self, y: float) -> float:
        return float(np.dot(self.weights, stats.t.sf(self._z(y), self.dfs)))

    @property
    def mean(self) -> float:
        return float(np.dot(self.weights, self.means))

    def quantile(self, p: float) -> float:
        """The mixture's p-quantile: it lies between its components' p-quantiles."""
        weights = np.asarray(self.weights)
        live = weights > 1e-12  # components that carry mass
        ppf = stats.t.ppf(p, np.asarray(self.dfs)[live])
        ends = np.asarray(self.means)[live] + np.asarray(self.scales)[live] * ppf
        lo, hi = float(ends.min()), float(ends.max())
        if self.cdf(lo) >= p:
            return lo
        if self.cdf(hi) <= p:
            return hi
        return float(optimize.brentq(lambda y: self.cdf(y) - p, lo, hi, xtol=1e-12 * max(1.0, abs(hi))))

    @property
    def low(self) -> float:
        return self.quantile((1.0 - self.level) / 2)

    @property
    def high(self) -> float:
        return self.quantile((1.0 + self.level) / 2)

    def probability_at_least(self, threshold: float) -> float:
        return min(1.0, max(0.0, self.sf(threshold)))

    def probability_at_most(self, threshold: float) -> float:
        return min(1.0, max(0.0, self.cdf(threshold)))


def predict_trend(
    xs: Sequence[float], ys: Sequence[float], x: float, span: float, level: float = LEVEL
) -> Prediction:
    """The value at `x` from observations (xs, ys): a damped-trend model averaged over its
    damping. Each candidate y = a + b·damped_time(t, tau) (tau in DAMPINGS × `span`; the
    straight line among them) is an OLS fit whose prediction interval of a new observation at
    `x` is statsmodels' (`get_prediction(...).se_obs`, t with n − k degrees of freedom; the damped
    ones count tau as a third parameter). The candidates are weighted by their Akaike weights
    times a prior (LINE_PRIOR on the line), so a curve must earn its weight by its fit,
    and the mixture's band carries the doubt about which trend holds. Needs MIN_POINTS distinct xs."""
    # statsmodels takes ~0.8 s to import: the first forecast pays it, not every process start
    from statsmodels.regression.linear_model import OLS

    t = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    n = len(t)
    if len(np.unique(t)) < MIN_POINTS:
        msg = f"a trend needs {MIN_POINTS} distinct instants"
        raise ValueError(msg)
    size = max(1.0, float(np.abs(y).max()))
    floor_ssr = n * (1e-9 * size) ** 2  # a perfect fit: rounding noise, not evidence
    ics, priors, means, scales, dfs = [], [], [], [], []
    damped = [d for d in DAMPINGS if d is not None]
    for damping in DAMPINGS:
        k = 2 if damping is None else 3
        if n - k < 1:
            continue
        tau = None if damping is None else damping * span
        fit = OLS(y, np.column_stack([np.ones(n), damped_time(t, tau)])).fit()
        pred = fit.get_prediction(np.array([[1.0, float(damped_time(np.array([x]), tau)[0])]]))
        ssr = max(float(fit.ssr), floor_ssr)
        # the residual variance with tau counted as a parameter (n - k degrees of freedom)
        scale = float(pred.se_obs[0]) * math.sqrt((n - 2) / (n - k))
        ics.append(n * math.log(ssr / n) + 2 * k)
        priors.append(LINE_PRIOR if damping is None else (1 - LINE_PRIOR) / len(damped))
        means.append(float(pred.predicted_mean[0]))
        scales.append(max(scale, 1e-12 * size))
        dfs.append(float(n - k))
    ic = np.asarray(ics)
    weights = np.exp(-(ic - ic.min()) / 2) * np.asarray(priors)
    weights /= weights.sum()
    return Prediction(tuple(weights.tolist()), tuple(means), tuple(scales), tuple(dfs), level)


@dataclass(frozen=True)
class KeyResultTarget:
    """What a key result's forecast is measured against (a KeyResultView's fields)."""

    kind: str
    direction: str
    start: float
    target: float
    source: str = "CHECK_INS"

    @property
    def from_tasks(self) -> bool:
        return self.source == "TASKS"


@dataclass(frozen=True)
class NoForecast:
    reason: Unavailable
    message: str


@dataclass(frozen=True)
class KeyResultForecast:
    value: float  # the expected value at the cycle's end (TASKS: done share of task weight, 0-1)
    low: float  # the band at LEVEL
    high: float
    probability_of_target: float
    method: Method
    points: int  # observations the trend was fitted to
    at: datetime  # the instant forecast: the cycle's end
    level: float
    progress: float  # the key-result progress formula applied to value, low and high
    progress_low: float
    progress_high: float


@dataclass(frozen=True)
class ObjectiveForecast:
    progress: float
    progress_low: float
    progress_high: float
    at: datetime
    level: float
    inputs: int  # forecasts rolled up (key results and aligned objectives)


def collapse(points: Iterable[Point]) -> list[Point]:
    """Observations in time order, several at one instant counting once (the last of them)."""
    by_instant: dict[datetime, Point] = {}
    for p in points:
        by_instant.pop(p.at, None)
        by_instant[p.at] = p
    return sorted(by_instant.values(), key=lambda p: p.at)


def task_share_series(records: Iterable[TaskRecord], since: datetime, until: datetime) -> list[Point]:
    """The done share of task weight after each change inside [since, until], and at `until`
    (records in log order; those before `since` only set the tally)."""
    tally: dict[str, tuple[float, bool]] = {}
    points: list[Point] = []

    def share() -> float | None:
        total = sum(w for w, _ in tally.values())
        return None if total <= 0 else f.task_progress(sum(w for w, d in tally.values() if d), total)

    for r in records:
        if r.at > until:
            break
        if r.weight is None:
            tally.pop(r.task_id, None)
        else:
            tally[r.task_id] = (float(r.weight), bool(r.done))
        value = share()
        if r.at >= since and value is not None:
            points.append(Point(r.at, value))
    now = share()
    if now is not None:
        points.append(Point(until, now))
    return collapse(points)


def _days(at: datetime, origin: datetime) -> float:
    return (at - origin).total_seconds() / DAY_S


def _meets_at_least(target: KeyResultTarget) -> bool:
    """Whether meeting the target means ending at or above it (else at or below)."""
    if target.from_tasks:
        return True
    if target.direction in (f.Direction.STAY_BELOW, f.Direction.DECREASE):
        return False
    if target.direction in (f.Direction.STAY_ABOVE, f.Direction.INCREASE):
        return True
    return target.target >= target.start


def key_result_progress(target: KeyResultTarget, value: float) -> float:
    """The key-result progress formula (okr.domain.formulas) at `value` (TASKS: the share)."""
    if target.from_tasks:
        return f.task_progress(value, 1.0)
    kind, direction = f.KeyResultKind(target.kind), f.Direction(target.direction)
    return f.progress(kind, target.start, target.target, value, direction)


def forecast_key_result(
    target: KeyResultTarget,
    series: Sequence[Point],
    cycle_start: datetime,
    cycle_end: datetime,
    at: datetime,
    level: float = LEVEL,
) -> KeyResultForecast | NoForecast:
    """The key result's value at `cycle_end` from its observations up to `at` (`series`: for
    check-in key results the check-ins, for task-driven ones `task_share_series`)."""
    if not target.from_tasks and target.kind == f.KeyResultKind.BOOLEAN:
        return NoForecast(Unavailable.MILESTONE, "a milestone is done or not: there is no trend to extend")
    if at < cycle_start:
        return NoForecast(Unavailable.CYCLE_NOT_STARTED, "the cycle has not started")
    if at >= cycle_end:
        return NoForecast(Unavailable.CYCLE_ENDED, "the cycle is over: its end value is known")
    points = collapse(p for p in series if cycle_start <= p.at <= at)
    if len(points) < MIN_POINTS:
        what = "observations of task completion" if target.from_tasks else "check-ins"
        return NoForecast(
            Unavailable.TOO_FEW_CHECK_INS,
            f"{len(points)} {what} in this cycle so far; a forecast needs {MIN_POINTS}",
        )
    span = _days(cycle_end, cycle_start)
    xs, ys = [_days(p.at, cycle_start) for p in points], [p.value for p in points]
    pred = predict_trend(xs, ys, span, span, level)
    value, low, high = pred.mean, pred.low, pred.high
    if target.from_tasks:
        value, low, high = (f.clamp01(v) for v in (value, low, high))
    # P(end value meets the target); a task share meets it when every task is done
    goal = 1.0 if target.from_tasks else target.target
    at_least = _meets_at_least(target)
    probability = pred.probability_at_least(goal) if at_least else pred.probability_at_most(goal)
    ends = sorted((key_result_progress(target, low), key_result_progress(target, high)))
    return KeyResultForecast(
        value=value,
        low=low,
        high=high,
        probability_of_target=probability,
        method=Method.TASK_COMPLETION_TREND if target.from_tasks else Method.DAMPED_TREND,
        points=len(points),
        at=cycle_end,
        level=level,
        progress=key_result_progress(target, value),
        progress_low=ends[0],
        progress_high=ends[1],
    )


def objective_forecast(
    driver: str,
    key_results: Sequence[tuple[KeyResultForecast | NoForecast, float]],
    children: Sequence[tuple[ObjectiveForecast | NoForecast, float]],
    at: datetime,
    level: float = LEVEL,
) -> ObjectiveForecast | NoForecast:
    """The objective's progress at its cycle's end: `formulas.objective_progress` (same driver,
    same weights) of its key results' forecast progress and its counted aligned children's
    forecasts; likewise for the band's ends (an approximation, see the module's docstring).
    Every weighted input needs a forecast, or there is none."""
    krs = [(fc, w) for fc, w in key_results if w > 0]
    kids = [(fc, w) for fc, w in children if w > 0]
    if not f.has_rollup_inputs(driver, len(krs), len(kids)):
        return NoForecast(Unavailable.NOTHING_TO_ROLL_UP, f"driver {driver} has nothing to roll up")
    used_krs = krs if driver != "ALIGNED_OBJECTIVES" else []
    used_kids = kids if driver != "KEY_RESULTS" else []
    missing = [fc for fc, _ in [*used_krs, *used_kids] if isinstance(fc, NoForecast)]
    if missing:
        return NoForecast(
            Unavailable.MISSING_FORECASTS,
            f"{len(missing)} of {len(used_krs) + len(used_kids)} weighted inputs have no forecast"
            f" ({', '.join(sorted({m.reason.value for m in missing}))})",
        )
    kr_f = [(fc, w) for fc, w in used_krs if isinstance(fc, KeyResultForecast)]
    kid_f = [(fc, w) for fc, w in used_kids if isinstance(fc, ObjectiveForecast)]

    def rolled(kr_value: str, kid_value: str) -> float:
        return f.objective_progress(
            [(getattr(fc, kr_value), w) for fc, w in kr_f],
            [(getattr(fc, kid_value), w) for fc, w in kid_f],
            driver,
        )

    return ObjectiveForecast(
        progress=rolled("progress", "progress"),
        progress_low=rolled("progress_low", "progress_low"),
        progress_high=rolled("progress_high", "progress_high"),
        at=at,
        level=level,
        inputs=len(kr_f) + len(kid_f),
    )
