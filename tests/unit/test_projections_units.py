"""Projection functions and read-time figures, on the in-memory log and an in-memory SQLite."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from okr.application import OkrApplication, system_context
from okr.domain import request_context
from projections._db import Database
from projections.model import MAX_PAGE, InvalidCursorError
from projections.queries import Queries, decode_cursor, encode_cursor, page_size
from projections.runner import FastDecoder, Projector, ensure_schema, read_positions
from projections.views import VIEW_NAMES, from_micros, make_views, to_micros

AT = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory_db() -> Iterator[Database]:
    db = Database(sqlite_path=":memory:")
    ensure_schema(db, make_views())
    yield db
    db.close()


def project(app: OkrApplication, db: Database) -> Projector:
    projector = Projector(db, app, make_views())
    while projector.process(7):  # small batches: several transactions, same result
        pass
    return projector


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_micros_round_trip_is_exact(ts: datetime) -> None:
    """Times are stored as integer microseconds and read back unchanged."""
    assert from_micros(to_micros(ts)) == ts


@given(st.sampled_from("octa"), st.integers(0, 2**62))
def test_cursor_round_trip(kind: str, value: int) -> None:
    """Cursors are opaque and decode to the sort key they were made from."""
    cursor = encode_cursor(kind, value)
    assert str(value) not in cursor
    assert decode_cursor(kind, cursor) == value


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm9wZQ", encode_cursor("t", 5), "x" * 100, encode_cursor("o", 1)[:-1]]
)
def test_invalid_cursors_are_refused(cursor: str) -> None:
    """Garbage, truncated, oversized or other lists' cursors raise InvalidCursorError."""
    with pytest.raises(InvalidCursorError):
        decode_cursor("o", cursor)


def test_page_size_is_capped_and_checked() -> None:
    """first is capped at MAX_PAGE; negative or non-integer sizes are refused."""
    assert page_size(1000) == MAX_PAGE
    assert page_size(0) == 0
    for bad in (-1, True, 2.5):
        with pytest.raises(ValueError, match="first"):
            page_size(bad)  # type: ignore[arg-type]


def test_unknown_view_names_are_refused() -> None:
    """make_views names the valid choices when given an unknown one."""
    assert [v.name for v in make_views()] == list(VIEW_NAMES)
    with pytest.raises(ValueError, match="progress, checkins, alignment, audit"):
        make_views(["progress", "bogus"])


def test_rollup_per_driver_and_task_progress(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """ALIGNED_OBJECTIVES / BOTH roll up ACTIVE children aligned to the objective or its KRs."""
    with request_context(system_context(org, "alice")):
        c = memory_app.schedule_cycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)).id
        parent = memory_app.draft_objective(cycle_id=c, title="Parent", driver="ALIGNED_OBJECTIVES").id
        pkr = memory_app.add_key_result(parent, title="p", kind="NUMERIC", start=0, target=10).id
        a = memory_app.draft_objective(cycle_id=c, title="A", weight=3).id
        akr = memory_app.add_key_result(a, title="a", kind="NUMERIC", start=0, target=100).id
        b = memory_app.draft_objective(cycle_id=c, title="B").id
        bkr = memory_app.add_key_result(b, title="b", kind="BOOLEAN", source="TASKS").id
        draft = memory_app.draft_objective(cycle_id=c, title="Draft child").id
        memory_app.add_key_result(draft, title="d", kind="BOOLEAN")
        for o in (parent, a, b):
            memory_app.activate_objective(o)
        memory_app.align_objective(a, parent_objective_id=parent)
        memory_app.align_objective(b, parent_key_result_id=pkr)
        memory_app.align_objective(draft, parent_objective_id=parent)
        memory_app.check_in(akr, value=50)
        memory_app.check_in(pkr, value=10)
        done = memory_app.create_task(title="done", key_result_id=bkr, impact="MEDIUM").id
        memory_app.create_task(title="open", key_result_id=bkr, impact="HIGH")
        cancelled = memory_app.create_task(title="cancelled", key_result_id=bkr, impact="HIGH").id
        memory_app.complete_task(done)
        memory_app.cancel_task(cancelled)
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        b_view = q.objective_view(str(b))
        assert b_view is not None
        assert b_view.progress == pytest.approx(2 / (2 + 3))  # MEDIUM done / (MEDIUM + HIGH); cancelled out
        assert (b_view.key_results[0].tasks_total, b_view.key_results[0].tasks_done) == (2, 1)
        p_view = q.objective_view(str(parent))
        assert p_view is not None
        # children A (0.5, weight 3) and B (0.4, weight 1); the DRAFT child and the own KR do not count
        assert p_view.progress == pytest.approx((0.5 * 3 + 0.4 * 1) / 4)
        assert p_view.warnings == []
    with request_context(system_context(org, "alice")):
        memory_app.revise_objective(parent, driver="BOTH")
        memory_app.remove_key_result(pkr)
    projector = project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        p_view = q.objective_view(str(parent))
        assert p_view is not None
        assert p_view.key_results == []
        assert p_view.progress == pytest.approx(0.5)  # B was aligned to the removed KR: only A counts
        assert any(w.startswith("KEY_RESULT_COUNT") for w in p_view.warnings)
        positions = read_positions(tx, list(VIEW_NAMES))
    top = memory_app.max_position()
    assert positions == dict.fromkeys(VIEW_NAMES, (top, top))
    assert projector.position == top


