"""Event contracts: how a domain event looks to other services.

Every public domain event becomes one CloudEvents 1.0 message in *structured* JSON mode:

- ``id`` = ``<aggregate id>:<aggregate version>`` (unique, stable across republishing: consumers
  de-duplicate by it, and the relay sends it as the ``Nats-Msg-Id`` header);
- ``source`` = ``urn:okr:<org>``; ``type`` = ``okr.<aggregate>.<Event>.v<N>``
  (``okr.objective.KeyResultCheckedIn.v1``); ``subject`` = ``<aggregate>/<aggregate id>``;
  ``time`` = the event's timestamp (RFC 3339); ``datacontenttype`` = ``application/json``;
- ``data`` = the event's own payload fields (not the envelope: ids, version, timestamp and the
  audit fields are attributes of the CloudEvent);
- extensions (lowercase alphanumeric, as the CloudEvents spec requires): ``position`` (global log
  position), ``orgid``, ``actor``, ``correlationid``, ``causationid``, ``aggregateid``,
  ``aggregateversion``.

The NATS subject is ``<prefix>.<org>.<aggregate>.<Event>`` (prefix ``okr``; every token
sanitised to ``[A-Za-z0-9_-]``), so consumers can filter per org (``okr.acme.>``), per aggregate
(``okr.acme.objective.>``) or per event type (``okr.*.task.Completed``).

``export_contracts(schema_dir)`` writes both (``diff_contracts`` checks both);
``export_event_schemas(dir)`` writes one JSON Schema (Draft 2020-12) per CloudEvent type,
generated from the event classes' dataclass fields and type hints; ``diff_event_schemas(dir)``
lists where the files and the code disagree (the contract test and ``okr export-schema --check``
use it). Internal bookkeeping events (topics ``okr.domain.internal:*``) are never published.

Versioning: additive changes (a new optional field) keep the version; a breaking change gets a
new ``.v2`` type (``CONTRACT_VERSIONS``), and both versions are published during a transition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final

import orjson
from eventsourcing.domain import CanInitAggregate, DomainEvent
from eventsourcing.utils import get_topic

from okr.domain import AGGREGATE_TYPES
from okr.log import ENVELOPE_FIELDS, LogEvent, envelope, is_internal, uuid_text

__all__ = [
    "CONTRACT_VERSIONS",
    "DATA_CONTENT_TYPE",
    "ENVELOPE_FIELDS",
    "SPEC_VERSION",
    "SUBJECT_PREFIX",
    "CloudEventMessage",
    "EventContract",
    "cloudevent",
    "contract_for_topic",
    "contracts",
    "diff_contracts",
    "diff_event_schemas",
    "event_schema",
    "export_contracts",
    "export_event_schemas",
    "is_public_topic",
    "sanitize_token",
    "schema_filename",
    "subject_for",
    "to_message",
]

SPEC_VERSION: Final = "1.0"
DATA_CONTENT_TYPE: Final = "application/json"
SUBJECT_PREFIX: Final = "okr"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE: Final = "urn:okr:schema:events:"

#: Published contract version per event topic (default 1). Bump only for a breaking change, and
#: keep publishing the previous version alongside during the transition.
CONTRACT_VERSIONS: Final[Mapping[str, int]] = {}

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_token(value: str) -> str:
    """One NATS subject token: characters outside [A-Za-z0-9_-] become `_`, never empty."""
    return _UNSAFE.sub("_", value) or "_"


def is_public_topic(topic: str) -> bool:
    """Internal bookkeeping events (KeyResultIndex, IdempotencyRecord) are not published."""
    return not is_internal(topic)


@dataclass(frozen=True)
class EventContract:
    """What one event class publishes: its CloudEvent type, subject tokens and payload fields."""

    event_class: type[DomainEvent]
    topic: str
    aggregate: str
    name: str
    version: int
    fields: tuple[str, ...]

    @property
    def type(self) -> str:
        return _type_name(self.aggregate, self.name, self.version)

    def subject(self, org_id: str, prefix: str = SUBJECT_PREFIX) -> str:
        return _subject(prefix, org_id, self.aggregate, self.name)


@cache
def _type_name(aggregate: str, name: str, version: int) -> str:
    return f"okr.{aggregate}.{name}.v{version}"


@lru_cache(maxsize=65_536)
def _subject(prefix: str, org_id: str, aggregate: str, event_name: str) -> str:
    return subject_for(prefix, org_id, aggregate, event_name)


def subject_for(prefix: str, org_id: str, aggregate: str, event_name: str) -> str:
    """`<prefix>.<org>.<aggregate>.<Event>` with every token sanitised."""
    tokens = (org_id, aggregate, event_name)
    return ".".join([prefix, *(sanitize_token(t) for t in tokens)])


def _event_classes(aggregate: type) -> list[type[DomainEvent]]:
    """The event classes the aggregate defines itself (each one a published type)."""
    base_event = aggregate.Event  # type: ignore[attr-defined]
    own = [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, base_event) and value is not base_event
    ]
    created = [cls for cls in own if issubclass(cls, CanInitAggregate)]
    if len(created) > 1:
        # `@event("Drafted") def __init__` defines Drafted next to the library's generic
        # `Created` class, which is then never used.
        own = [cls for cls in own if cls is not getattr(aggregate, "Created", None)]
    return own


@cache
def contracts() -> tuple[EventContract, ...]:
    """Every published event type, in a stable order (aggregate, then event name)."""
    found: list[EventContract] = []
    for aggregate in AGGREGATE_TYPES:
        for cls in _event_classes(aggregate):
            topic = get_topic(cls)
            if not is_public_topic(topic):
                continue
            payload = tuple(f.name for f in dataclasses.fields(cls) if f.name not in ENVELOPE_FIELDS)
            found.append(
                EventContract(
                    event_class=cls,
                    topic=topic,
                    aggregate=sanitize_token(aggregate.__name__.lower()),
                    name=sanitize_token(cls.__name__),
                    version=CONTRACT_VERSIONS.get(topic, 1),
                    fields=payload,
                )
            )
    found.sort(key=lambda c: (c.aggregate, c.name))
    return tuple(found)


@cache
def _by_topic() -> dict[str, EventContract]:
    return {c.topic: c for c in contracts()}


@cache
def _by_type() -> dict[str, EventContract]:
    return {c.event_class.__qualname__: c for c in contracts()}


def contract_for_topic(topic: str) -> EventContract | None:
    """The contract of a stored event's topic; None for internal or unknown topics."""
    return _by_topic().get(topic)


