"""The check-in reminder scheduler: which reminders are due (`plan`, pure) and the loop that
emits them (`ReminderScheduler`) — in-process in `okr serve` (OKR_REMINDERS) or as `okr remind`.

Each pass, for every org with an ACTIVE objective in an ACTIVE cycle, it reads from the read
model (`ReminderSource`: the progress view's key results with their cadence and last check-in,
and the org's schedule), plans at the clock's instant with `okr.domain.reminder.reminder_state`,
and emits through `okr.handlers.reminders.emit_reminder`, which checks the rule again on the
objective and appends CheckInDue / CheckInOverdue to the reminder aggregate of (org, key result,
period). Several schedulers (replicas, workers) may run the same pass: the aggregate's id is
deterministic, so the second append conflicts and is dropped — a reminder is emitted once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from okr.domain.context import RequestContext, request_context, utc_now
from okr.domain.reminder import Reminder, ReminderSchedule, reminder_state
from okr.handlers.reminders import emit_reminder

if TYPE_CHECKING:
    from okr.application import OkrApplication

log = logging.getLogger(__name__)

ACTOR = "okr-reminders"
_KNOWN_LIMIT = 200_000


@dataclass(frozen=True)
class Candidate:
    """A key result that may need a check-in (of an ACTIVE objective in an ACTIVE cycle,
    measured by check-ins): what the rule needs."""

    key_result_id: UUID
    objective_id: UUID
    since: datetime  # its activation: the clock's start without a check-in
    last_check_in_at: datetime | None
    cadence_days: int


@dataclass(frozen=True)
class Planned:
    """A reminder to emit (or to make sure of): due in `period`, overdue or not yet."""

    key_result_id: UUID
    objective_id: UUID
    period: datetime
    overdue: bool
    reminder_id: UUID


def plan(org: str, schedule: ReminderSchedule, candidates: list[Candidate], at: datetime) -> list[Planned]:
    """The reminders due at `at` (pure: no I/O, no clock)."""
    out = []
    for c in candidates:
        state = reminder_state(schedule, c.since, c.last_check_in_at, c.cadence_days, at)
        if state is not None:
            rid = Reminder.id_for(org, c.key_result_id, state.period)
            out.append(Planned(c.key_result_id, c.objective_id, state.period, state.overdue, rid))
    return out


class ReminderSource(Protocol):
    """What the scheduler reads (projections.runtime.SqlReadModel is one)."""

    def wait_for(self, position: int, timeout: float = 5.0) -> None: ...

    def reminder_orgs(self) -> list[str]: ...

    def reminder_schedule(self, org: str) -> ReminderSchedule: ...

    def reminder_candidates(self, org: str) -> list[Candidate]: ...


@dataclass
class PassReport:
    """One pass: orgs looked at, reminders planned, events appended."""

    at: datetime
    orgs: int = 0
    planned: int = 0
    due: int = 0
    overdue: int = 0
    emitted: list[UUID] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"reminders at {self.at.isoformat()}: {self.orgs} org(s), {self.planned} due or overdue,"
            f" emitted {self.due} CheckInDue and {self.overdue} CheckInOverdue"
        )


class ReminderScheduler:
    """Runs passes: `run_once(at)` (tests, `okr remind --once`, the demo) or every `interval`
    seconds in a background thread (`start`/`stop`). `clock` is the instant of a pass."""

    def __init__(
        self,
        app: OkrApplication,
        source: ReminderSource,
        *,
        clock: Callable[[], datetime] = utc_now,
        interval: float = 60.0,
        consistency_timeout: float = 10.0,
        historic: bool = False,
    ) -> None:
        self.app = app
        self.source = source
        self.clock = clock
        self.interval = interval
        self.consistency_timeout = consistency_timeout
        self.historic = historic  # passes at past instants: the write-side check as of then
        self.last_error: BaseException | None = None
        self._complete: set[UUID] = set()  # reminders with every event they will get
        self._due: set[UUID] = set()  # reminders whose CheckInDue exists (overdue not yet)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, at: datetime | None = None, orgs: list[str] | None = None) -> PassReport:
        """One pass at `at` (default: the clock) over `orgs` (default: every org the source
        lists). Waits for the views to reach the log's head first, so planning sees every
        check-in written so far (a late one is still caught by the write-side check)."""
        when = at if at is not None else self.clock()
        report = PassReport(when)
        try:
            self.source.wait_for(self.app.max_position(), self.consistency_timeout)
        except TimeoutError:
            log.warning("reminders: the views lag behind the log; planning with what they have")
        for org in orgs if orgs is not None else self.source.reminder_orgs():
            report.orgs += 1
            schedule = self.source.reminder_schedule(org)
            planned = plan(org, schedule, self.source.reminder_candidates(org), when)
            report.planned += len(planned)
            ctx = RequestContext(org_id=org, actor=ACTOR, roles=frozenset({"admin"}), clock=lambda: when)
            with request_context(ctx):
                for item in planned:
                    if item.reminder_id in self._complete or (
                        item.reminder_id in self._due and not item.overdue
                    ):
                        continue
                    result = emit_reminder(
                        self.app,
                        schedule,
                        item.objective_id,
                        item.key_result_id,
                        when,
                        historic=self.historic,
                    )
                    report.due += result.due
                    report.overdue += result.overdue
                    if result.due or result.overdue:
                        report.emitted.append(item.reminder_id)
                    if result.reminder_id is not None:
                        self._remember(result.reminder_id, result.complete)
        return report

    def _remember(self, reminder_id: UUID, complete: bool) -> None:
        if len(self._complete) + len(self._due) > _KNOWN_LIMIT:
            self._complete.clear()
            self._due.clear()
        (self._complete if complete else self._due).add(reminder_id)

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="okr-reminders", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
                self.last_error = None
                if report.due or report.overdue:
                    log.info("%s", report)
            except Exception as exc:  # a failed pass is retried at the next one
                self.last_error = exc
                log.exception("reminders: a pass failed")
            self._stop.wait(self.interval)
