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

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.log import FastDecoder
from projections._db import Database
from projections.model import MAX_PAGE, InvalidCursorError
from projections.queries import Queries, decode_cursor, encode_cursor, page_size
from projections.runner import Projector, ensure_schema, read_positions
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


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("o", 10**19),  # overflowed SQLite's INTEGER and PostgreSQL's bigint: a 500
        encode_cursor("o", 10**40),
    ],
    ids=["19-digits", "40-digits"],
)
def test_cursors_beyond_64_bits_are_invalid(cursor: str) -> None:
    """A forged cursor whose number cannot be a stored position is an InvalidCursorError."""
    with pytest.raises(InvalidCursorError):
        decode_cursor("o", cursor)
    assert decode_cursor("o", encode_cursor("o", 2**62)) == 2**62


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
        c = memory_app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        memory_app.execute(cmd.StartCycle(cycle_id=c))
        parent = memory_app.execute(
            cmd.DraftObjective(cycle_id=c, title="Parent", driver="ALIGNED_OBJECTIVES")
        ).id
        pkr = memory_app.execute(
            cmd.AddKeyResult(objective_id=parent, title="p", kind="NUMERIC", start=0, target=10)
        ).id
        a = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="A", weight=3)).id
        akr = memory_app.execute(
            cmd.AddKeyResult(objective_id=a, title="a", kind="NUMERIC", start=0, target=100)
        ).id
        b = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="B")).id
        bkr = memory_app.execute(
            cmd.AddKeyResult(objective_id=b, title="b", kind="BOOLEAN", source="TASKS")
        ).id
        draft = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Draft child")).id
        memory_app.execute(cmd.AddKeyResult(objective_id=draft, title="d", kind="BOOLEAN"))
        for o in (parent, a, b):
            memory_app.execute(cmd.ActivateObjective(objective_id=o))
        memory_app.execute(cmd.AlignObjective(objective_id=a, parent_objective_id=parent))
        memory_app.execute(cmd.AlignObjective(objective_id=b, parent_key_result_id=pkr))
        memory_app.execute(cmd.AlignObjective(objective_id=draft, parent_objective_id=parent))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=akr, value=50))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=pkr, value=10))
        done = memory_app.execute(cmd.CreateTask(title="done", key_result_id=bkr, impact="MEDIUM")).id
        memory_app.execute(cmd.CreateTask(title="open", key_result_id=bkr, impact="HIGH"))
        cancelled = memory_app.execute(cmd.CreateTask(title="cancelled", key_result_id=bkr, impact="HIGH")).id
        memory_app.execute(cmd.CompleteTask(task_id=done))
        memory_app.execute(cmd.CancelTask(task_id=cancelled))
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
        memory_app.execute(cmd.ReviseObjective(objective_id=parent, driver="BOTH"))
        memory_app.execute(cmd.RemoveKeyResult(key_result_id=pkr))
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
        c = memory_app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        memory_app.execute(cmd.StartCycle(cycle_id=c))
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=100, cadence_days=7)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=20, confidence=0.9))
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
        c = memory_app.execute(
            cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)), idempotency_key="k1"
        ).id
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        memory_app.execute(cmd.AddKeyResult(objective_id=o, title="k", kind="BOOLEAN"))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        types = [r[0] for r in tx.fetchall("SELECT event_type FROM proj_audit ORDER BY position")]
    assert types == ["Cycle.Scheduled", "Objective.Drafted", "Objective.KeyResultAdded"]
    assert memory_app.max_position() > len(types)  # index and idempotency records took positions


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
        c = memory_app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        memory_app.execute(cmd.StartCycle(cycle_id=c))
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O", weight=2.5)).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=10)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        t = memory_app.execute(cmd.CreateTask(title="t", key_result_id=kr)).id
        memory_app.execute(cmd.CompleteTask(task_id=t, value=4.0))
        memory_app.execute(cmd.ReviseKeyResult(key_result_id=kr, title="k2"))
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


END = datetime(2026, 4, 2, tzinfo=UTC)  # after the Q1 cycle below


def _q1(app: OkrApplication, start: bool = True) -> Any:
    c = app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
    if start:
        app.execute(cmd.StartCycle(cycle_id=c))
    return c