# --- CloudEvents ---------------------------------------------------------------------------


@dataclass(slots=True)
class CloudEventMessage:
    """A CloudEvent ready for NATS: subject, message id (the CloudEvent id) and JSON body."""

    subject: str
    id: str
    body: bytes
    position: int
    timestamp: dt.datetime


def cloudevent(event: object, position: int, *, prefix: str = SUBJECT_PREFIX) -> CloudEventMessage | None:
    """The CloudEvent of a domain event at a log position (None if the event is not published)."""
    return to_message(envelope(event, position), prefix=prefix)


def to_message(event: LogEvent, *, prefix: str = SUBJECT_PREFIX) -> CloudEventMessage | None:
    """The CloudEvent of a log event (None if its type is not published): what the relay sends."""
    contract = _by_type().get(event.qualified_type)
    if contract is None:
        return None
    org_id = event.org_id
    aggregate_id = uuid_text(event.aggregate_id)
    version = event.version
    ce_id = f"{aggregate_id}:{version}"
    payload = event.payload
    body = {
        "specversion": SPEC_VERSION,
        "id": ce_id,
        "source": f"urn:okr:{org_id}",
        "type": contract.type,
        "subject": f"{contract.aggregate}/{aggregate_id}",
        "time": event.at,
        "datacontenttype": DATA_CONTENT_TYPE,
        "position": event.position,
        "orgid": org_id,
        "actor": event.actor,
        "correlationid": event.correlation_id,
        "causationid": event.causation_id,
        "aggregateid": aggregate_id,
        "aggregateversion": version,
        "data": {name: payload[name] for name in contract.fields},
    }
    return CloudEventMessage(
        subject=contract.subject(org_id, prefix),
        id=ce_id,
        body=orjson.dumps(body, default=_json_default),
        position=event.position,
        timestamp=event.at,
    )


def _json_default(value: object) -> object:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable in an event payload: {type(value).__name__}")


# --- JSON Schemas ----------------------------------------------------------------------------


