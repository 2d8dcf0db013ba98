"""Check-in reminders end to end: `okr serve` with OKR_REMINDERS emits them in-process and a
WebSocket subscriber sees them; `configureReminders` over HTTP (validation, idempotency); the
README's reminder examples run as written against the demo org."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest

import api.demo
from api.app import create_app
from api.demo import load_demo
from harness.apiserver import SECRET, Client, Subscription, ThreadedServer, server_process, token
from okr import commands as c
from okr.domain import RequestContext, request_context
from okr.settings import Settings
from okr.wiring import build_application

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # the demo's clock in the README test


def _stale_key_result(data: Path, org: str) -> None:
    """An objective activated 30 days ago whose key result never had a check-in."""
    now = datetime.now(tz=UTC)
    app = build_application(Settings(data_dir=data))
    ctx = RequestContext(org_id=org, actor="gia", clock=lambda: now - timedelta(days=30))
    with request_context(ctx):
        cycle = app.execute(
            c.ScheduleCycle(name="Now", start=now.date() - timedelta(days=40), end=now.date())
        ).id
        app.execute(c.StartCycle(cycle_id=cycle))
        objective = app.execute(c.DraftObjective(cycle_id=cycle, title="Grow")).id
        app.execute(c.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", target=400))
        app.execute(c.ActivateObjective(objective_id=objective))
    app.close()


@pytest.fixture(scope="module")
def reminding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("reminders") / "data"
    _stale_key_result(data, "remind")
    with server_process(data, OKR_REMINDERS="true", OKR_REMINDER_INTERVAL_S="1") as url:
        yield url, "remind"


def test_okr_serve_emits_due_reminders_in_process_and_subscribers_see_them(
    reminding_server: tuple[str, str],
) -> None:
    """The in-process scheduler (OKR_REMINDERS=true) appends CheckInDue for the stale key result;
    the events subscription delivers it; gia's dueCheckIns lists the key result."""
    url, org = reminding_server
    query = (
        'subscription { events(afterPosition: 0, filter: {eventTypes: ["CheckInDue"]})'
        " { aggregateType eventType actor payload } }"
    )
    with Subscription(url, token(org, user="gia"), query) as events:
        event = events.next(timeout=30)["events"]
    assert (event["aggregateType"], event["eventType"], event["actor"]) == (
        "Reminder",
        "CheckInDue",
        "okr-reminders",
    )
    assert (event["payload"]["key_result_title"], event["payload"]["owner"]) == ("MQLs", "gia")
    client = Client(url, token(org, user="gia", roles=("member",)))
    due = client.q("{ dueCheckIns(first: 5) { totalCount nodes { keyResultTitle lastCheckInAt } } }")[
        "dueCheckIns"
    ]
    assert due == {"totalCount": 1, "nodes": [{"keyResultTitle": "MQLs", "lastCheckInAt": None}]}
    other = Client(url, token(org, user="leo", roles=("member",)))
    assert other.q("{ dueCheckIns(first: 5) { totalCount } }")["dueCheckIns"]["totalCount"] == 0  # not leo's
    client.close()
    other.close()


def configure(client: Client, input: dict[str, object]) -> dict[str, Any]:
    query = (
        "mutation($input: ConfigureRemindersInput!) { configureReminders(input: $input)"
        " { position replayed errors { code message field } } }"
    )
    payload: dict[str, Any] = client.q(query, {"input": input})["configureReminders"]
    return payload


def test_configure_reminders_validates_and_is_idempotent(reminding_server: tuple[str, str]) -> None:
    """An unknown time zone is INVALID_INPUT on `timezone` and writes nothing; an admin's valid
    schedule is written once per idempotency key; a lead may not set it."""
    url, org = reminding_server
    admin = Client(url, token(org))
    bad = configure(admin, {"timezone": "Mars/Olympus_Mons"})
    assert bad["errors"][0]["code"] == "INVALID_INPUT"
    assert bad["errors"][0]["field"] == "timezone"
    schedule = {
        "weekday": "TUESDAY",
        "hour": 8,
        "timezone": "Europe/Berlin",
        "frequency": "MONTHLY",
        "graceDays": 5,
    }
    first = configure(admin, {**schedule, "idempotencyKey": "rem-1"})
    again = configure(admin, {**schedule, "idempotencyKey": "rem-1"})
    assert first["errors"] == []
    assert (again["position"], again["replayed"]) == (first["position"], True)
    lead = Client(url, token(org, user="gia", roles=("lead",)))
    assert configure(lead, schedule)["errors"][0]["code"] == "FORBIDDEN"
    audit = admin.q(
        '{ auditLog(filter: {eventTypes: ["RemindersConfigured"]}, first: 5) { nodes { actor payload } } }',
        **{"X-Consistent-With": str(first["position"])},
    )["auditLog"]["nodes"]
    assert audit == [
        {
            "actor": "alice",
            "payload": {**{k: v for k, v in schedule.items() if k != "graceDays"}, "grace_days": 5},
        }
    ]
    admin.close()
    lead.close()


class FixedClock:
    """Stands in for `datetime` in api.demo: now() is NOW, the rest is datetime's."""

    combine = staticmethod(datetime.combine)

    @staticmethod
    def now(tz: tzinfo | None = None) -> datetime:
        return NOW.astimezone(tz) if tz is not None else NOW.replace(tzinfo=None)


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Check-in reminders")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0)
    return text[start:end]


def test_readme_reminder_examples_run_against_the_demo_org(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pasted mutation sets the demo org's schedule; the pasted dueCheckIns lists gia's due
    key results (the demo and the server share one clock, mid-quarter)."""
    mutation, query = re.findall(r"```graphql\n(.*?)```", _section(), re.S)
    monkeypatch.setattr(api.demo, "datetime", FixedClock)
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test")
    app = build_application(settings)
    load_demo(app, "demo")
    loaded = app.max_position()
    app.close()
    fastapi_app = create_app(settings)
    with ThreadedServer(fastapi_app) as server:
        fastapi_app.state.services.read_model.clock = lambda: NOW
        admin = Client(server.url, token("demo", user="admin", roles=("admin",)))
        result = admin.q(mutation)["configureReminders"]
        assert result["errors"] == []
        gia = Client(server.url, token("demo", user="gia", roles=("lead",)))
        data = gia.q(query, None, **{"X-Consistent-With": str(max(loaded, result["position"]))})[
            "dueCheckIns"
        ]
        titles = {n["keyResultTitle"] for n in data["nodes"]}
        assert "Reseller agreement signed" in titles  # gia's team's, never checked in
        assert "MQLs" not in titles  # checked in every week
        assert data["totalCount"] == len(data["nodes"])
        assert all(n["overdue"] for n in data["nodes"])  # a week and more without a check-in
        assert json.dumps(data)  # plain JSON, as pasted
        admin.close()
        gia.close()
