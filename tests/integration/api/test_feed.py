"""The subscription feed (api.feed): log order, org scoping, resuming from an old position, and
writes of another process (another application on the same PostgreSQL schema) via polling."""

from __future__ import annotations

import asyncio
from datetime import date

from api.feed import EventFeed, FeedEvent
from okr import commands as cmd
from okr.application import system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application


async def _take(feed: EventFeed, org: str, after: int | None, n: int, timeout: float = 10) -> list[FeedEvent]:
    events: list[FeedEvent] = []

    async def consume() -> None:
        async for event in feed.subscribe(org, after):
            events.append(event)
            if len(events) == n:
                return

    await asyncio.wait_for(consume(), timeout)
    return events


def test_feed_sees_other_processes_writes_on_postgres(pg_settings: Settings) -> None:
    """A write by another application instance (as another API replica would) reaches subscribers."""
    reader = build_application(pg_settings)
    writer = build_application(pg_settings)

    async def scenario() -> list[FeedEvent]:
        feed = EventFeed(reader, poll_interval=0.05)
        await feed.start()
        try:
            # from the head before the writes (not "from now on" after a sleep: on a loaded machine
            # the subscription could register after the writes and wait for them forever)
            start = await asyncio.to_thread(reader.max_position)
            task = asyncio.create_task(_take(feed, "acme", start, 2))

            def write() -> None:
                with request_context(system_context("other")):
                    writer.execute(
                        cmd.ScheduleCycle(name="noise", start=date(2026, 1, 1), end=date(2026, 3, 31))
                    )
                with request_context(system_context("acme", "bob")):
                    writer.execute(cmd.CreateTeam(name="Support"))
                    writer.execute(cmd.CreateTeam(name="Growth"))

            await asyncio.to_thread(write)
            return await task
        finally:
            await feed.stop()

    try:
        events = asyncio.run(scenario())
    finally:
        reader.close()
        writer.close()
    assert [e.event_type for e in events] == ["Created", "Created"]
    assert {e.org_id for e in events} == {"acme"}
    assert [e.payload["name"] for e in events] == ["Support", "Growth"]
    assert events[0].position < events[1].position
    assert events[0].actor == "bob"


def test_feed_resumes_from_an_old_position_beyond_its_buffer(sqlite_settings: Settings) -> None:
    """`after` older than the shared buffer reads the log itself: every event once, in order."""
    app = build_application(sqlite_settings)
    with request_context(system_context("acme")):
        for i in range(30):
            app.execute(cmd.CreateTeam(name=f"team {i}"))
    middle = app.max_position() // 2

    async def scenario() -> tuple[list[FeedEvent], list[FeedEvent]]:
        feed = EventFeed(app, poll_interval=0.05, buffer_size=5, batch=7)
        await feed.start()
        try:
            replay = await _take(feed, "acme", 0, 30)
            resumed = await _take(feed, "acme", middle, 30 - middle)

            def more() -> None:
                with request_context(system_context("acme")):
                    for i in range(12):
                        app.execute(cmd.CreateTeam(name=f"late {i}"))

            live_task = asyncio.create_task(_take(feed, "acme", app.max_position(), 12))
            await asyncio.to_thread(more)
            live = await live_task
            return replay + resumed, live
        finally:
            await feed.stop()

    try:
        replayed, live = asyncio.run(scenario())
    finally:
        app.close()
    positions = [e.position for e in replayed]
    assert positions[:30] == list(range(1, 31))
    assert positions[30:] == list(range(middle + 1, 31))
    assert [e.payload["name"] for e in live] == [f"late {i}" for i in range(12)]
