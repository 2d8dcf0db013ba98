"""The relay against a real nats-server: every event once, valid, in order, filtered by subject."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from harness.calls import bound
from harness.streams import delete_stream, public_events, read_subject, relay_settings_for
from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.domain.reminder import ReminderSchedule
from okr.handlers.reminders import emit_reminder
from okr.settings import Settings
from okr.wiring import build_application
from relay.contracts import contracts
from relay.live import subscribe_live
from relay.service import RelayService

pytestmark = pytest.mark.integration

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schema" / "events"


def every_event_type(app: OkrApplication, org: str) -> None:
    """Commands that produce each of the 32 public event types at least once."""
    with request_context(system_context(org, "alice")):
        app.execute(cmd.ConfigureOrg(strict_policies=False, cadence_days=7))
        app.execute(cmd.ConfigureOrg(strict_policies=False, cadence_days=14))
        q1 = app.execute(
            cmd.ScheduleCycle(name="2026-Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
        ).id
        q2 = app.execute(
            cmd.ScheduleCycle(name="2026-Q2", start=dt.date(2026, 4, 1), end=dt.date(2026, 6, 30))
        ).id
        app.execute(cmd.StartCycle(cycle_id=q1))
        team = app.execute(cmd.CreateTeam(name="Growth")).id
        app.execute(cmd.AddTeamMember(team_id=team, user_id="bob", role="LEAD"))
        app.execute(cmd.AddTeamMember(team_id=team, user_id="carol"))
        app.execute(cmd.RemoveTeamMember(team_id=team, user_id="carol"))
        app.execute(cmd.ReviseTeam(team_id=team, name="Growth & Marketing"))
        umbrella = app.execute(cmd.CreateTeam(name="Go to market")).id
        app.execute(cmd.ReviseTeam(team_id=team, parent_team_id=umbrella))  # Team.Moved
        parent = app.execute(cmd.DraftObjective(cycle_id=q1, title="Grow revenue", team_id=team)).id
        objective = app.execute(cmd.DraftObjective(cycle_id=q1, title="More leads", team_id=team)).id
        app.execute(cmd.ReviseObjective(objective_id=objective, description="Marketing-qualified leads"))
        app.execute(cmd.ConfigureApproval(approval_required=True))  # ApprovalPolicy.Configured
        app.execute(cmd.ConfigureApproval(approval_required=False))  # .Reconfigured
        app.execute(cmd.ProposeObjective(objective_id=parent))
        app.execute(cmd.ApproveObjective(objective_id=parent))
        note = app.execute(cmd.AddComment(subject_id=parent, body="Which segment first, @bob?")).id
        app.execute(cmd.EditComment(comment_id=note, body="Which segment first?"))
        app.execute(cmd.DeleteComment(comment_id=note))
        mqls = app.execute(
            cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", start=0, target=400)
        ).id
        trials = app.execute(
            cmd.AddKeyResult(
                objective_id=objective, title="Trial to paid", kind="PERCENTAGE", start=0, target=22
            )
        ).id
        spare = app.execute(cmd.AddKeyResult(objective_id=objective, title="Spare", kind="BOOLEAN")).id
        app.execute(cmd.ReviseKeyResult(key_result_id=trials, target=25))
        app.execute(cmd.RemoveKeyResult(key_result_id=spare))
        app.execute(cmd.AlignObjective(objective_id=objective, parent_objective_id=parent))
        app.execute(cmd.ActivateObjective(objective_id=objective))
        app.execute(cmd.CheckInKeyResult(key_result_id=mqls, value=370, confidence=0.8, note="good week"))
        app.execute(cmd.ConfigureReminders(timezone="Europe/Berlin"))  # + CheckInDue and CheckInOverdue:
        later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=30)
        emit_reminder(app, ReminderSchedule(timezone="Europe/Berlin"), objective, trials, later)
        task = app.execute(cmd.CreateTask(title="Run webinar", key_result_id=mqls, impact="HIGH")).id
        app.execute(cmd.LinkTask(task_id=task, key_result_id=trials))
        app.execute(cmd.LinkTask(task_id=task, key_result_id=None))
        app.execute(cmd.AssignTask(task_id=task, assignee="bob"))
        app.execute(cmd.ReviseTask(task_id=task, title="Run two webinars"))
        app.execute(cmd.StartTask(task_id=task))
        app.execute(cmd.CompleteTask(task_id=task))
        app.execute(cmd.ReopenTask(task_id=task))
        app.execute(cmd.CancelTask(task_id=task, reason="moved"))
        app.execute(cmd.ScoreKeyResult(key_result_id=trials, score=0.5, reason="partly there"))
        app.execute(cmd.CarryOverObjective(objective_id=objective, target_cycle_id=q2))
        app.execute(cmd.CloseObjective(objective_id=objective, learnings="webinars work"))
        app.execute(
            cmd.ScoreObjective(objective_id=objective, score=0.9, reason="the webinars mattered most")
        )
        app.execute(cmd.AbandonObjective(objective_id=parent, reason="merged"))
        app.execute(cmd.CloseCycle(cycle_id=q1))


def date_time_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True  # formats apply to strings only (a nullable date-time may be null)
        if "T" not in value:
            return False
        return dt.datetime.fromisoformat(value).tzinfo is not None

    return checker


def validators() -> dict[str, Draft202012Validator]:
    checker = date_time_checker()
    result = {}
    for contract in contracts():
        schema = json.loads((SCHEMA_DIR / f"{contract.type}.json").read_text())
        Draft202012Validator.check_schema(schema)
        result[contract.type] = Draft202012Validator(schema, format_checker=checker)
    return result


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def relay_settings(store_settings: Settings, nats_url: str) -> Iterator[Settings]:
    settings = relay_settings_for(store_settings, nats_url)
    yield settings
    delete_stream(nats_url, settings.nats_stream)


@pytest.fixture
def sqlite_relay_settings(sqlite_settings: Settings, nats_url: str) -> Iterator[Settings]:
    settings = relay_settings_for(sqlite_settings, nats_url)
    yield settings
    delete_stream(nats_url, settings.nats_stream)


# --- tests -----------------------------------------------------------------------------------


def test_every_event_type_published_once_in_order_and_valid(relay_settings: Settings, org: str) -> None:
    """Each public event arrives exactly once, in log order, with its id header, valid against its schema."""
    app = build_application(relay_settings)
    relay = RelayService(relay_settings, app, batch_size=7)
    relay.start()
    try:
        every_event_type(app, org)
        assert relay.wait_for(app.max_position(), timeout=20)
    finally:
        relay.stop()
    expected = public_events(app)
    app.close()
    prefix = relay_settings.nats_subject_prefix
    messages = read_subject(
        relay_settings.nats_url or "", relay_settings.nats_stream, f"{prefix}.>", expect=len(expected)
    )
    bodies = [json.loads(m.data) for m in messages]
    assert [b["position"] for b in bodies] == [n.id for n in expected]
    assert [b["id"] for b in bodies] == [f"{n.originator_id}:{n.originator_version}" for n in expected]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [b["id"] for b in bodies]
    checks = validators()
    for message, body in zip(messages, bodies, strict=True):
        checks[body["type"]].validate(body)
        aggregate, name = body["type"].split(".")[1:3]
        assert message.subject == f"{prefix}.{org}.{aggregate}.{name}"
        assert body["orgid"] == org
        assert set(body["data"]) == set(checks[body["type"]].schema["properties"]["data"]["properties"])
    assert {b["type"] for b in bodies} == {c.type for c in contracts()}
    assert not any(m.subject.split(".")[2] in ("keyresultindex", "idempotencyrecord") for m in messages)


def test_subject_filters_per_org_and_aggregate(sqlite_relay_settings: Settings) -> None:
    """A consumer filtered on one org (or one org's aggregate) never sees another org's events."""
    settings = sqlite_relay_settings
    app = build_application(settings)
    relay = RelayService(settings, app)
    relay.start()
    orgs = [f"org-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        for org in orgs:
            with request_context(system_context(org, "alice")):
                cycle = app.execute(
                    cmd.ScheduleCycle(name="Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
                ).id
                app.execute(cmd.StartCycle(cycle_id=cycle))
                objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title=f"Objective of {org}")).id
                app.execute(cmd.CreateTask(title="Unaligned work"))
                app.execute(cmd.ReviseObjective(objective_id=objective, title="Renamed"))
        assert relay.wait_for(app.max_position(), timeout=10)
    finally:
        relay.stop()
        app.close()
    prefix, url, stream = settings.nats_subject_prefix, settings.nats_url or "", settings.nats_stream
    first, second = orgs
    of_first = read_subject(url, stream, f"{prefix}.{first}.>", expect=5)
    assert len(of_first) == 5
    assert {json.loads(m.data)["orgid"] for m in of_first} == {first}
    objectives = read_subject(url, stream, f"{prefix}.{first}.objective.>", expect=2)
    assert [json.loads(m.data)["type"] for m in objectives] == [
        "okr.objective.Drafted.v1",
        "okr.objective.Revised.v1",
    ]
    tasks = read_subject(url, stream, f"{prefix}.*.task.Created", expect=2)
    assert sorted(json.loads(m.data)["orgid"] for m in tasks) == sorted(orgs)
    assert read_subject(url, stream, f"{prefix}.{second}.cycle.>", expect=2, timeout=2)
    assert all(
        json.loads(m.data)["orgid"] == second for m in read_subject(url, stream, f"{prefix}.{second}.>")
    )


def test_restart_resumes_from_stored_position_without_republishing(
    sqlite_relay_settings: Settings, org: str
) -> None:
    """A stopped relay stores its position; the next one publishes only the new events."""
    settings = sqlite_relay_settings
    app = build_application(settings)
    with request_context(system_context(org, "alice")):
        for i in range(5):
            app.execute(cmd.CreateTeam(name=f"Team {i}"))
    first = RelayService(settings, app)
    assert asyncio.run(first.run_async(once=True)) == 0
    assert first.published == 5
    with request_context(system_context(org, "alice")):
        app.execute(cmd.CreateTeam(name="Late team"))
    second = RelayService(settings, app)
    assert asyncio.run(second.run_async(once=True)) == 0
    assert (second.published, second.duplicates) == (1, 0)
    assert second.position == app.max_position()
    app.close()
    messages = read_subject(settings.nats_url or "", settings.nats_stream, ">", expect=6)
    assert len(messages) == 6


def test_once_reports_failure_when_nats_is_unreachable(sqlite_settings: Settings, org: str) -> None:
    """With no NATS server, `--once` exits 1, stores nothing, and commands still succeed."""
    from harness.servers import free_port

    settings = sqlite_settings.model_copy(update={"nats_url": f"nats://127.0.0.1:{free_port()}"})
    app = build_application(settings)
    with request_context(system_context(org, "alice")):
        app.execute(cmd.CreateTeam(name="Still works"))
    relay = RelayService(settings, app)
    assert asyncio.run(relay.run_async(once=True)) == 1
    assert relay.position == 0
    assert relay.lag().positions == app.max_position() == 1
    app.close()


async def wait_for_consumer(settings: Settings, timeout: float = 10.0) -> None:
    """Until the stream has a consumer (the live subscription is in place)."""
    nc = await nats.connect(settings.nats_url or "")
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        while (await js.stream_info(settings.nats_stream)).state.consumer_count < 1:
            assert asyncio.get_running_loop().time() < deadline, "no consumer appeared"
            await asyncio.sleep(0.02)
    finally:
        await nc.close()


def test_subscribe_live_yields_new_events_of_one_org(sqlite_relay_settings: Settings) -> None:
    """The live helper streams one org's new events (ordered consumer) and nothing of other orgs."""
    settings = sqlite_relay_settings
    mine, other = (f"org-{uuid.uuid4().hex[:8]}" for _ in range(2))
    app = build_application(settings)
    relay = RelayService(settings, app)
    relay.start()

    async def scenario() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        live = subscribe_live(
            settings.nats_url or "", mine, stream=settings.nats_stream, prefix=settings.nats_subject_prefix
        )

        async def collect() -> None:
            async for event in live:
                received.append(event)
                if len(received) == 2:
                    return

        with request_context(system_context(mine, "alice")):
            await asyncio.to_thread(bound(app, cmd.CreateTeam), name="Before subscribing")
        assert relay.wait_for(app.max_position(), 10)
        task = asyncio.create_task(collect())
        await wait_for_consumer(settings)
        for org in (other, mine, other, mine):
            with request_context(system_context(org, "alice")):
                await asyncio.to_thread(bound(app, cmd.CreateTeam), name=f"Team of {org}")
        await asyncio.wait_for(task, 10)
        await live.aclose()
        return received

    try:
        received = asyncio.run(scenario())
    finally:
        relay.stop()
        app.close()
    assert [e["orgid"] for e in received] == [mine, mine]
    assert [e["data"]["name"] for e in received] == [f"Team of {mine}"] * 2
    assert received[0]["position"] < received[1]["position"]


def test_stream_is_created_from_settings_and_updated_when_they_change(
    sqlite_relay_settings: Settings,
) -> None:
    """The relay creates the stream with the configured limits and updates it idempotently."""
    settings = sqlite_relay_settings.model_copy(
        update={"nats_stream_max_age_days": 30.0, "nats_duplicate_window_s": 90.0}
    )

    async def config() -> Any:
        nc = await nats.connect(settings.nats_url or "")
        try:
            return (await nc.jetstream().stream_info(settings.nats_stream)).config
        finally:
            await nc.close()

    app = build_application(settings)
    assert asyncio.run(RelayService(settings, app).run_async(once=True)) == 0
    created = asyncio.run(config())
    assert created.subjects == [f"{settings.nats_subject_prefix}.>"]
    assert (created.max_age, created.duplicate_window, created.num_replicas) == (30 * 86_400.0, 90.0, 1)
    assert created.retention == "limits"
    changed = settings.model_copy(update={"nats_duplicate_window_s": 45.0})
    assert asyncio.run(RelayService(changed, app).run_async(once=True)) == 0
    assert asyncio.run(config()).duplicate_window == 45.0
    app.close()
