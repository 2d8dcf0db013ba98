"""Organization settings: the policies an org opts into (warnings by default, errors if strict)."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.errors import ValidationError
from okr.domain.reminder import ReminderSchedule

MIN_KEY_RESULTS = 2
MAX_KEY_RESULTS = 4
MIN_OBJECTIVES = 3
MAX_OBJECTIVES = 5


class Organization(OkrAggregate):
    """Org settings: strict policies, default check-in cadence, who may check in."""

    @staticmethod
    def id_for(org_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:org:{org_id}")

    @staticmethod
    def create_id() -> UUID:
        return Organization.id_for(current_context().org_id)

    class Configured(OkrAggregate.Created):
        strict_policies: bool
        cadence_days: int
        check_ins_open_to_all: bool = False

    @event(Configured)
    def __init__(self, strict_policies: bool, cadence_days: int, check_ins_open_to_all: bool = False) -> None:
        self.strict_policies = strict_policies
        self.cadence_days = cadence_days
        self.check_ins_open_to_all = check_ins_open_to_all
        self.reminder_schedule: ReminderSchedule | None = None  # None: DEFAULT_SCHEDULE

    @staticmethod
    def check(
        strict_policies: object, cadence_days: object, check_ins_open_to_all: object = False
    ) -> tuple[bool, int, bool]:
        if not isinstance(strict_policies, bool):
            raise ValidationError("strictPolicies must be a boolean", field="strictPolicies")
        if isinstance(cadence_days, bool) or not isinstance(cadence_days, int):
            raise ValidationError("cadenceDays must be an integer", field="cadenceDays")
        if not 1 <= cadence_days <= 366:
            raise ValidationError("cadenceDays must be 1-366", field="cadenceDays")
        if not isinstance(check_ins_open_to_all, bool):
            raise ValidationError("checkInsOpenToAll must be a boolean", field="checkInsOpenToAll")
        return strict_policies, cadence_days, check_ins_open_to_all

    def reconfigure(
        self,
        strict_policies: bool | None = None,
        cadence_days: int | None = None,
        check_ins_open_to_all: bool | None = None,
    ) -> None:
        """Changes only the settings given (None keeps the current value)."""
        strict, cadence, open_to_all = self.check(
            self.strict_policies if strict_policies is None else strict_policies,
            self.cadence_days if cadence_days is None else cadence_days,
            self.check_ins_open_to_all if check_ins_open_to_all is None else check_ins_open_to_all,
        )
        if (strict, cadence, open_to_all) == (
            self.strict_policies,
            self.cadence_days,
            self.check_ins_open_to_all,
        ):
            raise ValidationError("nothing to change")
        self._reconfigured(strict_policies=strict, cadence_days=cadence, check_ins_open_to_all=open_to_all)

    class Reconfigured(OkrAggregate.Event):
        strict_policies: bool
        cadence_days: int
        check_ins_open_to_all: bool = False

    @event(Reconfigured)
    def _reconfigured(
        self, strict_policies: bool, cadence_days: int, check_ins_open_to_all: bool = False
    ) -> None:
        self.strict_policies = strict_policies
        self.cadence_days = cadence_days
        self.check_ins_open_to_all = check_ins_open_to_all

    def configure_reminders(self, schedule: ReminderSchedule) -> None:
        """The org's check-in reminder schedule (okr.domain.reminder); the same one again is refused."""
        if schedule == self.reminder_schedule:
            raise ValidationError("nothing to change")
        self._reminders_configured(
            weekday=schedule.weekday,
            hour=schedule.hour,
            timezone=schedule.timezone,
            frequency=schedule.frequency,
            grace_days=schedule.grace_days,
        )

    class RemindersConfigured(OkrAggregate.Event):
        weekday: str
        hour: int
        timezone: str
        frequency: str
        grace_days: int

    @event(RemindersConfigured)
    def _reminders_configured(
        self, weekday: str, hour: int, timezone: str, frequency: str, grace_days: int
    ) -> None:
        self.reminder_schedule = ReminderSchedule(weekday, hour, timezone, frequency, grace_days)
