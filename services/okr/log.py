"""Following the event log: one reader for every follower (view runners, the relay, the live feed).

The log is the write side's (this module imports nothing from the read models, the API or NATS).
What every follower needs, written once:

- ``read(app, after, limit)`` -> ``(events, last_position)``: the next page of the log after
  position ``after`` as ``LogEvent`` envelopes. Internal bookkeeping events (topics under
  ``INTERNAL_TOPIC_PREFIX``) are skipped, and ``last_position`` is the last position *read*
  (internal ones included), so the next page starts after it. The log has gaps (a rolled-back
  append spends its notification id): a follower continues from ``last_position``, never from
  ``after + len(events)``; ``last_position == after`` means nothing new.
- ``LogEvent``: the envelope of one public event (position, org, aggregate type/id/version, the
  event's bare name, time, audit fields, JSON-able payload) — what the live feed yields and what
  the relay publishes as a CloudEvent (``relay.contracts``).
- ``FastDecoder``: decodes stored events like ``mapper.to_domain_event``, with orjson (the
  runners decode with it into typed events for their views; ``read`` uses it too).
- ``is_internal(topic)``; ``listen(connect, channel, wake, stop)``: the PostgreSQL LISTEN loop
  that wakes a follower when another process writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, cast
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic
from psycopg import sql

from okr.domain import INTERNAL_TOPIC_PREFIX

if TYPE_CHECKING:
    from okr.application import OkrApplication

__all__ = [
    "ENVELOPE_FIELDS",
    "FastDecoder",
    "LogEvent",
    "envelope",
    "is_internal",
    "listen",
    "read",
    "to_json",
    "uuid_text",
    "wake_threadsafe",
]

log = logging.getLogger(__name__)

#: Fields every event carries that belong to the envelope, not to its payload.
ENVELOPE_FIELDS: Final = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "org_id",
        "actor",
        "correlation_id",
        "causation_id",
    }
)


def is_internal(topic: str) -> bool:
    """Internal bookkeeping events (KeyResultIndex, IdempotencyRecord): no follower shows them."""
    return topic.startswith(INTERNAL_TOPIC_PREFIX)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One public event of the log as followers see it (the feed yields it, the relay publishes it)."""

    position: int
    org_id: str
    aggregate_type: str  # e.g. "Objective"
    aggregate_id: UUID
    version: int
    event_type: str  # the bare name, e.g. "KeyResultCheckedIn"
    at: datetime
    actor: str
    correlation_id: str
    causation_id: str
    payload: dict[str, Any]  # the event's own fields, as JSON-able values

    @property
    def qualified_type(self) -> str:
        return f"{self.aggregate_type}.{self.event_type}"


_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """Event payload values as JSON-able data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (UUID, Decimal)):
        return uuid_text(value) if isinstance(value, UUID) else float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return to_json(asdict(value))
    if hasattr(value, "__dict__"):
        return {k: to_json(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


_UUID_TEXT: dict[int, str] = {}


def uuid_text(value: UUID) -> str:
    """`str(value)`, cached (it is slow, and the same ids recur on every event of an aggregate)."""
    number = value.int
    text = _UUID_TEXT.get(number)
    if text is None:
        if len(_UUID_TEXT) > 200_000:
            _UUID_TEXT.clear()
        text = _UUID_TEXT[number] = str(value)
    return text


_KINDS: dict[type, tuple[str, str]] = {}  # event class -> (aggregate type, event name)


def _kind(cls: type) -> tuple[str, str]:
    kind = _KINDS.get(cls)
    if kind is None:
        outer, _, name = cls.__qualname__.rpartition(".")
        kind = _KINDS[cls] = (outer.rsplit(".", 1)[-1], name)
    return kind


def envelope(event: object, position: int) -> LogEvent:
    """The envelope of a decoded domain event at log `position`."""
    state: dict[str, Any] = event.__dict__
    aggregate_type, event_type = _kind(type(event))
    aggregate_id = state["originator_id"]
    plain, envelope_fields = _PLAIN, ENVELOPE_FIELDS
    payload: dict[str, Any] = {}
    for k, v in state.items():
        if k not in envelope_fields:
            kind = type(v)
            payload[k] = v if kind in plain else uuid_text(v) if kind is UUID else to_json(v)
    return LogEvent(
        position=position,
        org_id=str(getattr(event, "org_id", "")),
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id if type(aggregate_id) is UUID else UUID(str(aggregate_id)),
        version=state["originator_version"],
        event_type=event_type,
        at=state["timestamp"],
        actor=str(getattr(event, "actor", "")),
        correlation_id=str(getattr(event, "correlation_id", "")),
        causation_id=str(getattr(event, "causation_id", "")),
        payload=payload,
    )


_DECODERS: weakref.WeakKeyDictionary[Mapper[Any], FastDecoder] = weakref.WeakKeyDictionary()


def _decoder(mapper: Mapper[Any]) -> FastDecoder:
    decoder = _DECODERS.get(mapper)
    if decoder is None:
        decoder = _DECODERS[mapper] = FastDecoder(mapper)
    return decoder


def read(
    app: OkrApplication, after: int, limit: int, *, stop: int | None = None
) -> tuple[list[LogEvent], int]:
    """The public events of the next page of the log after `after` (at most `limit` positions,
    none above `stop`) and the last position read (`after` when there was nothing new)."""
    notifications = app.recorder.select_notifications(after + 1, limit, stop=stop)
    if not notifications:
        return [], after
    decode = _decoder(app.mapper).decode
    prefix = INTERNAL_TOPIC_PREFIX
    events = [envelope(decode(n), n.id) for n in notifications if not n.topic.startswith(prefix)]
    return events, notifications[-1].id


# --- waking followers ----------------------------------------------------------------------


def wake_threadsafe(loop: asyncio.AbstractEventLoop | None, event: asyncio.Event | None) -> None:
    """Sets an asyncio follower's wake-up event from any thread (a commit listener, LISTEN)."""
    if loop is None or event is None or loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_soon_threadsafe(event.set)


