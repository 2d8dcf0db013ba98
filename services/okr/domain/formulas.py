"""Every OKR formula of DESIGN.md, as pure functions (no I/O, no clock: `now` is an argument)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar


class KeyResultKind(StrEnum):
    NUMERIC = "NUMERIC"  # a number moving from start to target (up or down)
    PERCENTAGE = "PERCENTAGE"  # the same, in percent
    CURRENCY = "CURRENCY"  # the same, in money
    BOOLEAN = "BOOLEAN"  # milestone: 0 (not yet) or 1 (done)
    THRESHOLD = "THRESHOLD"  # stay above / stay below the target


class Direction(StrEnum):
    INCREASE = "INCREASE"
    DECREASE = "DECREASE"
    STAY_ABOVE = "STAY_ABOVE"
    STAY_BELOW = "STAY_BELOW"


NUMERIC_KINDS = frozenset({KeyResultKind.NUMERIC, KeyResultKind.PERCENTAGE, KeyResultKind.CURRENCY})


class Status(StrEnum):
    ACCOMPLISHED = "ACCOMPLISHED"
    ON_TRACK = "ON_TRACK"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    OFF_TRACK = "OFF_TRACK"


# Worst first: an objective's status is its worst key result's.
STATUS_SEVERITY = {
    Status.OFF_TRACK: 0,
    Status.NEEDS_ATTENTION: 1,
    Status.ON_TRACK: 2,
    Status.ACCOMPLISHED: 3,
}


class Grade(StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


class Impact(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


IMPACT_WEIGHT = {Impact.HIGH: 3, Impact.MEDIUM: 2, Impact.LOW: 1}

ON_TRACK_PACE = 0.9
NEEDS_ATTENTION_PACE = 0.6
LOW_CONFIDENCE = 0.4
GREEN_GRADE = 0.7
YELLOW_GRADE = 0.4

# Aligned children that move a parent's figures (roll-up, status, score), and how deep the
# alignment tree is followed.
COUNTED_CHILD_STATES = ("ACTIVE", "CLOSED")
MAX_ALIGNMENT_DEPTH = 64


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def attainment(
    kind: KeyResultKind,
    start: float,
    target: float,
    current: float,
    direction: Direction | None = None,
    *,
    measured: bool = True,
) -> float:
    """Unclamped progress: over-achievement stays visible (> 1), regressions go below 0.

    Numeric kinds move from start to target; the direction follows from start and target
    (DECREASE is the same formula with start > target). Milestones and thresholds are 0 or 1.
    A threshold nobody has measured yet (`measured=False`: no check-in) is 0, never "in bounds".
    """
    if kind is KeyResultKind.BOOLEAN:
        return 1.0 if current >= 1.0 else 0.0
    if kind is KeyResultKind.THRESHOLD:
        if not measured:
            return 0.0
        if direction is Direction.STAY_BELOW:
            return 1.0 if current <= target else 0.0
        return 1.0 if current >= target else 0.0
    span = target - start
    if span == 0:
        return 1.0 if current == target else 0.0
    # (current - start) / (target - start) covers both increasing and decreasing
    # ((start - current) / (start - target) is the same quotient).
    value = (current - start) / span
    if not math.isfinite(value):  # overflow of huge-but-valid inputs
        return math.copysign(1e15, value) if not math.isnan(value) else 0.0
    return value


def progress(
    kind: KeyResultKind,
    start: float,
    target: float,
    current: float,
    direction: Direction | None = None,
    *,
    measured: bool = True,
) -> float:
    """Attainment clamped to [0, 1] (an unmeasured threshold is 0)."""
    return clamp01(attainment(kind, start, target, current, direction, measured=measured))


def task_progress(done_weight: float, total_weight: float) -> float:
    """TASKS progress source: done weight / all non-cancelled weight (0 with no tasks)."""
    if total_weight <= 0:
        return 0.0
    return clamp01(done_weight / total_weight)


def key_result_figures(
    kind: KeyResultKind,
    start: float,
    target: float,
    current: float,
    direction: Direction | None,
    *,
    check_in_count: int,
    task_weights: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """A key result's (progress, attainment). `task_weights` (done, total) when its progress
    source is TASKS (both figures are then the task progress); otherwise from its value, a
    threshold counting as measured once it has a check-in."""
    if task_weights is not None:
        p = task_progress(*task_weights)
        return p, p
    value = attainment(kind, start, target, current, direction, measured=check_in_count > 0)
    return clamp01(value), value  # progress is the clamped attainment


def weight_share(weight: float, total_weight: float) -> float:
    """A key result's share of its objective's weight (0 when the objective weighs nothing)."""
    return weight / total_weight if total_weight else 0.0


def has_rollup_inputs(driver: str, key_results: int, children: int) -> bool:
    """Whether the driver has anything to roll up (key results and/or counted children)."""
    return bool((key_results and driver != "ALIGNED_OBJECTIVES") or (children and driver != "KEY_RESULTS"))


def weighted_mean(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Weighted mean of (value, weight) pairs with weight > 0; None when there is nothing."""
    pairs_list = list(pairs)
    total_w = 0.0
    acc = 0.0
    for value, weight in pairs_list:
        if weight <= 0:
            continue
        total_w += weight
        acc += value * weight
    if total_w == 0:
        return None
    mean = acc / total_w
    # Rounding may push the mean an ulp outside [min, max] of the inputs: pull it back.
    values = [v for v, w in pairs_list if w > 0]
    return min(max(mean, min(values)), max(values))