def test_unmeasured_threshold_is_never_accomplished(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """'Stay below 200' from 0 read 1.0/ACCOMPLISHED before any check-in; now 0 until measured,
    ON_TRACK in bounds mid-cycle, ACCOMPLISHED only once the cycle is over (objective alike)."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(
                objective_id=o,
                title="p95 latency",
                kind="THRESHOLD",
                direction="STAY_BELOW",
                start=0,
                target=200,
            )
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        view = Queries(tx, org, AT).objective_view(str(o))
        assert view is not None
        unmeasured = view.key_results[0]
        assert (unmeasured.progress, unmeasured.attainment) == (0.0, 0.0)
        assert unmeasured.status != "ACCOMPLISHED"
        assert view.status != "ACCOMPLISHED"
        at_end = Queries(tx, org, END).key_result(kr)
        assert at_end is not None
        assert at_end.status == "OFF_TRACK"  # never measured: not in bounds at the end either
    with request_context(system_context(org, "alice")):
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=150, confidence=0.8))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        mid = Queries(tx, org, AT).objective_view(str(o))
        end = Queries(tx, org, END).objective_view(str(o))
    assert mid is not None
    assert end is not None
    assert mid.key_results[0].progress == 1.0
    assert (mid.key_results[0].status, mid.status) == ("ON_TRACK", "ON_TRACK")
    assert (end.key_results[0].status, end.status) == ("ACCOMPLISHED", "ACCOMPLISHED")


def test_objective_attainment_follows_the_driver(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """Attainment is the same roll-up as progress (same driver, children included), unclamped."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        parent = memory_app.execute(
            cmd.DraftObjective(cycle_id=c, title="Parent", driver="ALIGNED_OBJECTIVES")
        ).id
        own = memory_app.execute(
            cmd.AddKeyResult(objective_id=parent, title="own", kind="NUMERIC", start=0, target=10)
        ).id
        child = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Child")).id
        ckr = memory_app.execute(
            cmd.AddKeyResult(objective_id=child, title="c", kind="NUMERIC", start=0, target=100)
        ).id
        for oid in (parent, child):
            memory_app.execute(cmd.ActivateObjective(objective_id=oid))
        memory_app.execute(cmd.AlignObjective(objective_id=child, parent_objective_id=parent))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=ckr, value=150))  # 1.5: over-achieved
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=own, value=5))  # 0.5
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        v = Queries(tx, org, AT).objective_view(str(parent))
        assert v is not None
        assert (v.progress, v.attainment) == (pytest.approx(1.0), pytest.approx(1.5))  # children only
    with request_context(system_context(org, "alice")):
        memory_app.execute(cmd.ReviseObjective(objective_id=parent, driver="BOTH"))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        v = Queries(tx, org, AT).objective_view(str(parent))
    assert v is not None
    assert v.progress == pytest.approx((0.5 + 1.0) / 2)
    assert v.attainment == pytest.approx((0.5 + 1.5) / 2)  # was 0.5: only its own key result


