"""The reminders view: each org's check-in reminder schedule (what the scheduler and the
`dueCheckIns` query read; an org without a row has `okr.domain.reminder.DEFAULT_SCHEDULE`).

The reminders themselves (Reminder.CheckInDue / CheckInOverdue) are for other services: they
reach them through the relay, and the audit view lists them; the due state is computed at read
time from the progress view (`projections.queries.reminders`)."""

from __future__ import annotations

from okr.domain import Organization
from okr.domain.base import OkrAggregate
from projections.views.base import (
    COMMENT_EVENTS,
    CYCLE_EVENTS,
    INT,
    OBJECTIVE_EVENTS,
    ORGANIZATION_EVENTS,
    REMINDER_EVENTS,
    REVIEW_POLICY_EVENTS,
    TASK_EVENTS,
    TEAM_EVENTS,
    TEXT,
    Batch,
    Table,
    View,
    on,
    to_micros,
)

REMINDER_SCHEDULES = Table(
    "reminder_schedules",
    (
        ("org", TEXT),
        ("weekday", TEXT),
        ("hour", INT),
        ("timezone", TEXT),
        ("frequency", TEXT),
        ("grace_days", INT),
        ("updated_at", INT),
    ),
    ("org",),
)


def _configured(e: Organization.RemindersConfigured, pos: int, r: Batch) -> None:
    r["reminder_schedules"].put(
        {
            "org": e.org_id,
            "weekday": e.weekday,
            "hour": int(e.hour),
            "timezone": e.timezone,
            "frequency": e.frequency,
            "grace_days": int(e.grace_days),
            "updated_at": to_micros(e.timestamp),
        }
    )


#: Everything but the schedule.
REMINDERS_IGNORED: frozenset[type[OkrAggregate.Event]] = (
    CYCLE_EVENTS
    | TEAM_EVENTS
    | OBJECTIVE_EVENTS
    | TASK_EVENTS
    | (ORGANIZATION_EVENTS - {Organization.RemindersConfigured})
    | COMMENT_EVENTS
    | REVIEW_POLICY_EVENTS
    | REMINDER_EVENTS
)


def reminders_view() -> View:
    return View(
        "reminders",
        (REMINDER_SCHEDULES,),
        [on(Organization.RemindersConfigured, _configured)],
        ignored=REMINDERS_IGNORED,
    )
