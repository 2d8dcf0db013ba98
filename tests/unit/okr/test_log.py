"""The one log follower (okr.log): pages, internal events, gaps, and the envelope the relay and
the live feed share (no I/O: in-memory stores, the feed on its own event loop, no NATS)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from api.feed import EventFeed
from okr import commands as cmd
from okr import log as event_log
from okr.application import OkrApplication, system_context
from okr.domain import INTERNAL_TOPIC_PREFIX, request_context
from okr.log import LogEvent
from okr.settings import Settings
from relay.contracts import contracts
from relay.service import RelayService

ORG = "acme"


def _write(app: OkrApplication) -> None:
    """A cycle, an objective with two key results (each also writes an internal index event),
    check-ins and a task: every kind of payload value (ids, dates, floats, text, None)."""
    with request_context(system_context(ORG, "alice")):
        cycle = app.execute(
            cmd.ScheduleCycle(name="Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
        ).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
        krs = [
            app.execute(
                cmd.AddKeyResult(objective_id=objective, title=t, kind="NUMERIC", start=0, target=400)
            ).id
            for t in ("MQLs", "SQLs")
        ]
        app.execute(cmd.ActivateObjective(objective_id=objective))
        for value in (100, 250, 370):
            app.execute(cmd.CheckInKeyResult(key_result_id=krs[0], value=value, confidence=0.7, note="ok"))
        app.execute(cmd.CreateTask(title="Webinar", key_result_id=krs[1]))


def _follow(app: OkrApplication, limit: int) -> list[LogEvent]:
    """Every event, page by page, as a follower reads them."""
    events: list[LogEvent] = []
    after = 0
    while True:
        page, last = event_log.read(app, after, limit)
        assert last >= after
        if last == after:
            return events
        events.extend(page)
        after = last


def test_follower_skips_internal_events_and_reads_every_public_one_once(memory_app: OkrApplication) -> None:
    """Internal topics never reach a follower; any page size yields each public event once, in order."""
    _write(memory_app)
    notifications = memory_app.recorder.select_notifications(1, 1000)
    internal = [n.id for n in notifications if n.topic.startswith(INTERNAL_TOPIC_PREFIX)]
    public = [n.id for n in notifications if not n.topic.startswith(INTERNAL_TOPIC_PREFIX)]
    assert internal and public
    for limit in (1, 2, 3, 1000):
        assert [e.position for e in _follow(memory_app, limit)] == public, limit
    # a page of only internal events still moves the follower past them
    first_internal = internal[0]
    page, last = event_log.read(memory_app, first_internal - 1, 1)
    assert page == [] and last == first_internal


def test_follower_steps_over_a_missing_position() -> None:
    """A position that is not in the log (a rolled-back append spends its id on PostgreSQL) is
    stepped over: nothing is read twice or lost, and a page ending at the gap still advances."""
    app = OkrApplication({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"})
    try:
        _write(app)
        before = [e.position for e in _follow(app, 1000)]
        missing = next(p for p in before[len(before) // 2 :] if p + 1 in before)
        recorder: Any = app.recorder
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {recorder.events_table_name} WHERE rowid = ?", (missing,))
        expected = [p for p in before if p != missing]
        for limit in (1, 2, 5, 1000):
            assert [e.position for e in _follow(app, limit)] == expected, limit
        page, last = event_log.read(app, missing - 1, 1)
        assert last == missing + 1 and [e.position for e in page] == [last]
    finally:
        app.close()


def _relay_bodies(app: OkrApplication, tmp_path: Path) -> dict[int, dict[str, Any]]:
    """What the relay would publish (its own read of the log, nothing sent: no NATS here)."""
    settings = Settings(environment="test", data_dir=tmp_path, nats_url="nats://127.0.0.1:1")
    relay = RelayService(settings, app, batch_size=1000)
    batch = relay._read_batch(0)
    assert batch is not None
    return {m.position: json.loads(m.body) for m in batch.messages}


def _feed_events(app: OkrApplication, count: int) -> list[LogEvent]:
    """What the live feed yields to a subscriber replaying the org from the start."""

    async def take() -> list[LogEvent]:
        feed = EventFeed(app)
        await feed.start()
        try:
            got: list[LogEvent] = []
            async for e in feed.subscribe(ORG, after=0):
                got.append(e)
                if len(got) == count:
                    return got
            return got
        finally:
            await feed.stop()

    return asyncio.run(asyncio.wait_for(take(), 10))


def test_relay_and_feed_show_the_follower_envelope(memory_app: OkrApplication, tmp_path: Path) -> None:
    """For the same event, the feed yields exactly the follower's LogEvent, and the relay's
    CloudEvent carries the same position, org, aggregate, version, type, time, audit fields and
    payload."""
    _write(memory_app)
    events = _follow(memory_app, 1000)
    assert {e.event_type for e in events} >= {"Scheduled", "KeyResultCheckedIn", "Created"}
    assert _feed_events(memory_app, len(events)) == events
    bodies = _relay_bodies(memory_app, tmp_path)
    assert sorted(bodies) == [e.position for e in events]
    by_class = {c.event_class.__qualname__: c for c in contracts()}
    for e in events:
        body = bodies[e.position]
        contract = by_class[e.qualified_type]
        assert body["type"] == f"okr.{contract.aggregate}.{e.event_type}.v1"
        assert contract.aggregate == e.aggregate_type.lower()
        assert body["id"] == f"{e.aggregate_id}:{e.version}"
        assert body["subject"] == f"{e.aggregate_type.lower()}/{e.aggregate_id}"
        assert (body["orgid"], body["source"]) == (e.org_id, f"urn:okr:{e.org_id}") == (ORG, f"urn:okr:{ORG}")
        assert (body["aggregateid"], body["aggregateversion"]) == (str(e.aggregate_id), e.version)
        assert dt.datetime.fromisoformat(body["time"]) == e.at
        assert (body["actor"], body["correlationid"], body["causationid"]) == (
            e.actor,
            e.correlation_id,
            e.causation_id,
        )
        assert body["data"] == e.payload
    check_in = next(e for e in events if e.event_type == "KeyResultCheckedIn")
    assert check_in.payload["value"] == 100 and isinstance(check_in.payload["key_result_id"], str)


def test_envelope_of_a_decoded_event_equals_the_followers(memory_app: OkrApplication) -> None:
    """`envelope(mapper.to_domain_event(n))` (the stdlib decoder) gives what `read` (orjson) gives."""
    _write(memory_app)
    by_position = {e.position: e for e in _follow(memory_app, 1000)}
    for n in memory_app.recorder.select_notifications(1, 1000):
        if n.id in by_position:
            assert event_log.envelope(memory_app.mapper.to_domain_event(n), n.id) == by_position[n.id]
