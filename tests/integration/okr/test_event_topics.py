"""Every event stored by the v1 log (tests/fixtures/log_v1) resolves, by its stored topic, to an
event class declared explicitly in its aggregate, and decodes into it with every field."""

from __future__ import annotations

import dataclasses
import sqlite3
import types
import typing
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.utils import resolve_topic

from harness.log_fixture import DB_NAME, FIXTURE
from okr.domain import AGGREGATE_TYPES, INTERNAL_AGGREGATE_TYPES, event_classes
from okr.domain.base import OkrAggregate, is_declared_event

pytestmark = pytest.mark.integration

ENVELOPE = {f.name for f in dataclasses.fields(OkrAggregate.Created)}


def _stored() -> list[StoredEvent]:
    with sqlite3.connect(f"file:{FIXTURE / DB_NAME}?mode=ro", uri=True) as db:  # never create it
        rows = db.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()
    return [StoredEvent(UUID(str(o)), int(v), str(t), bytes(s)) for o, v, t, s in rows]


def test_every_stored_topic_resolves_to_an_explicitly_declared_event_class() -> None:
    """Each distinct topic of the fixture names a class the aggregates declare (none is made up
    by the library from a method any more), public or internal as its module says."""
    declared = {cls for a in (*AGGREGATE_TYPES, *INTERNAL_AGGREGATE_TYPES) for cls in event_classes(a)}
    topics = {s.topic for s in _stored()}
    assert len(topics) >= 39
    for topic in sorted(topics):
        cls = resolve_topic(topic)
        assert isinstance(cls, type) and issubclass(cls, OkrAggregate.Event), topic
        assert is_declared_event(cls), topic
        assert cls in declared, topic


def test_every_stored_event_decodes_into_its_class_with_every_field() -> None:
    """Decoding each stored event gives an instance of the declared class carrying each of its
    fields (payload types as declared: UUIDs, numbers, text, None, dicts)."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    transcoder.register(DecimalAsStr())
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder)
    stored = _stored()
    assert len(stored) > 300
    for record in stored:
        event = mapper.to_domain_event(record)
        cls = resolve_topic(record.topic)
        assert type(event) is cls
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert hasattr(event, f.name), (record.topic, f.name)
            if f.name not in ENVELOPE:
                assert _conforms(getattr(event, f.name), hints[f.name]), (record.topic, f.name)


def _conforms(value: object, hint: object) -> bool:
    """Whether a decoded value has the declared type (the shapes event fields use)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    assert isinstance(hint, type), hint
    return isinstance(value, hint)