def test_objective_score_only_once_closed_then_override(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """No provisional score/grade while ACTIVE; CLOSED shows the stored closing score (per driver,
    children included), replaced by the owner's override with its reason."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        parent = memory_app.execute(
            cmd.DraftObjective(cycle_id=c, title="Parent", driver="ALIGNED_OBJECTIVES")
        ).id
        memory_app.execute(cmd.AddKeyResult(objective_id=parent, title="own", kind="BOOLEAN"))
        child = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Child")).id
        ckr = memory_app.execute(
            cmd.AddKeyResult(objective_id=child, title="c", kind="NUMERIC", start=0, target=100)
        ).id
        for oid in (parent, child):
            memory_app.execute(cmd.ActivateObjective(objective_id=oid))
        memory_app.execute(cmd.AlignObjective(objective_id=child, parent_objective_id=parent))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=ckr, value=64))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        active = Queries(tx, org, AT).objective_view(str(parent))
    assert active is not None
    assert (active.score, active.grade, active.score_reason) == (None, None, None)
    with request_context(system_context(org, "alice")):
        memory_app.execute(cmd.CloseObjective(objective_id=child))
        memory_app.execute(cmd.CloseObjective(objective_id=parent))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        closed = Queries(tx, org, AT).objective_view(str(parent))
    assert closed is not None
    assert (closed.score, closed.grade) == (
        pytest.approx(0.6),
        "YELLOW",
    )  # the child's 0.6, not the own KR's 0
    with request_context(system_context(org, "alice")):
        memory_app.execute(
            cmd.ScoreObjective(objective_id=parent, score=0.9, reason="the launch landed after the cycle")
        )
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        scored = Queries(tx, org, AT).objective_view(str(parent))
    assert scored is not None
    assert (scored.score, scored.grade) == (pytest.approx(0.9), "GREEN")
    assert scored.score_reason == "the launch landed after the cycle"


def test_planned_cycle_expects_nothing(memory_app: OkrApplication, memory_db: Database, org: str) -> None:
    """A PLANNED cycle's expected progress is 0 everywhere (cycle, objective, KR, dashboard), even
    once its dates have passed; started, it follows the calendar."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app, start=False)
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        memory_app.execute(cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=10))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        cycle, view, dash = q.cycle(c), q.objective_view(str(o)), q.dashboard(c, None)
    assert cycle is not None
    assert view is not None
    assert cycle.expected_progress == 0.0
    assert view.expected_progress == 0.0
    assert view.key_results[0].expected_progress == 0.0
    assert dash.expected_progress == 0.0
    with request_context(system_context(org, "alice")):
        memory_app.execute(cmd.StartCycle(cycle_id=c))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        started = Queries(tx, org, AT).cycle(c)
    assert started is not None
    assert 0.5 < started.expected_progress < 0.55


def test_unknown_cycle_is_none(memory_app: OkrApplication, memory_db: Database, org: str) -> None:
    """`cycle` of an unknown id, or of another org's cycle, is None (the API's CYCLE_NOT_FOUND)."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        assert Queries(tx, org, AT).cycle(uuid4()) is None
        assert Queries(tx, org + "-other", AT).cycle(c) is None
        assert Queries(tx, org, AT).cycle(c) is not None


def test_removed_key_result_leaves_its_tasks_unaligned_everywhere(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """After KeyResultRemoved the task view, the unaligned list, the prioritised list and the ratio agree."""
    from projections.model import TaskFilter

    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        keep = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="keep", kind="NUMERIC", start=0, target=10)
        ).id
        gone = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="gone", kind="NUMERIC", start=0, target=10)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        kept = memory_app.execute(cmd.CreateTask(title="kept", key_result_id=keep)).id
        orphan = memory_app.execute(cmd.CreateTask(title="orphan")).id  # no cycle, no key result
        memory_app.execute(cmd.LinkTask(task_id=orphan, key_result_id=gone))  # now in the KR's cycle
        memory_app.execute(cmd.RemoveKeyResult(key_result_id=gone))
    # small batches and one big one give the same answer
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        task = q.tasks(TaskFilter(), 10, None).items
        unaligned = q.tasks(TaskFilter(unaligned_only=True), 10, None).items
        prio = q.prioritized_tasks(c, None, 10)
        dash = q.dashboard(c, None)
    by_id = {t.id: t for t in task}
    assert by_id[orphan].key_result_id is None
    assert by_id[orphan].objective_id is None
    assert by_id[orphan].cycle_id == c
    assert [t.id for t in unaligned] == [orphan]
    assert [(p.task.id, p.aligned) for p in prio] == [(kept, True), (orphan, False)]
    assert dash.alignment_ratio == pytest.approx(1 / 2)  # was 1.0: the orphan still counted as linked


def test_tasks_of_finished_objectives_leave_the_prioritised_list(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """Open tasks on CLOSED or ABANDONED objectives are not prioritised any more."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        krs = {}
        for title in ("open", "closed", "abandoned"):
            oid = memory_app.execute(cmd.DraftObjective(cycle_id=c, title=title)).id
            krs[title] = (
                oid,
                memory_app.execute(cmd.AddKeyResult(objective_id=oid, title=title, kind="BOOLEAN")).id,
            )
            memory_app.execute(cmd.ActivateObjective(objective_id=oid))
        tasks = {
            t: memory_app.execute(cmd.CreateTask(title=t, key_result_id=kr)).id for t, (_, kr) in krs.items()
        }
        memory_app.execute(cmd.CloseObjective(objective_id=krs["closed"][0]))
        memory_app.execute(cmd.AbandonObjective(objective_id=krs["abandoned"][0]))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        prio = Queries(tx, org, AT).prioritized_tasks(c, None, 10)
    assert [p.task.id for p in prio] == [tasks["open"]]


