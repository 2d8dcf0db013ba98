"""okr.domain.policies and the formulas both sides share: one home per rule (issue 10)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from okr.domain import formulas as f
from okr.domain import policies

SERVICES = Path(__file__).resolve().parents[4] / "services"


def test_key_result_count_warning_wording() -> None:
    """2-4 key results pass; outside, the one KEY_RESULT_COUNT wording; children-driven objectives
    do not count their key results."""
    assert policies.key_result_count_warnings("KEY_RESULTS", 2) == []
    assert policies.key_result_count_warnings("BOTH", 4) == []
    assert policies.key_result_count_warnings("KEY_RESULTS", 1) == [
        "KEY_RESULT_COUNT: 1 key result; 2-4 keep an objective focused"
    ]
    assert policies.key_result_count_warnings("BOTH", 5) == [
        "KEY_RESULT_COUNT: 5 key results; 2-4 keep an objective focused"
    ]
    assert policies.key_result_count_warnings("ALIGNED_OBJECTIVES", 0) == []


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("team Support", "OBJECTIVE_COUNT: team Support has 1 active objective in this cycle;"),
        ("the team", "OBJECTIVE_COUNT: the team has 1 active objective in this cycle;"),
        ('team "Support"', 'OBJECTIVE_COUNT: team "Support" has 1 active objective in this cycle;'),
    ],
)
def test_objective_count_warning_wording(subject: str, expected: str) -> None:
    """The mutation's, the objective view's and the dashboard's subjects in one wording."""
    assert policies.objective_count_warnings(subject, 1) == [f"{expected} 3-5 keep a team focused"]
    assert policies.objective_count_warnings(subject, 3) == []
    assert policies.objective_count_warnings(subject, 5) == []
    assert policies.objective_count_warnings(subject, 6)[0].startswith(f"OBJECTIVE_COUNT: {subject} has 6 ")


def test_cycle_window_and_expected_progress() -> None:
    """A cycle covers its end date entirely; a cycle that has not started expects nothing."""
    start, end = f.cycle_window(date(2026, 1, 1), date(2026, 1, 2))
    assert (start, end) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    noon = datetime(2026, 1, 2, tzinfo=UTC)
    assert f.cycle_expected_progress(True, date(2026, 1, 1), date(2026, 1, 2), noon) == 0.5
    assert f.cycle_expected_progress(False, date(2026, 1, 1), date(2026, 1, 2), noon) == 0.0


def test_key_result_figures_by_source() -> None:
    """Value-sourced: progress and attainment of the value; task-sourced: the task progress;
    a threshold without a check-in is unmeasured (0)."""
    kind, up = f.KeyResultKind.NUMERIC, f.Direction.INCREASE
    assert f.key_result_figures(kind, 0, 400, 500, up, check_in_count=1) == (1.0, 1.25)
    assert f.key_result_figures(kind, 0, 400, 500, up, check_in_count=1, task_weights=(1, 4)) == (0.25, 0.25)
    above = f.Direction.STAY_ABOVE
    assert f.key_result_figures(f.KeyResultKind.THRESHOLD, 0, 5, 9, above, check_in_count=0) == (0.0, 0.0)
    assert f.key_result_figures(f.KeyResultKind.THRESHOLD, 0, 5, 9, above, check_in_count=1) == (1.0, 1.0)
    assert f.weight_share(1, 4) == 0.25
    assert f.weight_share(1, 0) == 0.0


def test_rollup_status_asks_children_only_when_accomplished() -> None:
    """A roll-up at 100% is ACCOMPLISHED only with every counted child accomplished; below
    that the children are not asked."""
    asked: list[bool] = []

    def children(answer: bool) -> bool:
        asked.append(answer)
        return answer

    assert f.rollup_status(1.0, 0.5, lambda: children(False)) is f.Status.ON_TRACK
    assert f.rollup_status(1.0, 0.5, lambda: children(True)) is f.Status.ACCOMPLISHED
    assert f.rollup_status(0.1, 0.5, lambda: children(True)) is f.Status.OFF_TRACK
    assert asked == [False, True]
    assert f.is_low_confidence(0.39) and not f.is_low_confidence(0.4) and not f.is_low_confidence(None)


# Text that only the rule's home may hold: policy wording, the cycle window, the alignment bounds.
ONE_HOME = {
    r"keep an objective focused|keep a team focused": "okr/domain/policies.py",
    r"def day_start|time\.min": "okr/domain/formulas.py",
    r"COUNTED_CHILD_STATES =|MAX_(ALIGNMENT_)?DEPTH = ": "okr/domain/formulas.py",
    r"MIN_KEY_RESULTS <=|MIN_OBJECTIVES <=": "okr/domain/policies.py",
}


@pytest.mark.parametrize("pattern", sorted(ONE_HOME))
def test_rules_have_one_home(pattern: str) -> None:
    """Write side and read side call the domain's rule; neither spells it out again."""
    found = {
        str(p.relative_to(SERVICES))
        for p in SERVICES.rglob("*.py")
        if re.search(pattern, p.read_text(encoding="utf-8"))
    }
    assert found == {ONE_HOME[pattern]}
