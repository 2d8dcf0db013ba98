"""The review's per-key-result and summary computations (no I/O): discipline and movers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from projections.model import KeyResultReview, KeyResultView, ObjectiveReview
from projections.queries.review import key_result_review, summarize

START = datetime(2026, 1, 1, tzinfo=UTC)
CLOSE = START + timedelta(days=28)  # four weekly periods


def _kr(**changes: object) -> KeyResultView:
    base = KeyResultView(
        id=uuid4(), objective_id=uuid4(), title="MQLs", kind="NUMERIC", direction="INCREASE", unit="",
        start=0.0, target=400.0, current=300.0, weight=1.0, source="CHECK_INS", cadence_days=7,
        confidence=0.8, last_check_in_at=None, check_in_count=3, score=0.8, score_reason=None,
        progress=0.75, attainment=0.75, expected_progress=1.0, status="ON_TRACK", outdated=False,
        grade="GREEN", tasks_total=0, tasks_done=0,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def _objective(
    state: str, score: float | None, krs: list[KeyResultReview], grade: str | None = None
) -> ObjectiveReview:
    return ObjectiveReview(
        id=uuid4(), title="o", owner="gia", team_id=None, state=state, score=score, score_reason=None,
        grade=grade, learnings="", progress=0.5, key_results=krs,
        carried_over=[k for k in krs if k.unfinished],
    )  # fmt: skip


def test_discipline_counts_the_periods_holding_a_check_in() -> None:
    """Check-ins in weeks 1, 1 and 3 of four: 2 of 4 periods; progress moved from 100/400 (the
    value before the first check-in) to 300/400."""
    series = [
        (START + timedelta(days=1), 100.0),
        (START + timedelta(days=2), 150.0),
        (START + timedelta(days=15), 200.0),
    ]
    r = key_result_review(_kr(), series, START, CLOSE)
    assert (r.periods, r.periods_with_check_in, r.discipline, r.check_ins) == (4, 2, 0.5, 3)
    assert r.progress_change == 0.75 - 0.25
    assert r.unfinished


def test_a_key_result_never_checked_in_did_not_move_and_kept_no_period() -> None:
    """No check-in: discipline 0 of 4, change 0 (it stands where it was added)."""
    r = key_result_review(_kr(current=0.0, progress=0.0, check_in_count=0), [], START, CLOSE)
    assert (r.periods, r.periods_with_check_in, r.discipline, r.progress_change) == (4, 0, 0.0, 0.0)


def test_a_decreasing_key_result_moves_by_its_own_formula() -> None:
    """9 h -> 3 h on a 9 -> 1 target: from 0 to 0.75."""
    kr = _kr(start=9.0, target=1.0, current=3.0, progress=0.75, direction="DECREASE")
    r = key_result_review(kr, [(START + timedelta(days=3), 9.0)], START, CLOSE)
    assert r.progress_change == 0.75


def test_task_driven_key_results_have_no_periods_and_move_from_zero() -> None:
    """TASKS source: not checked in, so no periods and no discipline; its change is its progress."""
    r = key_result_review(_kr(source="TASKS", progress=0.6), [], START, CLOSE)
    assert (r.periods, r.discipline, r.progress_change) == (0, None, 0.6)


def test_summary_pools_closed_objectives_and_names_the_three_biggest_movers() -> None:
    """Grades, mean score and pooled discipline over CLOSED objectives; abandoned ones are counted
    apart; the movers are the three largest changes by size."""
    moves = [0.1, -0.6, 0.4, 0.0, 0.5]
    krs = [
        key_result_review(_kr(title=f"kr{i}", progress=0.5 + m if m > 0 else 0.5), [], START, CLOSE)
        for i, m in enumerate(moves)
    ]
    krs = [
        replace(k, progress_change=m, periods=4, periods_with_check_in=i % 3)
        for i, (k, m) in enumerate(zip(krs, moves, strict=True))
    ]
    closed_a = _objective("CLOSED", 0.8, krs[:3], "GREEN")
    closed_b = _objective("CLOSED", 0.3, krs[3:], "RED")
    abandoned = _objective("ABANDONED", None, [replace(krs[0], title="gone", progress_change=0.9)])
    s = summarize([closed_a, closed_b, abandoned], done_tasks=4, aligned_done=3)
    assert s.objectives == 2 and s.abandoned == 1
    assert s.grade_distribution == {"GREEN": 1, "YELLOW": 0, "RED": 1}
    assert s.mean_score is not None and abs(s.mean_score - 0.55) < 1e-12
    assert (s.periods, s.periods_with_check_in) == (20, 0 + 1 + 2 + 0 + 1)
    assert s.check_in_discipline == 4 / 20
    assert s.aligned_done_share == 0.75
    assert [k.title for k in s.biggest_movers] == ["kr1", "kr4", "kr2"]


def test_an_empty_scope_has_no_figures() -> None:
    """No objective: every grade at 0, no mean, no discipline, no share, no movers."""
    s = summarize([], done_tasks=0, aligned_done=0)
    assert s.grade_distribution == {"GREEN": 0, "YELLOW": 0, "RED": 0}
    assert (s.mean_score, s.check_in_discipline, s.aligned_done_share, s.biggest_movers) == (
        None,
        None,
        None,
        [],
    )
