"""Idempotency results in a table of their own, written in the same transaction as the events.

A command sent with an idempotency key saves `(record id, command, fingerprint, result,
position)` in `okr_idempotency` inside the append of its events: either both are written or
neither. Two concurrent requests with the same key collide on the primary key, so one of them is
rolled back and, on its retry, returns the other's result. Nothing of this is in the event log,
so no consumer reads or skips it. (Logs written before this table existed hold the same facts as
`IdempotencyRecord` aggregates; `OkrApplication` still answers from those.)

The recorders are eventsourcing's, extended by one insert and one lookup; the application picks
them through `APPLICATION_RECORDER_TOPIC` (see `persistence_env`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic

TABLE = "okr_idempotency"
KWARG = "idempotency"


@dataclass(frozen=True)
class IdempotencyEntry:
    """The first result of a command sent with an idempotency key."""

    record_id: UUID
    command: str
    fingerprint: str
    result: dict[str, Any]
    position: int = 0  # the log position of the write (set by the recorder)


@runtime_checkable
class IdempotencyRecorder(Protocol):
    def idempotency_entry(self, record_id: UUID) -> IdempotencyEntry | None: ...


def _entry(kwargs: dict[str, Any]) -> IdempotencyEntry | None:
    entry = kwargs.get(KWARG)
    assert entry is None or isinstance(entry, IdempotencyEntry)
    return entry


class SQLiteRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {TABLE} (record_id TEXT PRIMARY KEY, command TEXT NOT NULL,"
            " fingerprint TEXT NOT NULL, result TEXT NOT NULL, position INTEGER NOT NULL)",
        ]

    def _insert_events(self, c: SQLiteCursor, stored_events: list[StoredEvent] | Any, **kwargs: Any) -> Any:
        ids = super()._insert_events(c, stored_events, **kwargs)
        entry = _entry(kwargs)
        if entry is not None and ids:
            c.execute(
                f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
                (entry.record_id.hex, entry.command, entry.fingerprint, json.dumps(entry.result), max(ids)),
            )
        return ids

    def idempotency_entry(self, record_id: UUID) -> IdempotencyEntry | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT command, fingerprint, result, position FROM {TABLE} WHERE record_id = ?",
                [record_id.hex],
            )
            row = c.fetchone()
        if row is None:
            return None
        return IdempotencyEntry(record_id, row[0], row[1], json.loads(row[2]), int(row[3]))


class POPORecorder(POPOApplicationRecorder):
    """In memory (tests): a dict beside the events, under the recorder's lock."""

    def __init__(self) -> None:
        super().__init__()
        self._idempotency: dict[UUID, IdempotencyEntry] = {}

    def _insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        entry = _entry(kwargs)
        with self._database_lock:
            if entry is not None and entry.record_id in self._idempotency:
                msg = f"idempotency record {entry.record_id} already recorded"
                raise IntegrityError(msg)
            ids = super()._insert_events(stored_events, **kwargs)
            if entry is not None and ids:
                self._idempotency[entry.record_id] = IdempotencyEntry(
                    entry.record_id, entry.command, entry.fingerprint, dict(entry.result), max(ids)
                )
            return ids

    def idempotency_entry(self, record_id: UUID) -> IdempotencyEntry | None:
        with self._database_lock:
            return self._idempotency.get(record_id)


class MemoryFactory(POPOFactory):
    """eventsourcing's in-memory factory with POPORecorder (its own takes no recorder topic)."""

    def application_recorder(self) -> ApplicationRecorder:
        return POPORecorder()


def persistence_env(persistence_module: str) -> dict[str, str]:
    """The env entries that give eventsourcing's persistence module these recorders."""
    if persistence_module == "eventsourcing.sqlite":
        return {"APPLICATION_RECORDER_TOPIC": get_topic(SQLiteRecorder)}
    if persistence_module == "eventsourcing.postgres":
        from okr.idempotency_pg import PostgresRecorder

        return {"APPLICATION_RECORDER_TOPIC": get_topic(PostgresRecorder)}
    if persistence_module in ("", "eventsourcing.popo"):
        return {"PERSISTENCE_MODULE": get_topic(MemoryFactory)}
    return {}