def test_status_and_outdated_depend_on_the_instant(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """The same stored row reads ON_TRACK early, OFF_TRACK late, and outdated after its cadence."""
    with request_context(system_context(org, "alice")):
        c = memory_app.schedule_cycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)).id
        o = memory_app.draft_objective(cycle_id=c, title="O").id
        kr = memory_app.add_key_result(o, title="k", kind="NUMERIC", start=0, target=100, cadence_days=7).id
        memory_app.activate_objective(o)
        memory_app.check_in(kr, value=20, confidence=0.9)
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        checked_at = Queries(tx, org, AT).key_result(kr)
        assert checked_at is not None
        assert checked_at.last_check_in_at is not None
        early = Queries(tx, org, datetime(2026, 1, 10, tzinfo=UTC)).key_result(kr)
        late = Queries(tx, org, datetime(2026, 3, 20, tzinfo=UTC)).key_result(kr)
        stale = Queries(tx, org, checked_at.last_check_in_at + timedelta(days=7, seconds=1)).key_result(kr)
        fresh = Queries(tx, org, checked_at.last_check_in_at + timedelta(days=6)).key_result(kr)
    assert early is not None
    assert late is not None
    assert stale is not None
    assert fresh is not None
    assert early.status == "ON_TRACK"
    assert late.status == "OFF_TRACK"
    assert stale.outdated
    assert not fresh.outdated
    assert late.grade is None
    assert late.score is None


def test_internal_bookkeeping_is_not_audited(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """KeyResultIndex and IdempotencyRecord events advance positions but never reach the views."""
    with request_context(system_context(org, "alice")):
        c = memory_app.schedule_cycle(
            name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31), idempotency_key="k1"
        ).id
        o = memory_app.draft_objective(cycle_id=c, title="O").id
        memory_app.add_key_result(o, title="k", kind="BOOLEAN")
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        types = [r[0] for r in tx.fetchall("SELECT event_type FROM proj_audit ORDER BY position")]
    assert types == ["Cycle.Scheduled", "Objective.Drafted", "Objective.KeyResultAdded"]
    assert memory_app.max_position() == 5


class Gadget(Aggregate):
    """A test aggregate whose event has been upcast once (class_version 2)."""

    class Renamed(Aggregate.Event):
        class_version = 2
        name: str
        colour: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["colour"] = "red"


def _notification(topic: str, state: bytes) -> Notification:
    return Notification(id=1, originator_id=uuid4(), originator_version=3, topic=topic, state=state)


def test_fast_decoder_builds_the_mappers_events(memory_app: OkrApplication, org: str) -> None:
    """The rebuild's decoder gives, for every stored event, the mapper's event (type, fields, order)."""
    with request_context(system_context(org, "alice")):
        c = memory_app.schedule_cycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)).id
        o = memory_app.draft_objective(cycle_id=c, title="O", weight=2.5).id
        kr = memory_app.add_key_result(o, title="k", kind="NUMERIC", start=0, target=10).id
        memory_app.activate_objective(o)
        t = memory_app.create_task(title="t", key_result_id=kr).id
        memory_app.complete_task(t, value=4.0)
        memory_app.revise_key_result(kr, title="k2")
    decoder = FastDecoder(memory_app.mapper)
    assert decoder.supported
    notifications = memory_app.recorder.select_notifications(1, 1000)
    assert len(notifications) > 8
    for n in notifications:
        expected, fast = memory_app.mapper.to_domain_event(n), decoder.decode(n)
        assert type(fast) is type(expected)
        assert list(fast.__dict__.items()) == list(expected.__dict__.items())
        assert [type(v) for v in fast.__dict__.values()] == [type(v) for v in expected.__dict__.values()]


def test_fast_decoder_leaves_upcasting_and_odd_json_to_the_mapper(memory_app: OkrApplication) -> None:
    """A class_version 2 event is upcast exactly as the mapper does; NaN (not JSON for orjson) decodes too."""
    decoder = FastDecoder(memory_app.mapper)
    ts = b'{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"}'
    old = _notification(get_topic(Gadget.Renamed), b'{"timestamp":' + ts + b',"name":"x"}')
    event = decoder.decode(old)
    assert event.colour == "red"
    assert event.__dict__ == memory_app.mapper.to_domain_event(old).__dict__
    odd = _notification(get_topic(Gadget.Renamed), b'{"timestamp":' + ts + b',"name":NaN,"colour":"b"}')
    assert math.isnan(decoder.decode(odd).name)
