"""The reminder scheduler against real stores with a clock the test controls: a week without a
check-in emits one CheckInDue, a check-in stops it, two schedulers on one store emit one, the
grace period brings one CheckInOverdue; the audit view lists them; `okr remind --once`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from okr import commands as c
from okr.application import OkrApplication
from okr.cli import main
from okr.domain import RequestContext, request_context
from okr.domain.reminder import DEFAULT_SCHEDULE
from okr.reminders import PassReport, ReminderScheduler
from okr.settings import Settings
from okr.wiring import build_application
from projections.model import AuditFilter
from projections.runtime import RunnerHandle, start_runners

pytestmark = pytest.mark.integration

ORG = "rem"
MONDAY = datetime(2026, 10, 5, 7, tzinfo=UTC)  # activation; reminders Mondays 10:00 Berlin (08:00 UTC)
SLOT = datetime(2026, 10, 12, 8, tzinfo=UTC)
GRACE = timedelta(days=2)
DUE = "okr.domain.reminder:Reminder.CheckInDue"
OVERDUE = "okr.domain.reminder:Reminder.CheckInOverdue"


def do(app: OkrApplication, command: c.Command, at: datetime, user: str = "gia") -> UUID:
    with request_context(RequestContext(org_id=ORG, actor=user, clock=lambda: at)):
        return app.execute(command).id


def scenario(app: OkrApplication, key_results: int = 2) -> list[UUID]:
    """An active objective with key results, activated a week before the slot; Berlin reminders."""
    schedule = c.ConfigureReminders(
        weekday="MONDAY", hour=10, timezone="Europe/Berlin", frequency="WEEKLY", grace_days=2
    )
    do(app, schedule, MONDAY, "admin")
    cycle = do(app, c.ScheduleCycle(name="Q4", start=date(2026, 10, 1), end=date(2026, 12, 31)), MONDAY)
    do(app, c.StartCycle(cycle_id=cycle), MONDAY)
    objective = do(app, c.DraftObjective(cycle_id=cycle, title="Grow"), MONDAY)
    krs = [
        do(app, c.AddKeyResult(objective_id=objective, title=f"KR {n}", kind="NUMERIC", target=10), MONDAY)
        for n in range(key_results)
    ]
    do(app, c.ActivateObjective(objective_id=objective), MONDAY)
    return krs


def topics(app: OkrApplication, topic: str) -> list[object]:
    return [n for n in app.recorder.select_notifications(1, 1_000_000) if n.topic == topic]


@pytest.fixture
def store(store_settings: Settings) -> Iterator[tuple[OkrApplication, RunnerHandle]]:
    app = build_application(store_settings)
    runners = start_runners(store_settings, app)
    yield app, runners
    runners.stop()
    app.close()


def test_a_week_without_check_in_is_due_once_then_overdue_once_and_a_check_in_stops_it(
    store: tuple[OkrApplication, RunnerHandle],
) -> None:
    """KR 0 gets no check-in: one CheckInDue at the slot (however many passes), one CheckInOverdue
    after the grace. KR 1 is checked in after its reminder: no overdue, no reminder next week."""
    app, runners = store
    kr0, kr1 = scenario(app)
    scheduler = ReminderScheduler(app, runners.read_model)
    assert scheduler.run_once(SLOT - timedelta(minutes=1)).due == 0  # before the first slot
    first = scheduler.run_once(SLOT)
    assert (first.due, first.overdue) == (2, 0)
    for at in (SLOT, SLOT + timedelta(hours=5), SLOT + GRACE - timedelta(minutes=1)):
        again = ReminderScheduler(app, runners.read_model).run_once(at)  # a fresh one: no memory
        assert (again.due, again.overdue) == (0, 0)
    do(app, c.CheckInKeyResult(key_result_id=kr1, value=3), SLOT + timedelta(days=1), "gia")
    late = scheduler.run_once(SLOT + GRACE)
    assert (late.due, late.overdue) == (0, 1)
    assert ReminderScheduler(app, runners.read_model).run_once(SLOT + GRACE + timedelta(hours=1)).overdue == 0
    due, overdue = topics(app, DUE), topics(app, OVERDUE)
    assert len(due) == 2
    assert len(overdue) == 1
    # next week: KR 0 is due again (a new period), KR 1 (checked in on Tuesday) is not
    nxt = scheduler.run_once(SLOT + timedelta(days=7))
    assert (nxt.due, nxt.overdue) == (1, 0)
    events = [app.mapper.to_domain_event(n) for n in topics(app, DUE)]
    assert [e.key_result_id for e in events] in ([kr0, kr1, kr0], [kr1, kr0, kr0])
    last = events[-1]
    assert (last.period, last.due_since, last.last_check_in_at) == (
        SLOT + timedelta(days=7),
        MONDAY + timedelta(days=7),
        None,
    )
    assert (last.owner, last.objective_title, last.actor) == ("gia", "Grow", "okr-reminders")
    assert last.timestamp == SLOT + timedelta(days=7)  # stamped by the scheduler's clock
    # the audit view has a row per reminder event
    runners.read_model.wait_for(app.max_position(), timeout=10)
    audit = runners.read_model.audit_log(ORG, AuditFilter(aggregate_types=("Reminder",)), first=50)
    assert sorted(e.event_type for e in audit.items) == ["CheckInDue"] * 3 + ["CheckInOverdue"]


def concurrent_pass(schedulers: list[ReminderScheduler], at: datetime) -> list[PassReport]:
    """Every scheduler runs a pass at `at`, all released at once."""
    start = threading.Barrier(len(schedulers))
    reports: list[PassReport] = []

    def run(s: ReminderScheduler) -> None:
        start.wait()
        reports.append(s.run_once(at))

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return reports


def test_two_schedulers_on_one_store_emit_each_reminder_once(store_settings: Settings) -> None:
    """Two application instances (two replicas) on one store run the same pass at the same instant,
    concurrently: each due key result gets one CheckInDue and one CheckInOverdue, not two."""
    first = build_application(store_settings)
    second = build_application(store_settings)
    runners = start_runners(store_settings, first)
    try:
        scenario(first, key_results=12)
        runners.read_model.wait_for(first.max_position(), timeout=20)
        for at, expected in ((SLOT, (12, 0)), (SLOT + GRACE, (0, 12))):
            reports = concurrent_pass([ReminderScheduler(a, runners.read_model) for a in (first, second)], at)
            assert (sum(r.due for r in reports), sum(r.overdue for r in reports)) == expected
        assert len(topics(first, DUE)) == 12
        assert len(topics(first, OVERDUE)) == 12
    finally:
        runners.stop()
        second.close()
        first.close()


def test_the_store_refuses_a_second_reminder_with_the_same_id(store_settings: Settings) -> None:
    """What makes the dedupe hold however the passes interleave: two replicas build the same
    reminder (same org, key result, period) before either saves; the second save conflicts."""
    from eventsourcing.persistence import IntegrityError

    from okr.domain.reminder import Reminder

    first = build_application(store_settings)
    second = build_application(store_settings)
    kr = UUID(int=7)
    try:
        made = []
        for _ in (first, second):
            with request_context(RequestContext(org_id=ORG, actor="okr-reminders", clock=lambda: SLOT)):
                made.append(
                    Reminder(
                        key_result_id=kr,
                        objective_id=UUID(int=8),
                        owner="gia",
                        team_id=None,
                        key_result_title="KR",
                        objective_title="Grow",
                        period=SLOT,
                        due_since=SLOT,
                        last_check_in_at=None,
                        cadence_days=7,
                    )
                )
        first.save(made[0])
        with pytest.raises(IntegrityError):
            second.save(made[1])
        assert len(topics(first, DUE)) == 1
    finally:
        second.close()
        first.close()


def test_okr_remind_once_runs_one_pass_at_the_current_time(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`okr remind --once` (the worker) emits what is due now and exits 0; a second run emits nothing."""
    now = datetime.now(tz=UTC)
    app = build_application(sqlite_settings)
    with request_context(RequestContext(org_id=ORG, actor="gia", clock=lambda: now - timedelta(days=30))):
        cycle = app.execute(
            c.ScheduleCycle(name="Now", start=now.date() - timedelta(days=40), end=now.date())
        ).id
        app.execute(c.StartCycle(cycle_id=cycle))
        objective = app.execute(c.DraftObjective(cycle_id=cycle, title="Grow")).id
        app.execute(c.AddKeyResult(objective_id=objective, title="KR", kind="NUMERIC", target=10))
        app.execute(c.ActivateObjective(objective_id=objective))
    with start_runners(sqlite_settings, app) as runners:  # the views, as `okr project` keeps them
        runners.read_model.wait_for(app.max_position(), timeout=10)
    app.close()
    monkeypatch.setenv("OKR_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("OKR_ENVIRONMENT", "test")
    overdue = int(
        now >= DEFAULT_SCHEDULE.overdue_at(DEFAULT_SCHEDULE.latest_slot(now))
    )  # Mon 9:00-Wed 9:00: 0
    assert main(["remind", "--once"]) == 0
    assert f"emitted 1 CheckInDue and {overdue} CheckInOverdue" in capsys.readouterr().out
    assert main(["remind", "--once"]) == 0
    assert "emitted 0 CheckInDue and 0 CheckInOverdue" in capsys.readouterr().out
