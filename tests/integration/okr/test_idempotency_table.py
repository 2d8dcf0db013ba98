"""Idempotency results live in a table of their own (okr_idempotency), written in the same
transaction as the events: nothing of them is in the event log, a crash between the two cannot
happen, and two concurrent requests with the same key write once — on both stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from okr import commands as cmd
from okr.application import CommandResult, OkrApplication
from okr.domain import INTERNAL_TOPIC_PREFIX, RequestContext, request_context
from okr.domain.internal import IdempotencyRecord
from okr.idempotency import IdempotencyRecorder
from okr.settings import Settings
from okr.wiring import build_application

pytestmark = pytest.mark.integration


@pytest.fixture
def app(store_settings: Settings) -> Iterator[OkrApplication]:
    application = build_application(store_settings)
    yield application
    application.close()


def _topics(app: OkrApplication) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def test_a_key_is_recorded_beside_the_events_not_in_the_log(app: OkrApplication, ctx: RequestContext) -> None:
    """The first result is in okr_idempotency (with the write's position); the log holds only
    the command's own events, so no consumer reads or skips a bookkeeping row."""
    with request_context(ctx):
        first = app.execute(cmd.CreateTeam(name="Sales"), idempotency_key="team-1")
        again = app.execute(cmd.CreateTeam(name="Sales"), idempotency_key="team-1")
    assert again.replayed and (again.id, again.position) == (first.id, first.position)
    assert not [t for t in _topics(app) if t.startswith(INTERNAL_TOPIC_PREFIX)]
    assert app.max_position() == first.position == 1
    recorder = app.recorder
    assert isinstance(recorder, IdempotencyRecorder)
    entry = recorder.idempotency_entry(IdempotencyRecord.id_for(ctx.org_id, ctx.actor, "team-1"))
    assert entry is not None and entry.command == "create_team" and entry.position == first.position
    assert entry.result["id"] == str(first.id)


def test_a_refused_command_records_no_key(app: OkrApplication, ctx: RequestContext) -> None:
    """Nothing written means nothing remembered: the same key may then carry a valid request."""
    from okr.domain.errors import DomainError

    with request_context(ctx), pytest.raises(DomainError):
        app.execute(cmd.CreateTeam(name=""), idempotency_key="team-2")
    with request_context(ctx):
        ok = app.execute(cmd.CreateTeam(name="Support"), idempotency_key="team-2")
    assert not ok.replayed and app.max_position() == 1


def test_concurrent_requests_with_one_key_write_once(store_settings: Settings, ctx: RequestContext) -> None:
    """Two applications (as two processes would) race on one key for a command whose events
    cannot conflict (each creates a new team): the key's primary key lets only one append."""
    apps = [build_application(store_settings) for _ in range(2)]
    results: list[CommandResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def send(application: OkrApplication) -> None:
        try:
            with request_context(ctx):
                barrier.wait()
                results.append(application.execute(cmd.CreateTeam(name="Growth"), idempotency_key="race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert len(results) == 2 and results[0].id == results[1].id
        assert sorted(r.replayed for r in results) == [False, True]
        assert apps[0].max_position() == 1  # one team, one event
    finally:
        for a in apps:
            a.close()
