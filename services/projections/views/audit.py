"""The audit view: every public event as one row (envelope fields plus the payload as JSON)."""

from __future__ import annotations

import orjson

from okr.domain import Comment
from okr.domain.base import OkrAggregate
from projections.views.base import (
    INT,
    TEXT,
    Batch,
    SqlValue,
    Table,
    View,
    dumps,
    payload_of,
    sid,
    to_micros,
)

AUDIT = Table(
    "audit",
    (
        ("position", INT),
        ("org", TEXT),
        ("at", INT),
        ("aggregate_type", TEXT),
        ("aggregate_id", TEXT),
        ("version", INT),
        ("event_type", TEXT),
        ("event_name", TEXT),
        ("actor", TEXT),
        ("correlation_id", TEXT),
        ("causation_id", TEXT),
        ("payload", TEXT),
    ),
    ("position",),
    (("org", "position"), ("aggregate_id", "version"), ("org", "actor", "position"), ("org", "at")),
)


_NAMES: dict[type, tuple[str, str, str]] = {}


def _names(cls: type) -> tuple[str, str, str]:
    """(qualname, aggregate type, event name) of an event class, e.g. Objective.KeyResultAdded."""
    names = _NAMES.get(cls)
    if names is None:
        qualname = cls.__qualname__
        aggregate_type, _, event_name = qualname.rpartition(".")
        names = _NAMES[cls] = (qualname, aggregate_type, event_name)
    return names


def _audit_row(e: OkrAggregate.Event, pos: int, r: Batch) -> None:
    qualname, aggregate_type, event_name = _names(type(e))
    r["audit"].append(
        (
            pos,
            e.org_id,
            to_micros(e.timestamp),
            aggregate_type,
            sid(e.originator_id),
            e.originator_version,
            qualname,
            event_name,
            e.actor,
            e.correlation_id,
            e.causation_id,
            dumps(payload_of(e)),
        )
    )
    if isinstance(e, Comment.Deleted):
        _redact_comment(sid(e.originator_id), r)


#: What a deleted comment's earlier events lose in the audit view (their other fields stay).
REDACTED_FIELDS = ("body", "mentions")
_PAYLOAD = AUDIT.column_names.index("payload")
_AGGREGATE_ID = AUDIT.column_names.index("aggregate_id")


def _redacted(payload: str) -> str:
    fields = orjson.loads(payload)
    for name in REDACTED_FIELDS:
        if name in fields:
            fields[name] = None
    return dumps(fields)


def _redact_comment(comment_id: str | None, r: Batch) -> None:
    """Takes a deleted comment's body (and mentions) out of the payloads of its audit rows:
    those stored by earlier batches and those appended in this one."""
    rows = r["audit"]
    stored = rows.tx.fetchall(
        f"SELECT position, payload FROM {rows.physical} WHERE aggregate_id = ?", [comment_id]
    )
    rows.tx.executemany(
        f"UPDATE {rows.physical} SET payload = ? WHERE position = ?",
        [(_redacted(str(payload)), position) for position, payload in stored],
    )

    def change(values: tuple[SqlValue, ...]) -> tuple[SqlValue, ...]:
        if values[_AGGREGATE_ID] != comment_id:
            return values
        redacted = list(values)
        redacted[_PAYLOAD] = _redacted(str(values[_PAYLOAD]))
        return tuple(redacted)

    rows.rewrite_appended(change)


def audit_view() -> View:
    """Every public event (nothing ignored: the runner does not decode internal ones for it);
    a deleted comment's body is redacted from its earlier rows (REDACTED_FIELDS)."""
    return View("audit", (AUDIT,), all_events=_audit_row)