def driven_pairs(
    key_results: Sequence[tuple[float, float]], children: Sequence[tuple[float, float]], driver: str
) -> list[tuple[float, float]]:
    """The (value, weight) pairs an objective's driver rolls up: its key results'
    (KEY_RESULTS), its counted children's (ALIGNED_OBJECTIVES), or both (BOTH)."""
    if driver == "KEY_RESULTS":
        return list(key_results)
    if driver == "ALIGNED_OBJECTIVES":
        return list(children)
    return [*key_results, *children]


def objective_progress(
    key_results: Sequence[tuple[float, float]],
    children: Sequence[tuple[float, float]],
    driver: str,
) -> float:
    """Objective roll-up: KEY_RESULTS, ALIGNED_OBJECTIVES or BOTH, each a weighted mean."""
    mean = weighted_mean(driven_pairs(key_results, children, driver))
    return 0.0 if mean is None else clamp01(mean)


def objective_attainment(
    key_results: Sequence[tuple[float, float]],
    children: Sequence[tuple[float, float]],
    driver: str,
) -> float:
    """Unclamped roll-up with the same driver as `objective_progress`: the weighted mean of the
    key results' attainments and/or the counted children's attainments (0 with nothing)."""
    mean = weighted_mean(driven_pairs(key_results, children, driver))
    return 0.0 if mean is None else mean


def day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def cycle_window(start: date, end: date) -> tuple[datetime, datetime]:
    """A cycle's instants: from its first day's start to the end of its (inclusive) end date."""
    return day_start(start), day_start(end) + timedelta(days=1)


def expected_progress(cycle_start: datetime, cycle_end: datetime, at: datetime) -> float:
    """Elapsed fraction of the cycle at `at`, clamped to [0, 1]."""
    total = (cycle_end - cycle_start).total_seconds()
    if total <= 0:
        return 1.0
    return clamp01((at - cycle_start).total_seconds() / total)


def cycle_expected_progress(started: bool, start: date, end: date, at: datetime) -> float:
    """Expected progress in a cycle at `at`: 0 until it has started (a PLANNED cycle expects
    nothing yet), else the elapsed fraction of its window."""
    if not started:
        return 0.0
    return expected_progress(*cycle_window(start, end), at)


def is_low_confidence(confidence: float | None) -> bool:
    """A latest confidence below LOW_CONFIDENCE (none given is not low)."""
    return confidence is not None and confidence < LOW_CONFIDENCE


def status(progress_value: float, expected: float, confidence: float | None = None) -> Status:
    """Perdoo-style status from progress against the calendar, lowered by low confidence."""
    if progress_value >= 1.0:
        return Status.ACCOMPLISHED
    if expected <= 0:
        result = Status.ON_TRACK
    else:
        pace = progress_value / expected
        if pace >= ON_TRACK_PACE:
            result = Status.ON_TRACK
        elif pace >= NEEDS_ATTENTION_PACE:
            result = Status.NEEDS_ATTENTION
        else:
            result = Status.OFF_TRACK
    if result is Status.ON_TRACK and is_low_confidence(confidence):
        result = Status.NEEDS_ATTENTION
    return result


