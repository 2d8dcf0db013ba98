"""Reminder rules in the domain alone: the schedule's slots in the org's time zone, due and
overdue, validation, deterministic reminder ids and the pure planning function."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okr.domain import RequestContext, request_context
from okr.domain.errors import ValidationError
from okr.domain.reminder import DEFAULT_SCHEDULE, Reminder, ReminderSchedule, reminder_state
from okr.reminders import Candidate, plan


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_slots_are_the_weekday_and_hour_in_the_org_time_zone_across_dst() -> None:
    """Monday 10:00 Europe/Berlin is 08:00 UTC in summer time and 09:00 UTC in winter time."""
    berlin = ReminderSchedule.check("MONDAY", 10, "Europe/Berlin", "WEEKLY", 2)
    assert berlin.latest_slot(_utc(2026, 10, 14, 12)) == _utc(2026, 10, 12, 8)  # CEST
    assert berlin.latest_slot(_utc(2026, 11, 4, 12)) == _utc(2026, 11, 2, 9)  # CET
    assert berlin.latest_slot(_utc(2026, 10, 12, 8)) == _utc(2026, 10, 12, 8)  # at the slot itself
    assert berlin.latest_slot(_utc(2026, 10, 12, 7, 59)) == _utc(2026, 10, 5, 8)  # just before it
    assert berlin.overdue_at(_utc(2026, 10, 26, 9)) == _utc(2026, 10, 28, 9)  # same local hour


def test_twice_monthly_and_monthly_slots_are_the_first_and_third_weekday() -> None:
    """December 2026: Tuesdays are the 1st, 8th, 15th; twice monthly -> 1st and 15th, monthly -> 1st."""
    twice = ReminderSchedule.check("TUESDAY", 9, "UTC", "TWICE_MONTHLY", 3)
    monthly = ReminderSchedule.check("TUESDAY", 9, "UTC", "MONTHLY", 3)
    assert twice.latest_slot(_utc(2026, 12, 14)) == _utc(2026, 12, 1, 9)
    assert twice.latest_slot(_utc(2026, 12, 20)) == _utc(2026, 12, 15, 9)
    assert twice.latest_slot(_utc(2026, 12, 1, 8)) == _utc(2026, 11, 17, 9)  # November's third Tuesday
    assert monthly.latest_slot(_utc(2026, 12, 31)) == _utc(2026, 12, 1, 9)
    assert monthly.latest_slot(_utc(2026, 12, 1, 8)) == _utc(2026, 11, 3, 9)


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["WEEKLY", "TWICE_MONTHLY", "MONTHLY"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]),
)
def test_the_latest_slot_is_at_or_before_the_instant_on_the_weekday(
    at: datetime, frequency: str, tz: str
) -> None:
    """Whatever the instant, zone and frequency: the slot is not later, on the weekday, within 35 days."""
    schedule = ReminderSchedule.check("WEDNESDAY", 7, tz, frequency, 1)
    slot = schedule.latest_slot(at)
    assert slot <= at
    assert at - slot < timedelta(days=36)
    assert slot.astimezone(schedule.zone).weekday() == 2


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("FUNDAY", 9, "UTC", "WEEKLY", 2), "weekday"),
        (("MONDAY", 24, "UTC", "WEEKLY", 2), "hour"),
        (("MONDAY", True, "UTC", "WEEKLY", 2), "hour"),
        (("MONDAY", 9, "Mars/Olympus_Mons", "WEEKLY", 2), "timezone"),
        (("MONDAY", 9, "../../etc/passwd", "WEEKLY", 2), "timezone"),
        (("MONDAY", 9, "", "WEEKLY", 2), "timezone"),
        (("MONDAY", 9, "UTC", "DAILY", 2), "frequency"),
        (("MONDAY", 9, "UTC", "WEEKLY", 7), "graceDays"),
        (("MONDAY", 9, "UTC", "WEEKLY", 0), "graceDays"),
        (("MONDAY", 9, "UTC", "MONTHLY", 28), "graceDays"),
    ],
)
def test_a_schedule_refuses_what_cannot_be_valid(args: tuple[object, ...], field: str) -> None:
    """Unknown weekday, frequency or time zone (zoneinfo), an hour outside 0-23, a grace not shorter
    than the time between reminders: a ValidationError naming the field."""
    with pytest.raises(ValidationError) as err:
        ReminderSchedule.check(*args)
    assert err.value.field == field


def test_due_after_a_cadence_without_check_in_and_overdue_after_the_grace() -> None:
    """Activated Monday 07:00, cadence 7, reminders Monday 09:00 UTC with 2 grace days."""
    since = _utc(2026, 10, 5, 7)
    assert reminder_state(DEFAULT_SCHEDULE, since, None, 7, _utc(2026, 10, 12, 8)) is None  # before the slot
    due = reminder_state(DEFAULT_SCHEDULE, since, None, 7, _utc(2026, 10, 12, 9))
    assert due is not None
    assert (due.period, due.due_since, due.overdue) == (_utc(2026, 10, 12, 9), _utc(2026, 10, 12, 7), False)
    overdue = reminder_state(DEFAULT_SCHEDULE, since, None, 7, _utc(2026, 10, 14, 9))
    assert overdue is not None
    assert overdue.overdue
    assert overdue.period == due.period
    # a check-in after the slot: not due in that period any more
    assert reminder_state(DEFAULT_SCHEDULE, since, _utc(2026, 10, 12, 15), 7, _utc(2026, 10, 14, 9)) is None


def test_reminder_ids_are_deterministic_per_org_key_result_and_period() -> None:
    """Same org, key result and period: the same id (so a second scheduler conflicts); any change: another."""
    kr, period = uuid.uuid4(), _utc(2026, 10, 12, 9)
    assert Reminder.id_for("a", kr, period) == Reminder.id_for("a", kr, period.astimezone())
    assert Reminder.id_for("a", kr, period) != Reminder.id_for("b", kr, period)
    assert Reminder.id_for("a", kr, period) != Reminder.id_for("a", kr, period + timedelta(days=7))
    with request_context(RequestContext(org_id="a", actor="okr-reminders")):
        reminder = Reminder(
            key_result_id=kr,
            objective_id=uuid.uuid4(),
            owner="gia",
            team_id=None,
            key_result_title="MQLs",
            objective_title="Grow",
            period=period,
            due_since=period,
            last_check_in_at=None,
            cadence_days=7,
        )
        reminder.mark_overdue(2)
        reminder.mark_overdue(2)
    assert reminder.id == Reminder.id_for("a", kr, period)
    assert [type(e).__name__ for e in reminder.collect_events()] == ["CheckInDue", "CheckInOverdue"]


def test_plan_lists_the_due_key_results_with_their_reminder_ids() -> None:
    """Pure planning: the checked-in key result is left out, the stale one is planned overdue."""
    fresh = Candidate(uuid.uuid4(), uuid.uuid4(), _utc(2026, 10, 1), _utc(2026, 10, 13), 7)
    stale = Candidate(uuid.uuid4(), uuid.uuid4(), _utc(2026, 10, 1), None, 7)
    (item,) = plan("a", DEFAULT_SCHEDULE, [fresh, stale], _utc(2026, 10, 14, 10))
    assert (item.key_result_id, item.period, item.overdue) == (
        stale.key_result_id,
        _utc(2026, 10, 12, 9),
        True,
    )
    assert item.reminder_id == Reminder.id_for("a", stale.key_result_id, item.period)
