"""The forecast model (projections/forecast.py): pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import forecast as fc

START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=92)
NOW = START + timedelta(days=45)
MQLS = fc.KeyResultTarget("NUMERIC", "INCREASE", 0, 400)


def line(values: list[float], every: float = 7.0) -> list[fc.Point]:
    return [fc.Point(START + timedelta(days=every * (i + 1)), v) for i, v in enumerate(values)]


def forecast(target: fc.KeyResultTarget, series: list[fc.Point], at: datetime = NOW) -> fc.KeyResultForecast:
    result = fc.forecast_key_result(target, series, START, END, at)
    assert isinstance(result, fc.KeyResultForecast), result
    return result


def test_a_perfect_line_is_extended_exactly_with_a_zero_width_band() -> None:
    """Check-ins on a straight line: the end value is the line's, the band collapses onto it."""
    r = forecast(MQLS, line([30.0 * (i + 1) for i in range(6)]))  # 30 per week
    expected = 30.0 / 7 * 92
    assert r.value == pytest.approx(expected, rel=1e-9)
    assert r.low == pytest.approx(expected, rel=1e-6) and r.high == pytest.approx(expected, rel=1e-6)
    assert r.method is fc.Method.DAMPED_TREND and r.points == 6 and r.at == END
    assert r.probability_of_target < 1e-12  # 394 < 400 for sure on an exact line
    assert r.progress == pytest.approx(expected / 400)


def test_the_band_widens_with_noise() -> None:
    """The same trend with more scatter gives a wider band around a similar value."""
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 1, 8)
    widths = []
    for sigma in (1.0, 5.0, 20.0):
        r = forecast(
            MQLS, line([30.0 * (i + 1) + sigma * e for i, e in enumerate(noise)]), START + timedelta(days=60)
        )
        assert r.low < r.value < r.high
        widths.append(r.high - r.low)
    assert widths[0] < widths[1] < widths[2]


@pytest.mark.parametrize("count", [0, 1, 2])
def test_fewer_than_three_check_ins_give_no_forecast_and_a_reason(count: int) -> None:
    """Two check-ins (or fewer) are no trend: null with TOO_FEW_CHECK_INS and the count."""
    result = fc.forecast_key_result(MQLS, line([10.0, 20.0][:count]), START, END, NOW)
    assert isinstance(result, fc.NoForecast)
    assert result.reason is fc.Unavailable.TOO_FEW_CHECK_INS and f"{count} check-ins" in result.message


def test_check_ins_outside_the_cycle_or_after_the_instant_are_not_used() -> None:
    """Only the cycle's observations up to the instant count; several at one instant count once."""
    series = [
        fc.Point(START - timedelta(days=3), 1.0),
        *line([10.0, 20.0]),
        fc.Point(NOW + timedelta(days=1), 99.0),
    ]
    series.append(fc.Point(series[2].at, 21.0))  # a second check-in at the same instant
    result = fc.forecast_key_result(MQLS, series, START, END, NOW)
    assert isinstance(result, fc.NoForecast) and "2 check-ins" in result.message


def test_milestones_and_cycles_outside_their_window_have_reasons() -> None:
    """BOOLEAN: no trend; before the start and at or after the end: no forecast either."""
    points = line([0.0, 0.0, 1.0])
    reasons = [
        fc.forecast_key_result(fc.KeyResultTarget("BOOLEAN", "INCREASE", 0, 1), points, START, END, NOW),
        fc.forecast_key_result(MQLS, points, START, END, START - timedelta(seconds=1)),
        fc.forecast_key_result(MQLS, points, START, END, END),
    ]
    assert [r.reason for r in reasons if isinstance(r, fc.NoForecast)] == [
        fc.Unavailable.MILESTONE,
        fc.Unavailable.CYCLE_NOT_STARTED,
        fc.Unavailable.CYCLE_ENDED,
    ]


def test_probability_of_target_falls_as_the_target_rises_and_follows_the_direction() -> None:
    """P(meet target) is monotone in the target; for a decreasing key result it is P(at or below):
    the mirrored series ending at or below 400 is the original ending at or above 600."""
    series = line([30.0, 65.0, 85.0, 125.0, 150.0, 175.0])
    probabilities = [forecast(fc.KeyResultTarget("NUMERIC", "INCREASE", 0, t), series).probability_of_target
                     for t in (150, 300, 380, 450, 900)]  # fmt: skip
    assert probabilities == sorted(probabilities, reverse=True)
    assert probabilities[0] > 0.99 and probabilities[-1] < 0.01 and len(set(probabilities)) == 5
    down = fc.KeyResultTarget("NUMERIC", "DECREASE", 1000, 400)
    falling = [fc.Point(p.at, 1000 - p.value) for p in series]
    r = forecast(down, falling)
    assert r.probability_of_target == pytest.approx(
        forecast(fc.KeyResultTarget("NUMERIC", "INCREASE", 0, 600), series).probability_of_target, abs=1e-6
    )
    assert r.progress_low <= r.progress <= r.progress_high


