"""Check-in reminders: an org's reminder schedule (when reminders go out) and the `Reminder`
aggregate, one per key result and due period, whose two events other services act on.

The rule, once (the scheduler and the `dueCheckIns` query both call `reminder_state`):

- the schedule's *slots* are the instants reminders go out: the org's weekday at its hour in its
  time zone — every week (WEEKLY), on the first and third such weekday of each month
  (TWICE_MONTHLY) or on the first (MONTHLY);
- at instant `at`, the current period is the latest slot at or before `at`; a key result is *due*
  in it when it was outdated at that slot (`formulas.is_outdated`: no check-in within its cadence,
  counted from its activation when it has none) — a check-in after the slot makes it not due;
- it is *overdue* once `grace_days` have passed since the slot (same local hour) without one.

A `Reminder` is created by `CheckInDue` and may get one `CheckInOverdue`. Its id is a uuid5 of
(org, key result, period), so a second scheduler that decides the same reminder appends version 1
(or 2) of an aggregate that already has it: the store refuses it, and nothing is emitted twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import event

from okr.domain import formulas as f
from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.errors import ValidationError


class ReminderFrequency(StrEnum):
    WEEKLY = "WEEKLY"
    TWICE_MONTHLY = "TWICE_MONTHLY"
    MONTHLY = "MONTHLY"


class Weekday(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


_WEEKDAYS = list(Weekday)
#: The longest grace per frequency: shorter than the shortest gap between two slots (7, 14 and
#: 28 days), so a period's overdue instant always comes before the next period starts.
MAX_GRACE_DAYS = {
    ReminderFrequency.WEEKLY: 6,
    ReminderFrequency.TWICE_MONTHLY: 13,
    ReminderFrequency.MONTHLY: 27,
}
MAX_TIMEZONE = 64


@dataclass(frozen=True)
class ReminderSchedule:
    """When an org's reminders go out (validated: build it with `ReminderSchedule.check`)."""

    weekday: str = Weekday.MONDAY.value
    hour: int = 9
    timezone: str = "UTC"
    frequency: str = ReminderFrequency.WEEKLY.value
    grace_days: int = 2

    @staticmethod
    def check(
        weekday: object, hour: object, timezone: object, frequency: object, grace_days: object
    ) -> ReminderSchedule:
        raw_weekday = getattr(weekday, "value", weekday)
        if raw_weekday not in [w.value for w in Weekday]:
            raise ValidationError(
                f"weekday must be one of {', '.join(Weekday)} (got {raw_weekday!r})", field="weekday"
            )
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
            raise ValidationError("hour must be an integer 0-23", field="hour")
        if not isinstance(timezone, str) or not 1 <= len(timezone) <= MAX_TIMEZONE:
            raise ValidationError(
                f"timezone must be an IANA time zone name (1-{MAX_TIMEZONE} characters)", field="timezone"
            )
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"timezone {timezone[:MAX_TIMEZONE]!r} is not a known IANA time zone (e.g. Europe/Berlin)",
                field="timezone",
            ) from None
        raw_frequency = getattr(frequency, "value", frequency)
        if raw_frequency not in [q.value for q in ReminderFrequency]:
            raise ValidationError(
                f"frequency must be one of {', '.join(ReminderFrequency)} (got {raw_frequency!r})",
                field="frequency",
            )
        longest = MAX_GRACE_DAYS[ReminderFrequency(raw_frequency)]
        if isinstance(grace_days, bool) or not isinstance(grace_days, int) or not 1 <= grace_days <= longest:
            raise ValidationError(
                f"graceDays must be 1-{longest} for {raw_frequency} (less than the time between reminders)",
                field="graceDays",
            )
        return ReminderSchedule(str(raw_weekday), hour, timezone, str(raw_frequency), grace_days)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def latest_slot(self, at: datetime) -> datetime:
        """The latest reminder instant at or before `at` (UTC)."""
        zone = self.zone
        local = at.astimezone(zone)
        weekday = _WEEKDAYS.index(Weekday(self.weekday))
        if self.frequency == ReminderFrequency.WEEKLY.value:
            day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
            days = [day, day - timedelta(days=7)]
        else:
            nths = (1, 3) if self.frequency == ReminderFrequency.TWICE_MONTHLY.value else (1,)
            days = [
                _nth_weekday(y, m, weekday, n) for y, m in _this_and_last_month(local.date()) for n in nths
            ]
        slots = [self._at_hour(day, zone) for day in days]
        return max(s for s in slots if s <= at)

    def overdue_at(self, slot: datetime) -> datetime:
        """`grace_days` after a slot, at the same local hour (UTC)."""
        local = slot.astimezone(self.zone)
        return self._at_hour(local.date() + timedelta(days=self.grace_days), self.zone)

    def _at_hour(self, day: date, zone: ZoneInfo) -> datetime:
        return datetime.combine(day, time(self.hour), tzinfo=zone).astimezone(UTC)


