"""`okr demo` shows check-in reminders: the scheduler runs at the demo's instants (a clock the
test fixes mid-quarter), so the demo org has CheckInDue and CheckInOverdue events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

import pytest

import api.demo
from api.demo import load_demo, quarter_start
from okr.settings import Settings
from okr.wiring import build_application

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # seven weeks into 2026-Q4


class FixedClock:
    """Stands in for `datetime` in api.demo: now() is NOW, the rest is datetime's."""

    combine = staticmethod(datetime.combine)

    @staticmethod
    def now(tz: tzinfo | None = None) -> datetime:
        return NOW.astimezone(tz) if tz is not None else NOW.replace(tzinfo=None)


def test_the_demo_emits_due_and_overdue_reminders_at_its_instants(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A week into the cycle (its weekday, 10:00 UTC) the key results without a check-in get a
    CheckInDue, two days later a CheckInOverdue; the one checked in during week one gets neither."""
    monkeypatch.setattr(api.demo, "datetime", FixedClock)
    app = build_application(sqlite_settings)
    try:
        ids = load_demo(app, "demo")
        events = [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(1, 1_000_000)
            if n.topic.startswith("okr.domain.reminder:")
        ]
    finally:
        app.close()
    slot = datetime.combine(quarter_start(NOW.date()), datetime.min.time(), tzinfo=UTC) + timedelta(
        days=7, hours=10
    )
    due = [e for e in events if type(e).__name__ == "CheckInDue"]
    overdue = [e for e in events if type(e).__name__ == "CheckInOverdue"]
    assert due
    assert overdue
    assert {e.timestamp for e in due} == {slot}
    assert {e.timestamp for e in overdue} == {slot + timedelta(days=2)}
    assert ids["reminders"] == f"{len(due)} due, {len(overdue)} overdue"
    titles = {e.key_result_title for e in due}
    assert "German-speaking paying customers" in titles  # not checked in during week one
    assert "MQLs" not in titles  # checked in weekly
