"""The formulas of DESIGN.md: worked example and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okr.domain import formulas as f
from okr.domain.formulas import Direction, Grade, Impact, KeyResultKind, Status
from strategies import fractions, moderate, numeric_kinds, start_target, weights


def test_worked_example() -> None:
    """MQLs 0->400 at 370 is 0.925; trial-to-paid 0->22 at 19 is 0.864; hours 9->1 at 3 is 0.75."""
    assert f.progress(KeyResultKind.NUMERIC, 0, 400, 370) == pytest.approx(0.925)
    assert round(f.progress(KeyResultKind.PERCENTAGE, 0, 22, 19), 3) == 0.864
    assert f.progress(KeyResultKind.NUMERIC, 9, 1, 3) == pytest.approx(0.75)


def test_attainment_keeps_over_achievement() -> None:
    """Attainment is unclamped (1.25 at 500 of 400), progress is clamped to 1."""
    assert f.attainment(KeyResultKind.NUMERIC, 0, 400, 500) == pytest.approx(1.25)
    assert f.progress(KeyResultKind.NUMERIC, 0, 400, 500) == 1.0
    assert f.progress(KeyResultKind.NUMERIC, 9, 1, 12) == 0.0


def test_boolean_and_threshold() -> None:
    """Milestones are 0 or 1; thresholds are 1 while the value holds."""
    assert f.progress(KeyResultKind.BOOLEAN, 0, 1, 0) == 0.0
    assert f.progress(KeyResultKind.BOOLEAN, 0, 1, 1) == 1.0
    assert f.progress(KeyResultKind.THRESHOLD, 0, 99.9, 99.95, Direction.STAY_ABOVE) == 1.0
    assert f.progress(KeyResultKind.THRESHOLD, 0, 99.9, 99.0, Direction.STAY_ABOVE) == 0.0
    assert f.progress(KeyResultKind.THRESHOLD, 0, 200, 150, Direction.STAY_BELOW) == 1.0
    assert f.progress(KeyResultKind.THRESHOLD, 0, 200, 250, Direction.STAY_BELOW) == 0.0


def test_task_progress_uses_impact_weights() -> None:
    """TASKS source: done weight over non-cancelled weight (HIGH 3, MEDIUM 2, LOW 1)."""
    done = f.IMPACT_WEIGHT[Impact.HIGH]
    total = f.IMPACT_WEIGHT[Impact.HIGH] + f.IMPACT_WEIGHT[Impact.LOW] + f.IMPACT_WEIGHT[Impact.MEDIUM]
    assert f.task_progress(done, total) == pytest.approx(0.5)
    assert f.task_progress(0, 0) == 0.0


@given(numeric_kinds, start_target(), moderate)
def test_progress_within_unit_interval(kind: KeyResultKind, st_: tuple[float, float], current: float) -> None:
    """Progress is always within [0, 1]."""
    start, target = st_
    assert 0.0 <= f.progress(kind, start, target, current) <= 1.0


@given(start_target(), moderate, moderate)
def test_progress_monotonic_in_the_right_direction(st_: tuple[float, float], a: float, b: float) -> None:
    """Moving the value towards the target never lowers progress (up if increasing, down if not)."""
    start, target = st_
    low, high = min(a, b), max(a, b)
    p_low = f.progress(KeyResultKind.NUMERIC, start, target, low)
    p_high = f.progress(KeyResultKind.NUMERIC, start, target, high)
    if target > start:
        assert p_high >= p_low
    else:
        assert p_low >= p_high


@given(st.lists(st.tuples(fractions, weights), min_size=1, max_size=12))
def test_weighted_mean_between_min_and_max(pairs: list[tuple[float, float]]) -> None:
    """A weighted mean lies between its smallest and largest input."""
    mean = f.weighted_mean(pairs)
    assert mean is not None
    values = [v for v, _ in pairs]
    assert min(values) <= mean <= max(values)


@given(st.lists(st.tuples(moderate, weights), min_size=1, max_size=12))
def test_weighted_mean_between_min_and_max_any_values(pairs: list[tuple[float, float]]) -> None:
    """The bound holds for any finite values, not only fractions."""
    mean = f.weighted_mean(pairs)
    assert mean is not None
    assert min(v for v, _ in pairs) <= mean <= max(v for v, _ in pairs)


def test_weighted_mean_of_nothing_is_none() -> None:
    """No inputs (or only zero weights) has no mean."""
    assert f.weighted_mean([]) is None
    assert f.weighted_mean([(0.5, 0.0)]) is None


@given(fractions)
def test_grade_thresholds(score: float) -> None:
    """GREEN from 0.7, YELLOW from 0.4, RED below."""
    expected = Grade.GREEN if score >= 0.7 else Grade.YELLOW if score >= 0.4 else Grade.RED
    assert f.grade(score) is expected


def test_grade_exact_boundaries() -> None:
    """0.7 is GREEN (a good score), 0.4 is YELLOW, just below each drops."""
    assert f.grade(0.7) is Grade.GREEN
    assert f.grade(0.6999999) is Grade.YELLOW
    assert f.grade(0.4) is Grade.YELLOW
    assert f.grade(0.3999999) is Grade.RED


def test_default_score_rounds_to_tenths() -> None:
    """Default score: clamped progress rounded to 0.1 (half up)."""
    assert f.default_score(0.925) == 0.9
    assert f.default_score(0.864) == 0.9
    assert f.default_score(0.75) == 0.8
    assert f.default_score(0.04) == 0.0
    assert f.default_score(1.3) == 1.0


def test_expected_progress_is_elapsed_fraction() -> None:
    """Expected progress is the elapsed fraction of the cycle, clamped."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=90)
    assert f.expected_progress(start, end, start + timedelta(days=45)) == pytest.approx(0.5)
    assert f.expected_progress(start, end, start - timedelta(days=1)) == 0.0
    assert f.expected_progress(start, end, end + timedelta(days=1)) == 1.0