DEFAULT_SCHEDULE = ReminderSchedule()


def _this_and_last_month(day: date) -> list[tuple[int, int]]:
    last = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return [(day.year, day.month), last]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


@dataclass(frozen=True)
class ReminderState:
    """A key result's reminder at an instant: the period (slot) it is due in, since when it is
    due (its last check-in, or its activation, plus its cadence), and whether it is overdue."""

    period: datetime
    due_since: datetime
    overdue_at: datetime
    overdue: bool


def reminder_state(
    schedule: ReminderSchedule,
    since: datetime,
    last_check_in: datetime | None,
    cadence_days: int,
    at: datetime,
) -> ReminderState | None:
    """Due (and maybe overdue) at `at`, or None; `since` starts the clock without a check-in."""
    slot = schedule.latest_slot(at)
    if not f.is_outdated(last_check_in, since, slot, cadence_days):
        return None
    reference = last_check_in if last_check_in is not None else since
    overdue_at = schedule.overdue_at(slot)
    return ReminderState(slot, reference + timedelta(days=cadence_days), overdue_at, at >= overdue_at)


class Reminder(OkrAggregate):
    """One key result's check-in reminder for one period: CheckInDue, then maybe CheckInOverdue."""

    @staticmethod
    def id_for(org_id: str, key_result_id: UUID, period: datetime) -> UUID:
        key = json.dumps([org_id, str(key_result_id), period.astimezone(UTC).isoformat()])
        return uuid5(NAMESPACE_URL, "okr:reminder:" + key)

    @staticmethod
    def create_id(key_result_id: UUID, period: datetime) -> UUID:
        return Reminder.id_for(current_context().org_id, key_result_id, period)

    class CheckInDue(OkrAggregate.Created):
        """A key result needs a check-in: its owner (the objective's), team and titles, the
        period (the slot the reminder went out for), since when it is due and its last check-in."""

        key_result_id: UUID
        objective_id: UUID
        owner: str
        team_id: UUID | None
        key_result_title: str
        objective_title: str
        period: datetime
        due_since: datetime
        last_check_in_at: datetime | None
        cadence_days: int

    @event(CheckInDue)
    def __init__(
        self,
        key_result_id: UUID,
        objective_id: UUID,
        owner: str,
        team_id: UUID | None,
        key_result_title: str,
        objective_title: str,
        period: datetime,
        due_since: datetime,
        last_check_in_at: datetime | None,
        cadence_days: int,
    ) -> None:
        self.key_result_id = key_result_id
        self.objective_id = objective_id
        self.owner = owner
        self.team_id = team_id
        self.key_result_title = key_result_title
        self.objective_title = objective_title
        self.period = period
        self.due_since = due_since
        self.last_check_in_at = last_check_in_at
        self.cadence_days = cadence_days
        self.overdue = False

    def mark_overdue(self, grace_days: int) -> None:
        """CheckInOverdue, once (no event when it already is)."""
        if not self.overdue:
            self._overdue(
                key_result_id=self.key_result_id,
                objective_id=self.objective_id,
                owner=self.owner,
                team_id=self.team_id,
                period=self.period,
                due_since=self.due_since,
                last_check_in_at=self.last_check_in_at,
                grace_days=grace_days,
            )

    class CheckInOverdue(OkrAggregate.Event):
        """Still no check-in `grace_days` after the reminder's period began."""

        key_result_id: UUID
        objective_id: UUID
        owner: str
        team_id: UUID | None
        period: datetime
        due_since: datetime
        last_check_in_at: datetime | None
        grace_days: int

    @event(CheckInOverdue)
    def _overdue(
        self,
        key_result_id: UUID,
        objective_id: UUID,
        owner: str,
        team_id: UUID | None,
        period: datetime,
        due_since: datetime,
        last_check_in_at: datetime | None,
        grace_days: int,
    ) -> None:
        self.overdue = True
