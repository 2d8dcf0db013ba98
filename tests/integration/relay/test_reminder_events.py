"""Check-in reminders reach NATS: a notification service's consumer filtered on
`<prefix>.<org>.reminder.>` receives CheckInDue and CheckInOverdue, valid against their
contracts, and nothing else of the org."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from harness.streams import delete_stream, read_subject, relay_settings_for
from okr import commands as c
from okr.domain import RequestContext, request_context
from okr.reminders import ReminderScheduler
from okr.settings import Settings
from okr.wiring import build_application
from projections.runtime import start_runners
from relay.service import RelayService

pytestmark = pytest.mark.integration

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schema" / "events"
ACTIVATED = datetime(2026, 10, 5, 7, tzinfo=UTC)
SLOT = datetime(2026, 10, 12, 9, tzinfo=UTC)  # the default schedule: Mondays 09:00 UTC, 2 grace days


@pytest.fixture
def settings(sqlite_settings: Settings, nats_url: str) -> Iterator[Settings]:
    value = relay_settings_for(sqlite_settings, nats_url)
    yield value
    delete_stream(nats_url, value.nats_stream)


def test_a_consumer_of_the_reminder_subjects_gets_the_reminders_and_nothing_else(
    settings: Settings, org: str
) -> None:
    """Two key results a week without a check-in: two CheckInDue, then one CheckInOverdue (the
    other was checked in) on `<prefix>.<org>.reminder.<Event>`, each valid against its schema."""
    app = build_application(settings)

    def do(command: c.Command, at: datetime) -> object:
        with request_context(RequestContext(org_id=org, actor="gia", clock=lambda: at)):
            return app.execute(command).id

    cycle = do(c.ScheduleCycle(name="Q4", start=date(2026, 10, 1), end=date(2026, 12, 31)), ACTIVATED)
    do(c.StartCycle(cycle_id=cycle), ACTIVATED)
    objective = do(c.DraftObjective(cycle_id=cycle, title="Grow"), ACTIVATED)
    kr = do(c.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", target=400), ACTIVATED)
    other = do(c.AddKeyResult(objective_id=objective, title="Demos", kind="NUMERIC", target=40), ACTIVATED)
    do(c.ActivateObjective(objective_id=objective), ACTIVATED)
    with start_runners(settings, app) as runners:
        scheduler = ReminderScheduler(app, runners.read_model)
        assert scheduler.run_once(SLOT).due == 2
        do(c.CheckInKeyResult(key_result_id=other, value=12), SLOT + timedelta(hours=3))
        assert scheduler.run_once(SLOT + timedelta(days=2)).overdue == 1
    assert asyncio.run(RelayService(settings, app).run_async(once=True)) == 0
    app.close()

    prefix = settings.nats_subject_prefix
    messages = read_subject(
        settings.nats_url or "", settings.nats_stream, f"{prefix}.{org}.reminder.>", expect=3
    )
    assert [m.subject for m in messages] == [
        f"{prefix}.{org}.reminder.CheckInDue",
        f"{prefix}.{org}.reminder.CheckInDue",
        f"{prefix}.{org}.reminder.CheckInOverdue",
    ]
    bodies = [json.loads(m.data) for m in messages]
    for body in bodies:
        schema = json.loads((SCHEMA_DIR / f"{body['type']}.json").read_text())
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(body)
        assert body["orgid"] == org
        assert body["actor"] == "okr-reminders"
    overdue = bodies[-1]["data"]
    assert (overdue["key_result_id"], overdue["owner"], overdue["grace_days"]) == (str(kr), "gia", 2)
    assert {b["data"]["key_result_id"] for b in bodies[:2]} == {str(kr), str(other)}
    assert bodies[0]["data"]["period"].startswith("2026-10-12T09:00:00")
    # the whole org's stream holds more (cycle, objective, check-in ...): the filter kept only these
    everything = read_subject(settings.nats_url or "", settings.nats_stream, f"{prefix}.{org}.>", expect=9)
    assert len(everything) > len(messages)