@pytest.mark.parametrize(
    ("progress", "expected", "confidence", "status"),
    [
        (1.0, 0.5, None, Status.ACCOMPLISHED),
        (0.45, 0.5, None, Status.ON_TRACK),  # pace 0.9
        (0.449, 0.5, None, Status.NEEDS_ATTENTION),
        (0.3, 0.5, None, Status.NEEDS_ATTENTION),  # pace 0.6
        (0.29, 0.5, None, Status.OFF_TRACK),
        (0.0, 0.0, None, Status.ON_TRACK),  # nothing expected yet
        (0.5, 0.5, 0.3, Status.NEEDS_ATTENTION),  # low confidence lowers ON_TRACK
        (0.2, 0.5, 0.3, Status.OFF_TRACK),  # ... but never raises
        (1.0, 0.5, 0.1, Status.ACCOMPLISHED),
    ],
)
def test_status(progress: float, expected: float, confidence: float | None, status: Status) -> None:
    """Perdoo-style status thresholds at pace 0.9 and 0.6, with the confidence rule."""
    assert f.status(progress, expected, confidence) is status


def test_worst_status() -> None:
    """An objective's status is its worst key result's."""
    assert f.worst_status([Status.ON_TRACK, Status.OFF_TRACK, Status.ACCOMPLISHED]) is Status.OFF_TRACK
    assert f.worst_status([]) is None


def test_objective_progress_drivers() -> None:
    """KEY_RESULTS, ALIGNED_OBJECTIVES and BOTH roll up different inputs."""
    krs = [(1.0, 1.0), (0.0, 1.0)]
    children = [(0.2, 1.0)]
    assert f.objective_progress(krs, children, "KEY_RESULTS") == pytest.approx(0.5)
    assert f.objective_progress(krs, children, "ALIGNED_OBJECTIVES") == pytest.approx(0.2)
    assert f.objective_progress(krs, children, "BOTH") == pytest.approx(0.4)
    assert f.objective_progress([], [], "KEY_RESULTS") == 0.0