def test_alignment_ratio_counts_tasks_in_their_key_results_cycle(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """A linked task counts in its key result's cycle whatever cycle (or none) its row names
    (rows written before tasks took their key result's cycle); an unlinked one in its own cycle."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        other = memory_app.execute(
            cmd.ScheduleCycle(name="Q2", start=date(2026, 4, 1), end=date(2026, 6, 30))
        ).id
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=10)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        linked = [memory_app.execute(cmd.CreateTask(title=f"t{i}", key_result_id=kr)).id for i in range(3)]
        memory_app.execute(cmd.CreateTask(title="loose", cycle_id=c))
        memory_app.execute(cmd.CreateTask(title="elsewhere", cycle_id=other))
    project(memory_app, memory_db)
    with memory_db.write() as tx:  # legacy rows: no cycle, or another cycle, on linked tasks
        tx.execute("UPDATE proj_tasks SET cycle_id = NULL WHERE id = ?", [str(linked[0])])
        tx.execute("UPDATE proj_tasks SET cycle_id = ? WHERE id = ?", [str(other), str(linked[1])])
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        assert q.dashboard(c, None).alignment_ratio == pytest.approx(3 / 4)
        assert q.dashboard(other, None).alignment_ratio == 0.0


def test_children_in_another_cycle_never_move_the_parent(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """A legacy child aligned across cycles is outside the parent's tree and outside its figures."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        other = memory_app.execute(
            cmd.ScheduleCycle(name="Q2", start=date(2026, 4, 1), end=date(2026, 6, 30))
        ).id
        parent = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Parent", driver="BOTH")).id
        pkr = memory_app.execute(
            cmd.AddKeyResult(objective_id=parent, title="p", kind="NUMERIC", start=0, target=10)
        ).id
        child = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Child")).id
        ckr = memory_app.execute(
            cmd.AddKeyResult(objective_id=child, title="c", kind="NUMERIC", start=0, target=10)
        ).id
        for oid in (parent, child):
            memory_app.execute(cmd.ActivateObjective(objective_id=oid))
        memory_app.execute(cmd.AlignObjective(objective_id=child, parent_objective_id=parent))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=pkr, value=5))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=ckr, value=10))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        before = Queries(tx, org, AT).objective_view(str(parent))
    assert before is not None
    assert before.progress == pytest.approx(0.75)
    with memory_db.write() as tx:  # as written before cross-cycle alignment was refused
        tx.execute("UPDATE proj_objectives SET cycle_id = ? WHERE id = ?", [str(other), str(child)])
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        after = q.objective_view(str(parent))
        roots = q.tree(c)
    assert after is not None
    assert (after.progress, after.attainment) == (pytest.approx(0.5), pytest.approx(0.5))
    assert [(r.objective.id, r.children) for r in roots] == [(parent, [])]


