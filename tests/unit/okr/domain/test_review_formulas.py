"""The review's formulas: cadence periods, check-in discipline, progress change, biggest movers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from okr.domain import formulas as f

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_periods_cut_the_cycle_from_its_start_to_its_close_into_cadence_windows() -> None:
    """90 days at a 7-day cadence are 13 windows (the last one 6 days long); an exact multiple has
    no extra window; a close before the start has none."""
    assert f.cadence_period_count(START, START + 90 * DAY, 7) == 13
    assert f.cadence_period_count(START, START + 84 * DAY, 7) == 12
    assert f.cadence_period_count(START, START + 84 * DAY + timedelta(seconds=1), 7) == 13
    assert f.cadence_period_count(START, START, 7) == 0
    assert f.cadence_period_count(START, START - DAY, 7) == 0
    assert f.cadence_period_count(START, START + 90 * DAY, 30) == 3


def test_a_window_counts_once_however_many_check_ins_it_holds() -> None:
    """Three check-ins in week 0, one in week 2, one before the start and one after the close:
    two windows with a check-in."""
    close = START + 28 * DAY
    times = [
        START,
        START + DAY,
        START + 6 * DAY + timedelta(hours=23),
        START + 14 * DAY,
        START - timedelta(seconds=1),
        close,
    ]
    assert f.periods_with_check_in(times, START, close, 7) == 2
    assert f.check_in_discipline(2, f.cadence_period_count(START, close, 7)) == 0.5
    assert f.check_in_discipline(0, 0) is None


def test_a_window_boundary_belongs_to_the_next_window() -> None:
    """A check-in exactly 7 days after the start is in the second window, not the first."""
    close = START + 14 * DAY
    assert f.periods_with_check_in([START + 7 * DAY], START, close, 7) == 1
    assert (
        f.periods_with_check_in(
            [START + 7 * DAY, START + 7 * DAY - timedelta(microseconds=1)], START, close, 7
        )
        == 2
    )


def test_biggest_movers_are_the_largest_changes_by_size_falls_included() -> None:
    """Sorted by |change|, ties in input order, no-movers left out, at most n."""
    changes = [("a", 0.1), ("b", -0.5), ("c", 0.5), ("d", 0.0), ("e", 0.3), ("f", 0.2)]
    assert f.biggest_movers(changes) == [("b", -0.5), ("c", 0.5), ("e", 0.3)]
    assert f.biggest_movers(changes, n=1) == [("b", -0.5)]
    assert f.biggest_movers([("d", 0.0)]) == []
    assert f.progress_change(0.25, 0.75) == 0.5


def test_share_and_unfinished() -> None:
    """A share of nothing is None; a key result short of 1.0 is unfinished."""
    assert f.share(3, 4) == 0.75
    assert f.share(0, 0) is None
    assert f.is_unfinished(0.99)
    assert not f.is_unfinished(1.0)
