"""The audit view: every public event as one row (envelope fields plus the payload as JSON)."""

from __future__ import annotations

from okr.domain.base import OkrAggregate
from projections.views.base import INT, TEXT, Batch, Table, View, dumps, payload_of, sid, to_micros

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


def audit_view() -> View:
    """Every public event (nothing ignored: the runner does not decode internal ones for it)."""
    return View("audit", (AUDIT,), all_events=_audit_row)