def test_policy_messages_name_teams_and_pluralise(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """'team "Growth" has 1 active objective', '1 key result' — names, not ids; singular for one."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        team = memory_app.execute(cmd.CreateTeam(name="Growth")).id
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O", team_id=team)).id
        memory_app.execute(cmd.AddKeyResult(objective_id=o, title="k", kind="BOOLEAN"))
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        view, dash = q.objective_view(str(o)), q.dashboard(c, None)
    assert view is not None
    text = " | ".join([*view.warnings, *dash.policy_warnings])
    assert "1 key result;" in text
    assert "has 1 active objective in this cycle" in text
    assert 'team "Growth" has' in text
    assert str(team) not in text
    assert "objectives in" not in text and "results;" not in text


def test_audit_names_and_filters(memory_app: OkrApplication, memory_db: Database, org: str) -> None:
    """event_type is the bare class name (aggregate type apart); eventTypes take bare or qualified
    names; aggregateTypes any case."""
    from projections.model import AuditFilter

    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=10)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=3))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        every = q.audit_log(AuditFilter(), 100, None).items
        assert {(e.aggregate_type, e.event_type) for e in every} >= {
            ("Cycle", "Scheduled"),
            ("Objective", "KeyResultCheckedIn"),
        }
        assert all("." not in e.event_type for e in every)
        for names in (("KeyResultCheckedIn",), ("Objective.KeyResultCheckedIn",)):
            assert q.audit_log(AuditFilter(event_types=names), 10, None).total_count == 1
        n = q.audit_log(AuditFilter(aggregate_types=("Objective",)), 10, None).total_count
        assert n == 4
        for spelling in ("objective", "OBJECTIVE", "oBjEcTiVe"):
            assert q.audit_log(AuditFilter(aggregate_types=(spelling,)), 10, None).total_count == n


def test_history_of_a_key_result(memory_app: OkrApplication, memory_db: Database, org: str) -> None:
    """history(key result id) answers the objective's events about that key result (with values
    before), also once it was removed; an objective's id answers as before."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="k", kind="NUMERIC", start=0, target=10)
        ).id
        other = memory_app.execute(
            cmd.AddKeyResult(objective_id=o, title="other", kind="NUMERIC", start=0, target=10)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=o))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=3))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=other, value=4))
        memory_app.execute(cmd.ReviseKeyResult(key_result_id=kr, target=20))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        history = Queries(tx, org, AT).history(kr)
        whole = Queries(tx, org, AT).history(o)
        stranger = Queries(tx, org + "-x", AT).history(kr)
    assert [e.event_type for e in history] == ["KeyResultAdded", "KeyResultCheckedIn", "KeyResultRevised"]
    assert all(e.aggregate_id == o for e in history)
    assert history[1].payload["value_before"] == 0.0
    assert history[2].payload["before"] == {"target": 10.0}
    assert len(whole) > len(history)
    assert stranger == []
    with request_context(system_context(org, "alice")):
        memory_app.execute(cmd.RemoveKeyResult(key_result_id=other))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        removed = Queries(tx, org, AT).history(other)
    assert [e.event_type for e in removed] == ["KeyResultAdded", "KeyResultCheckedIn", "KeyResultRemoved"]


def test_schema_of_an_older_release_gains_the_new_columns(memory_app: OkrApplication, org: str) -> None:
    """ensure_schema adds columns a table of an older release lacks (objectives' score), so the
    upgraded read side answers at once; the new columns start empty until `okr replay`."""
    from projections.views import OBJECTIVES

    db = Database(sqlite_path=":memory:")
    try:
        old_columns = tuple(c for c in OBJECTIVES.columns if c[0] not in ("score", "score_reason"))
        with db.write() as tx:
            cols = ", ".join(f"{c} {t}" for c, t in old_columns)
            tx.execute(f"CREATE TABLE proj_objectives ({cols}, PRIMARY KEY (id))")
        ensure_schema(db, make_views())
        ensure_schema(db, make_views())  # idempotent
        with db.read() as tx:
            names = [r[1] for r in tx.fetchall("PRAGMA table_info(proj_objectives)")]
        assert names[-2:] == ["score", "score_reason"]
        with request_context(system_context(org, "alice")):
            c = _q1(memory_app)
            o = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="O")).id
            memory_app.execute(cmd.AddKeyResult(objective_id=o, title="k", kind="BOOLEAN"))
        project(memory_app, db)
        with db.read() as tx:
            view = Queries(tx, org, AT).objective_view(str(o))
        assert view is not None
        assert view.score is None
    finally:
        db.close()


def test_attainment_is_null_with_nothing_to_roll_up(
    memory_app: OkrApplication, memory_db: Database, org: str
) -> None:
    """An objective whose driver has no inputs (no key result / no counted child) has no attainment."""
    with request_context(system_context(org, "alice")):
        c = _q1(memory_app)
        empty = memory_app.execute(cmd.DraftObjective(cycle_id=c, title="Empty")).id
        lonely = memory_app.execute(
            cmd.DraftObjective(cycle_id=c, title="Lonely", driver="ALIGNED_OBJECTIVES")
        ).id
        memory_app.execute(cmd.AddKeyResult(objective_id=lonely, title="own", kind="BOOLEAN"))
    project(memory_app, memory_db)
    with memory_db.read() as tx:
        q = Queries(tx, org, AT)
        views = [q.objective_view(str(empty)), q.objective_view(str(lonely))]
    assert [(v.progress, v.attainment) for v in views if v is not None] == [(0.0, None), (0.0, None)]