def _schema_for(hint: Any) -> dict[str, Any]:
    """JSON Schema (2020-12) of one type hint."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        if len(members) == 1:
            schema = _schema_for(members[0])
        else:
            schema = {"anyOf": [_schema_for(m) for m in members]}
        if nullable:
            if "type" in schema and isinstance(schema["type"], str):
                schema = {**schema, "type": [schema["type"], "null"]}
            else:
                schema = {"anyOf": [*schema.get("anyOf", [schema]), {"type": "null"}]}
        return schema
    if hint is Any:
        return {}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if hint is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    if hint is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if hint is dt.date:
        return {"type": "string", "format": "date"}
    if origin in (dict, Mapping) or hint is dict:
        value = _schema_for(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    if origin in (list, tuple, set, frozenset, typing.Sequence) or hint in (list, tuple):
        items = _schema_for(args[0]) if args else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    raise TypeError(f"no JSON Schema mapping for the type hint {hint!r}: extend contracts._schema_for")


def schema_filename(contract: EventContract) -> str:
    return f"{contract.type}.json"


def event_schema(contract: EventContract) -> dict[str, Any]:
    """The JSON Schema of one event type's CloudEvent (envelope, extensions and data)."""
    hints = typing.get_type_hints(contract.event_class)
    data_properties = {name: _schema_for(hints[name]) for name in contract.fields}
    string = {"type": "string", "minLength": 1}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{contract.type}",
        "title": contract.type,
        "description": (
            f"CloudEvents 1.0 structured JSON for {contract.event_class.__qualname__} "
            f"(topic {contract.topic}), published on subject "
            f"okr.<org>.{contract.aggregate}.{contract.name}."
        ),
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "position",
            "orgid",
            "actor",
            "correlationid",
            "causationid",
            "aggregateid",
            "aggregateversion",
            "data",
        ],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            "id": {
                "type": "string",
                "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[1-9][0-9]*$",
                "description": "<aggregate id>:<aggregate version>; de-duplicate by it",
            },
            "source": {"type": "string", "pattern": "^urn:okr:[A-Za-z0-9_-]{1,64}$"},
            "type": {"const": contract.type},
            "subject": {
                "type": "string",
                "pattern": f"^{re.escape(contract.aggregate)}/[0-9a-f-]{{36}}$",
                "description": "<aggregate>/<aggregate id>",
            },
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            "position": {
                "type": "integer",
                "minimum": 1,
                "description": "global log position: strictly increasing in publishing order",
            },
            "orgid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "actor": string,
            "correlationid": string,
            "causationid": string,
            "aggregateid": {"type": "string", "format": "uuid"},
            "aggregateversion": {"type": "integer", "minimum": 1},
            "data": {
                "type": "object",
                "required": list(contract.fields),
                "properties": data_properties,
            },
        },
    }


def _render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def export_event_schemas(out_dir: Path) -> list[Path]:
    """Writes schema/events/<type>.json for every published event type; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in contracts():
        path = out_dir / schema_filename(contract)
        text = _render(event_schema(contract))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def diff_event_schemas(out_dir: Path) -> list[str]:
    """Where the files in `out_dir` and the code disagree (empty when they match)."""
    problems = []
    expected = {schema_filename(c): _render(event_schema(c)) for c in contracts()}
    for name, text in expected.items():
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path}: missing (run `okr export-schema`)")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from the event classes (run `okr export-schema`)")
    present: Iterable[Path] = sorted(out_dir.glob("okr.*.json")) if out_dir.is_dir() else []
    for path in present:
        if path.name not in expected:
            problems.append(f"{path}: no event class publishes this type any more")
    return problems


def export_contracts(schema_dir: Path) -> list[Path]:
    """Writes `<schema_dir>/events/*.json` and `<schema_dir>/asyncapi.yaml`; returns the paths."""
    from relay.asyncapi import export_asyncapi

    paths = export_event_schemas(schema_dir / "events")
    paths.append(export_asyncapi(schema_dir / "asyncapi.yaml"))
    return paths


def diff_contracts(schema_dir: Path) -> list[str]:
    """Every difference between the code and `<schema_dir>/events/*.json` + `asyncapi.yaml`."""
    from relay.asyncapi import diff_asyncapi

    return diff_event_schemas(schema_dir / "events") + diff_asyncapi(schema_dir / "asyncapi.yaml")