def test_thresholds_give_the_probability_of_being_in_bounds_at_the_end() -> None:
    """STAY_ABOVE 100 on a flat series around 110: likely in bounds; STAY_BELOW 100: unlikely."""
    rng = np.random.default_rng(3)
    series = line([110 + e for e in rng.normal(0, 1, 7)])
    above = forecast(
        fc.KeyResultTarget("THRESHOLD", "STAY_ABOVE", 100, 100), series, START + timedelta(days=55)
    )
    below = forecast(
        fc.KeyResultTarget("THRESHOLD", "STAY_BELOW", 100, 100), series, START + timedelta(days=55)
    )
    assert above.probability_of_target > 0.8
    assert above.probability_of_target + below.probability_of_target == pytest.approx(1.0)
    assert above.progress in (0.0, 1.0)  # the threshold formula applied to the forecast value


def test_task_driven_key_results_forecast_the_done_share_over_time() -> None:
    """Tasks done over time: the share at each change and now, extended to the end, within 0-1."""
    day = timedelta(days=1)
    tallies = [
        fc.TaskRecord(START + day, "a", 3, False),
        fc.TaskRecord(START + day, "b", 2, False),
        fc.TaskRecord(START + day, "c", 1, False),
        fc.TaskRecord(START + 10 * day, "a", 3, True),  # 3/6
        fc.TaskRecord(START + 20 * day, "c", None, False),  # c left: 3/5
        fc.TaskRecord(START + 30 * day, "b", 2, True),  # 5/5
    ]
    series = fc.task_share_series(tallies, START, NOW)
    assert [(p.at - START).days for p in series] == [1, 10, 20, 30, 45]
    assert [p.value for p in series] == [0.0, 0.5, 0.6, 1.0, 1.0]
    target = fc.KeyResultTarget("NUMERIC", "INCREASE", 0, 6, source="TASKS")
    r = forecast(target, series)
    assert r.method is fc.Method.TASK_COMPLETION_TREND and r.points == 5
    assert 0.0 <= r.low <= r.value <= r.high <= 1.0
    assert r.progress == r.value and r.probability_of_target > 0.5


def test_the_objective_rolls_up_the_key_results_like_progress() -> None:
    """Weighted mean of the key results' forecast progress (and band ends); a missing one: null."""
    a = forecast(MQLS, line([30.0 * (i + 1) for i in range(6)]))  # progress ~0.986
    b = forecast(fc.KeyResultTarget("NUMERIC", "DECREASE", 9, 1), line([8.0, 7.0, 6.0, 5.0]))  # 1.0
    r = fc.objective_forecast("KEY_RESULTS", [(a, 1.0), (b, 3.0)], [], END)
    assert isinstance(r, fc.ObjectiveForecast)
    assert r.progress == pytest.approx((a.progress + 3 * b.progress) / 4)
    assert r.progress_low == pytest.approx((a.progress_low + 3 * b.progress_low) / 4) and r.inputs == 2
    missing = fc.NoForecast(fc.Unavailable.TOO_FEW_CHECK_INS, "1 check-ins")
    none = fc.objective_forecast("KEY_RESULTS", [(a, 1.0), (missing, 1.0)], [], END)
    assert isinstance(none, fc.NoForecast) and none.reason is fc.Unavailable.MISSING_FORECASTS
    children = fc.objective_forecast("ALIGNED_OBJECTIVES", [(missing, 1.0)], [(r, 1.0)], END)
    assert isinstance(children, fc.ObjectiveForecast) and children.progress == pytest.approx(r.progress)
    nothing = fc.objective_forecast("ALIGNED_OBJECTIVES", [(a, 1.0)], [], END)
    assert isinstance(nothing, fc.NoForecast) and nothing.reason is fc.Unavailable.NOTHING_TO_ROLL_UP


@settings(max_examples=8, deadline=None, derandomize=True)  # a statistical bound: reproducible
@given(
    seed=st.integers(0, 2**32 - 1),
    slope=st.floats(-20, 20),
    sigma=st.floats(0.5, 30),
    weeks=st.integers(3, 11),
)
def test_the_90_percent_band_covers_about_90_percent_of_linear_gaussian_end_values(
    seed: int, slope: float, sigma: float, weeks: int
) -> None:
    """Over 400 draws of a line plus gaussian noise, the band holds the end value 80-99% of the time
    (the mixture is conservative with four or five points, where the damped fits are loose)."""
    rng = np.random.default_rng(seed)
    target = fc.KeyResultTarget("NUMERIC", "INCREASE", 0, 100)
    span = (END - START).total_seconds() / 86400
    inside = 0
    draws = 400
    for _ in range(draws):
        days = np.sort(rng.uniform(1, weeks * 7, weeks))
        series = [
            fc.Point(START + timedelta(days=float(d)), 50 + slope * d + rng.normal(0, sigma)) for d in days
        ]
        end_value = 50 + slope * span + rng.normal(0, sigma)
        r = fc.forecast_key_result(target, series, START, END, START + timedelta(days=weeks * 7))
        assert isinstance(r, fc.KeyResultForecast)
        inside += r.low <= end_value <= r.high
    assert 0.80 <= inside / draws <= 0.99
