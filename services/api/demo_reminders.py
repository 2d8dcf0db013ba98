"""`okr demo`'s check-in reminders: the org's schedule, and the scheduler run at two of the demo's
instants with a controlled clock — the first reminder slot a week into the current cycle (a
CheckInDue for every key result with no check-in that week) and the grace period later (a
CheckInOverdue for those still without one). It reads the views as they were at each instant,
rebuilt from the log (`projections.queries.reminders.reminder_reads_as_of`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from okr import commands as c
from okr.domain.reminder import Weekday
from okr.reminders import ReminderScheduler
from projections.queries.reminders import reminder_reads_as_of

if TYPE_CHECKING:
    from api.demo import Loader

GRACE_DAYS = 2


def demo_reminders(d: Loader, cycle_start: datetime) -> dict[str, str]:
    """Configures weekly reminders on the cycle's first weekday at 10:00 UTC, then runs the
    scheduler at the first slot after a week and at its grace instant (each only once it has
    passed). Returns how many of each it emitted (`reminders`)."""
    start = datetime.combine(cycle_start.date(), time(9), tzinfo=UTC)
    weekday = list(Weekday)[start.weekday()].value
    with d.at(start):
        d.do(
            "admin",
            "admin",
            c.ConfigureReminders(
                weekday=weekday, hour=10, timezone="UTC", frequency="WEEKLY", grace_days=GRACE_DAYS
            ),
        )
    slot = start + timedelta(days=7, hours=1)
    counts = {"due": 0, "overdue": 0}
    for at in (slot, slot + timedelta(days=GRACE_DAYS)):
        if at > d.now:
            break  # the cycle is younger than that: nothing is due yet
        with reminder_reads_as_of(d.app, d.org, at) as reads:
            report = ReminderScheduler(d.app, reads, historic=True).run_once(at, orgs=[d.org])
        counts["due"] += report.due
        counts["overdue"] += report.overdue
    return {"reminders": f"{counts['due']} due, {counts['overdue']} overdue"}