def test_outdated_after_cadence() -> None:
    """A key result with no check-in within its cadence is outdated."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert not f.is_outdated(None, t0, t0 + timedelta(days=7), 7)
    assert f.is_outdated(None, t0, t0 + timedelta(days=7, seconds=1), 7)
    assert not f.is_outdated(t0 + timedelta(days=5), t0, t0 + timedelta(days=10), 7)


@given(st.sampled_from(list(Impact)), fractions, fractions)
def test_task_priority_non_negative_and_zero_when_done(impact: Impact, share: float, progress: float) -> None:
    """Priority is >= 0, and 0 once the key result is complete."""
    assert f.task_priority(impact, share, progress) >= 0
    assert f.task_priority(impact, share, 1.0) == 0.0


def test_task_priority_orders_by_impact_and_gap() -> None:
    """Higher impact and a bigger gap to target mean higher priority."""
    assert f.task_priority(Impact.HIGH, 0.5, 0.2) > f.task_priority(Impact.LOW, 0.5, 0.2)
    assert f.task_priority(Impact.MEDIUM, 0.5, 0.1) > f.task_priority(Impact.MEDIUM, 0.5, 0.9)


kinds = st.sampled_from(list(KeyResultKind))
directions = st.sampled_from(list(Direction))


@given(st.sampled_from([Direction.STAY_ABOVE, Direction.STAY_BELOW]), moderate, moderate)
def test_unmeasured_threshold_is_zero(direction: Direction, target: float, current: float) -> None:
    """A threshold nobody measured yet has progress and attainment 0, wherever its value lies."""
    assert f.progress(KeyResultKind.THRESHOLD, 0, target, current, direction, measured=False) == 0.0
    assert f.attainment(KeyResultKind.THRESHOLD, 0, target, current, direction, measured=False) == 0.0


def test_unmeasured_stay_below_threshold_is_not_in_bounds() -> None:
    """'Stay below 200' starting at 0 read 1.0 before anyone measured it; unmeasured it is 0."""
    args = (KeyResultKind.THRESHOLD, 0, 200, 0, Direction.STAY_BELOW)
    assert f.progress(*args) == 1.0
    assert f.progress(*args, measured=False) == 0.0


@given(kinds, directions, moderate, moderate, moderate)
def test_measured_flag_only_changes_thresholds(
    kind: KeyResultKind, direction: Direction, start: float, target: float, current: float
) -> None:
    """Other kinds ignore `measured`: their start value is a real reading."""
    if kind is KeyResultKind.THRESHOLD:
        return
    assert f.attainment(kind, start, target, current, direction, measured=False) == f.attainment(
        kind, start, target, current, direction
    )


@given(fractions, st.floats(min_value=0.0, max_value=0.999999), st.none() | fractions)
def test_threshold_in_bounds_mid_cycle_is_never_accomplished(
    progress: float, expected: float, confidence: float | None
) -> None:
    """Before the cycle's end a threshold is never ACCOMPLISHED; in bounds it is ON_TRACK (or
    NEEDS_ATTENTION with confidence under 0.4)."""
    got = f.key_result_status(KeyResultKind.THRESHOLD, progress, expected, confidence)
    assert got is not Status.ACCOMPLISHED
    if progress >= 1.0:
        low = confidence is not None and confidence < f.LOW_CONFIDENCE
        assert got is (Status.NEEDS_ATTENTION if low else Status.ON_TRACK)


@given(st.none() | fractions)
def test_threshold_in_bounds_at_cycle_end_is_accomplished(confidence: float | None) -> None:
    """Once expected progress reached 1 (the cycle is over), a threshold in bounds is ACCOMPLISHED;
    out of bounds it is OFF_TRACK."""
    assert f.key_result_status(KeyResultKind.THRESHOLD, 1.0, 1.0, confidence) is Status.ACCOMPLISHED
    assert f.key_result_status(KeyResultKind.THRESHOLD, 0.0, 1.0, confidence) is Status.OFF_TRACK


@given(kinds, fractions, fractions, st.none() | fractions)
def test_key_result_status_is_plain_status_except_thresholds(
    kind: KeyResultKind, progress: float, expected: float, confidence: float | None
) -> None:
    """Every kind but THRESHOLD gets `status`; thresholds differ only while in bounds mid-cycle."""
    got = f.key_result_status(kind, progress, expected, confidence)
    if kind is not KeyResultKind.THRESHOLD or progress < 1.0 or expected >= 1.0:
        assert got is f.status(progress, expected, confidence)


def test_objective_attainment_drivers() -> None:
    """Attainment rolls up per driver like progress, unclamped (over-achievement shows)."""
    krs = [(1.5, 1.0), (0.5, 1.0)]
    children = [(-0.5, 2.0)]
    assert f.objective_attainment(krs, children, "KEY_RESULTS") == pytest.approx(1.0)
    assert f.objective_attainment(krs, children, "ALIGNED_OBJECTIVES") == pytest.approx(-0.5)
    assert f.objective_attainment(krs, children, "BOTH") == pytest.approx((1.5 + 0.5 - 1.0) / 4)
    assert f.objective_attainment([], [], "BOTH") == 0.0


pairs_strategy = st.lists(st.tuples(moderate, weights), max_size=6)


@given(pairs_strategy, pairs_strategy, st.sampled_from(["KEY_RESULTS", "ALIGNED_OBJECTIVES", "BOTH"]))
def test_objective_attainment_clamps_to_objective_progress(
    krs: list[tuple[float, float]], children: list[tuple[float, float]], driver: str
) -> None:
    """Progress is attainment clamped to [0, 1], for every driver and input (same driver, same inputs)."""
    assert f.clamp01(f.objective_attainment(krs, children, driver)) == pytest.approx(
        f.objective_progress(krs, children, driver)
    )
