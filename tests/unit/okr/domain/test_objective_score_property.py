"""formulas.objective_score: the objective's closing score per driver (property-based)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from okr.domain import formulas as f

SCORE = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
WEIGHT = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)
PAIRS = st.lists(st.tuples(SCORE, WEIGHT), max_size=8)
DRIVER = st.sampled_from(["KEY_RESULTS", "ALIGNED_OBJECTIVES", "BOTH"])


def _counted(
    krs: list[tuple[float, float]], children: list[tuple[float, float]], driver: str
) -> list[tuple[float, float]]:
    return {"KEY_RESULTS": krs, "ALIGNED_OBJECTIVES": children}.get(driver, [*krs, *children])


@given(PAIRS, PAIRS, DRIVER)
def test_score_is_the_weighted_mean_of_what_the_driver_counts(
    krs: list[tuple[float, float]], children: list[tuple[float, float]], driver: str
) -> None:
    """Within [0, 1] and between the counted scores' min and max; None with nothing counted."""
    score = f.objective_score(krs, children, driver)
    counted = _counted(krs, children, driver)
    if not counted:
        assert score is None
        return
    assert score is not None
    assert 0.0 <= score <= 1.0 and math.copysign(1.0, score) == 1.0
    values = [v for v, _ in counted]
    assert min(values) <= score <= max(values)
    total = sum(w for _, w in counted)
    assert math.isclose(score, sum(v * w for v, w in counted) / total, rel_tol=1e-9, abs_tol=1e-12)


@given(PAIRS, PAIRS)
def test_drivers_ignore_what_they_do_not_count(
    krs: list[tuple[float, float]], children: list[tuple[float, float]]
) -> None:
    """KEY_RESULTS ignores children, ALIGNED_OBJECTIVES ignores key results, BOTH uses all."""
    assert f.objective_score(krs, children, "KEY_RESULTS") == f.objective_score(krs, [], "BOTH")
    assert f.objective_score(krs, children, "ALIGNED_OBJECTIVES") == f.objective_score([], children, "BOTH")
    both = f.objective_score(krs, children, "BOTH")
    parts = [
        s
        for s in (f.objective_score(krs, [], "BOTH"), f.objective_score([], children, "BOTH"))
        if s is not None
    ]
    if parts:
        assert both is not None and min(parts) - 1e-12 <= both <= max(parts) + 1e-12


@given(SCORE, WEIGHT, st.integers(1, 5))
def test_equal_scores_give_that_score(score: float, weight: float, n: int) -> None:
    """n children with the same score: the objective has that score, its grade follows."""
    result = f.objective_score([], [(score, weight)] * n, "ALIGNED_OBJECTIVES")
    assert result is not None and math.isclose(result, score, abs_tol=1e-12)
    assert (
        f.grade(result) == f.grade(score)
        or math.isclose(score, f.GREEN_GRADE)
        or math.isclose(score, f.YELLOW_GRADE)
    )
