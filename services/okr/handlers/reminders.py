"""Check-in reminders: the org's schedule (a command) and the scheduler's emission (not a command:
no one asks for a reminder; the scheduler in `okr.reminders` decides and calls `emit_reminder`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from okr.commands import ConfigureReminders
from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.key_result import DEFAULT_CADENCE_DAYS, ProgressSource
from okr.domain.objective import Objective, ObjectiveState
from okr.domain.organization import Organization
from okr.domain.reminder import Reminder, ReminderSchedule, reminder_state
from okr.handlers import Outcome, handles

if TYPE_CHECKING:
    from datetime import datetime

    from okr.application import OkrApplication


@handles(ConfigureReminders)
def configure_reminders(app: OkrApplication, c: ConfigureReminders) -> Outcome:
    schedule = ReminderSchedule.check(c.weekday, c.hour, c.timezone, c.frequency, c.grace_days)
    org = app.organization()
    if org is None:  # an org that never ran configureOrg: its defaults, then the schedule
        org = Organization(
            strict_policies=False, cadence_days=DEFAULT_CADENCE_DAYS, check_ins_open_to_all=False
        )
    org.configure_reminders(schedule)
    return Outcome([org], org.id)


@dataclass(frozen=True)
class Emission:
    """What `emit_reminder` appended: CheckInDue and/or CheckInOverdue (both False: nothing —
    not due on the write side, already emitted, or another scheduler appended it first)."""

    reminder_id: UUID | None
    due: bool = False
    overdue: bool = False
    complete: bool = False  # the reminder has every event it will get (nothing left to check)


def emit_reminder(
    app: OkrApplication,
    schedule: ReminderSchedule,
    objective_id: UUID,
    key_result_id: UUID,
    at: datetime,
    *,
    historic: bool = False,
) -> Emission:
    """Appends the reminder the key result is due at `at` (under the current request context,
    whose clock stamps the events), after checking the rule on the objective itself: a check-in
    that the read model has not seen yet stops it here. `historic`: check it on the objective as it
    was at `at` instead (a pass at a past instant, as `okr demo` runs).

    The reminder's id is deterministic (org, key result, period): when another scheduler appended
    the same event first, the store refuses this append (IntegrityError) and nothing is emitted.
    """
    app.evict(objective_id)  # the freshest objective: a check-in of another process counts
    version = _version_at(app, objective_id, at) if historic else None
    if historic and version is None:
        return Emission(None)  # not drafted yet at `at`
    try:
        objective: object = app.repository.get(objective_id, version=version)
    except AggregateNotFoundError:
        return Emission(None)
    if not isinstance(objective, Objective) or objective.org_id != current_context().org_id:
        return Emission(None)
    kr = objective.key_results.get(str(key_result_id))
    if objective.state != ObjectiveState.ACTIVE.value or kr is None or kr.source != ProgressSource.CHECK_INS:
        return Emission(None)
    since = max(kr.added_at, objective.activated_at or kr.added_at)
    state = reminder_state(schedule, since, kr.last_check_in_at, kr.cadence_days, at)
    if state is None:
        return Emission(None)
    reminder_id = Reminder.id_for(objective.org_id, key_result_id, state.period)
    due = False
    try:
        found: object = app.repository.get(reminder_id)
        assert isinstance(found, Reminder)
        reminder = found
    except AggregateNotFoundError:
        reminder = Reminder(
            key_result_id=key_result_id,
            objective_id=objective_id,
            owner=objective.owner,
            team_id=objective.team_id,
            key_result_title=kr.title,
            objective_title=objective.title,
            period=state.period,
            due_since=state.due_since,
            last_check_in_at=kr.last_check_in_at,
            cadence_days=kr.cadence_days,
        )
        due = True
    was_overdue = reminder.overdue
    if state.overdue:
        reminder.mark_overdue(schedule.grace_days)
    overdue = reminder.overdue and not was_overdue
    if not (due or overdue):
        return Emission(reminder_id, complete=reminder.overdue)
    try:
        app.save_system_write(reminder)
    except IntegrityError:  # another scheduler appended this reminder's event first
        app.evict(reminder_id)
        return Emission(reminder_id)
    return Emission(reminder_id, due=due, overdue=overdue, complete=reminder.overdue)


def _version_at(app: OkrApplication, aggregate_id: UUID, at: datetime) -> int | None:
    """The aggregate's version at instant `at` (None: it did not exist yet)."""
    version = None
    for e in app.events.get(aggregate_id):
        if isinstance(e, OkrAggregate.Event) and e.timestamp > at:
            break
        version = e.originator_version
    return version