def listen(
    connect: Callable[[], AbstractContextManager[psycopg.Connection[Any]]],
    channel: str,
    wake: Callable[[], None],
    stop: threading.Event,
    *,
    retry: float = 1.0,
) -> None:
    """PostgreSQL: LISTEN on `channel` and call `wake()` on every notification until `stop` is
    set (checked every 0.5 s). A failed connection is logged and retried after `retry` seconds;
    the follower's own polling covers the time in between."""
    while not stop.is_set():
        try:
            with connect() as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        wake()
        except Exception as exc:
            log.warning("LISTEN %s failed (%s); polling meanwhile, retrying in %.1f s", channel, exc, retry)
            stop.wait(retry)


# --- decoding --------------------------------------------------------------------------------


class FastDecoder:
    """Decodes stored events like `mapper.to_domain_event`, with orjson and cached ids.

    Only for the plain JSON transcoder without cipher or compressor (else `supported` is
    False). The state is parsed with orjson and its `{"_type_", "_data_"}` objects are turned
    into values by the transcoder's own transcodings, inner objects first (the order of the
    stdlib decoder's object hook); UUIDs are interned (the same ids recur on every event of an
    aggregate). Upcasting: a class with `class_version` above 1, state orjson cannot parse
    (NaN, huge integers) or anything unexpected goes through the mapper itself, so the result
    is always the event the mapper would build.
    """

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        self.supported = (
            type(transcoder) is JSONTranscoder and mapper.cipher is None and mapper.compressor is None
        )
        self._names = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        self._uuid_hex = self._names.get("uuid_hex")
        self._stock_uuid = type(self._uuid_hex) is UUIDAsHex
        self._stock_datetime = type(self._names.get("datetime_iso")) is DatetimeAsISO
        self._uuids: dict[str, UUID] = {}
        self._classes: dict[str, tuple[type, Callable[[Any], Any]] | None] = {}

    def _value(self, value: Any) -> Any:
        if type(value) is dict:
            for k, v in value.items():
                if type(v) is dict or type(v) is list:
                    value[k] = self._value(v)
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                name = value["_type_"]
                if self._uuid_hex is not None and name == "uuid_hex":
                    data = value["_data_"]
                    uuid = self._uuids.get(data)
                    if uuid is None:
                        if len(self._uuids) > 500_000:
                            self._uuids.clear()
                        uuid = self._uuids[data] = self._uuid_hex.decode(data)
                    return uuid
                return self._names[name].decode(value["_data_"])
            return value
        if type(value) is list:
            return [self._value(v) if type(v) is dict or type(v) is list else v for v in value]
        return value

    def _class(self, topic: str, originator_id: Any) -> tuple[type, Callable[[Any], Any]] | None:
        try:
            return self._classes[topic]
        except KeyError:
            pass
        cls = resolve_topic(topic)
        entry: tuple[type, Callable[[Any], Any]] | None = None
        if getattr(cls, "class_version", 1) == 1:
            entry = (cls, find_id_convertor(cls, cast(Hashable, type(originator_id))))
        # else: an upcast class — always through the mapper (it applies upcast_vN_vN+1).
        self._classes[topic] = entry
        return entry

    def decode(self, n: Notification) -> Any:
        if not self.supported:
            return self.mapper.to_domain_event(n)
        entry = self._classes.get(n.topic, _UNKNOWN)
        if entry is _UNKNOWN:
            entry = self._class(n.topic, n.originator_id)
        if entry is None:
            return self.mapper.to_domain_event(n)
        try:
            state = orjson.loads(n.state)
        except orjson.JSONDecodeError:
            return self.mapper.to_domain_event(n)
        if type(state) is not dict or state.pop("class_version", 1) != 1:
            return self.mapper.to_domain_event(n)
        uuids = self._uuids
        try:
            for k, v in state.items():
                if type(v) is dict:
                    # Inline the two transcodings every event carries (ids and its timestamp).
                    if len(v) == 2 and "_data_" in v:
                        name, data = v.get("_type_"), v["_data_"]
                        if name == "uuid_hex" and self._stock_uuid and type(data) is str:
                            uuid = uuids.get(data)
                            if uuid is None:
                                if len(uuids) > 500_000:
                                    uuids.clear()
                                uuid = uuids[data] = UUID(data)
                            state[k] = uuid
                            continue
                        if name == "datetime_iso" and self._stock_datetime and type(data) is str:
                            state[k] = datetime.fromisoformat(data)
                            continue
                    state[k] = self._value(v)
                elif type(v) is list:
                    state[k] = self._value(v)
        except Exception:  # e.g. an unregistered transcoding: let the mapper raise its error
            return self.mapper.to_domain_event(n)
        cls, id_convertor = entry
        state["originator_id"] = id_convertor(n.originator_id)
        state["originator_version"] = n.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event


_UNKNOWN: Any = object()