def key_result_status(
    kind: KeyResultKind, progress_value: float, expected: float, confidence: float | None = None
) -> Status:
    """A key result's status. A threshold in bounds is only ACCOMPLISHED once the cycle is over
    (expected progress reached 1): until then holding the line is ON_TRACK (lowered to
    NEEDS_ATTENTION by low confidence). Other kinds: `status`."""
    if kind is KeyResultKind.THRESHOLD and progress_value >= 1.0 and expected < 1.0:
        if is_low_confidence(confidence):
            return Status.NEEDS_ATTENTION
        return Status.ON_TRACK
    return status(progress_value, expected, confidence)


def rollup_status(
    progress_value: float, expected: float, children_accomplished: Callable[[], bool]
) -> Status:
    """The status of an objective's roll-up over its counted children: `status` of its
    progress, never ACCOMPLISHED while a counted child is not (asked only when it matters)."""
    rolled = status(progress_value, expected)
    if rolled is Status.ACCOMPLISHED and not children_accomplished():
        return Status.ON_TRACK
    return rolled


def worst_status(statuses: Iterable[Status]) -> Status | None:
    items = list(statuses)
    if not items:
        return None
    return min(items, key=lambda s: STATUS_SEVERITY[s])


def is_outdated(last_check_in: datetime | None, since: datetime, at: datetime, cadence_days: int) -> bool:
    """No check-in within the cadence. `since` (the KR's activation) starts the clock."""
    reference = last_check_in if last_check_in is not None else since
    return (at - reference).total_seconds() > cadence_days * 86400


def default_score(progress_value: float) -> float:
    """Clamped progress rounded to 0.1 (half up, so 0.85 -> 0.9)."""
    return math.floor(clamp01(progress_value) * 10 + 0.5 + 1e-9) / 10


def grade(score: float) -> Grade:
    if score >= GREEN_GRADE:
        return Grade.GREEN
    if score >= YELLOW_GRADE:
        return Grade.YELLOW
    return Grade.RED


def task_priority(impact: Impact, kr_weight_share: float, kr_progress: float) -> float:
    """impact weight x the KR's share of its objective's weight x (1 - KR progress)."""
    return IMPACT_WEIGHT[impact] * kr_weight_share * (1.0 - clamp01(kr_progress))


def objective_score(
    key_result_scores: Sequence[tuple[float, float]],
    child_scores: Sequence[tuple[float, float]],
    driver: str,
) -> float | None:
    """An objective's score at close, per driver: the weighted mean of its key results' scores
    (KEY_RESULTS), of its counted children's scores (ALIGNED_OBJECTIVES), or of both together
    (BOTH). Pairs are (score, weight); scores are 0.0-1.0. None when the driver has nothing to
    score (no key result / no counted child)."""
    mean = weighted_mean(driven_pairs(key_result_scores, child_scores, driver))
    return None if mean is None else clamp01(mean) + 0.0


# ---------------------------------------------------------------------- the end-of-cycle review
def cadence_period_count(start: datetime, close: datetime, cadence_days: int) -> int:
    """How many cadence periods a cycle had: its time from `start` (the first day's start) to
    `close` (the instant it was closed) cut into windows of `cadence_days` days, the last one
    possibly shorter (cut at the close). 0 when it closed before it began."""
    if close <= start or cadence_days <= 0:
        return 0
    return math.ceil((close - start) / timedelta(days=cadence_days))


def periods_with_check_in(
    check_ins: Iterable[datetime], start: datetime, close: datetime, cadence_days: int
) -> int:
    """How many of those windows hold at least one check-in (check-ins outside [start, close)
    count for none)."""
    if cadence_days <= 0:
        return 0
    window = timedelta(days=cadence_days)
    return len({(at - start) // window for at in check_ins if start <= at < close})


def share(part: float, whole: float) -> float | None:
    """part / whole, None when there is no whole (nothing to have a share of)."""
    return part / whole if whole > 0 else None


def check_in_discipline(covered: int, periods: int) -> float | None:
    """The share of cadence periods with a check-in (None: no period to keep)."""
    return share(covered, periods)


def progress_change(before: float, after: float) -> float:
    """How far a key result moved over the cycle, in progress points (negative: it fell back)."""
    return after - before


def is_unfinished(progress_value: float) -> bool:
    """A key result short of its target (progress < 1): what a carry-over copies."""
    return progress_value < 1.0


T = TypeVar("T")


def biggest_movers(changes: Iterable[tuple[T, float]], n: int = 3) -> list[tuple[T, float]]:
    """The `n` largest progress changes by size (a fall counts as much as a rise), ties in the
    order given; key results that did not move are no movers."""
    moved = [(item, change) for item, change in changes if change != 0]
    return sorted(moved, key=lambda pair: -abs(pair[1]))[:n]
