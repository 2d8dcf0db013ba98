"""The OKR application on eventsourcing 9.5: `execute(command, idempotency_key)` runs one command
(okr.commands) through its handler (okr.handlers, one module per aggregate).

Every command:
- runs under the caller's `RequestContext` (org, actor, roles, correlation) with a fresh
  causation id, so events are stamped without any command argument carrying them;
- is refused unless the caller has one of the command's roles; its handler checks access to
  what it touches (okr.access), loads what it needs (okr.lookups: an id of another org is simply
  "not found"), lets the aggregates check their rules, and returns every touched aggregate;
- saves them in one atomic write, retrying optimistic-concurrency conflicts (bounded, with
  jitter), then fails writing nothing;
- with an idempotency key, saves the result atomically with the events, so repeating the key
  returns the first result and appends nothing, also after a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, OperationalError, Recording

from okr.access import authorize_role
from okr.commands import Command
from okr.domain.base import OkrAggregate, check_storable, check_title, plural
from okr.domain.context import RequestContext, current_context, new_command_context, request_context
from okr.domain.cycle import Cycle
from okr.domain.errors import ConcurrencyConflictError, IdempotencyKeyReusedError, ValidationError
from okr.domain.internal import ChildrenIndex, CycleIndex, IdempotencyRecord
from okr.domain.key_result import KeyResultAsDict
from okr.domain.objective import Objective
from okr.domain.task import Task
from okr.domain.team import Team
from okr.handlers import HANDLERS, Outcome
from okr.idempotency import KWARG as IDEMPOTENCY_KWARG
from okr.idempotency import IdempotencyEntry, IdempotencyRecorder, persistence_env
from okr.lookups import Lookups, parse_id

ROLES = ("admin", "lead", "member", "viewer")
MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class CommandResult:
    """What a command wrote: the main aggregate id, the log position, warnings, extra ids."""

    id: UUID
    position: int
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)
    replayed: bool = False

    def as_record(self) -> dict[str, Any]:
        return {"id": str(self.id), "warnings": list(self.warnings), "extra": dict(self.extra)}


def _fingerprint(command: str, args: Mapping[str, Any]) -> str:
    blob = json.dumps({"command": command, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class OkrApplication(Lookups, Application[UUID]):
    """The write side. Construct with `env` from Settings.eventsourcing_env()."""

    name = "OKR"
    snapshotting_intervals = {  # noqa: RUF012
        Objective: 100,
        Task: 100,
        Team: 100,
        Cycle: 100,
        CycleIndex: 100,
        ChildrenIndex: 100,
    }

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        retries: int = 20,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        env = dict(env or {})
        interval = env.pop("OKR_SNAPSHOT_INTERVAL", None)
        if interval:
            self.snapshotting_intervals = dict.fromkeys(  # type: ignore[misc]
                (Objective, Task, Team, Cycle, CycleIndex, ChildrenIndex), int(interval)
            )
        module = env.get("PERSISTENCE_MODULE") or os.environ.get("PERSISTENCE_MODULE", "")
        for name, value in persistence_env(module).items():  # idempotency beside the events
            if name == "PERSISTENCE_MODULE" or name not in env:
                env[name] = value
        Lookups.__init__(self)
        Application.__init__(self, env)
        self.retries = retries
        # Commands of one process take turns: the store serialises appends anyway (SQLite's
        # single writer, PostgreSQL's table lock), and in-process conflicts then never happen.
        # Other processes' conflicts are retried.
        self._write_lock = threading.RLock()
        self._commit_listeners: list[Callable[[int], None]] = []
        if on_commit is not None:
            self._commit_listeners.append(on_commit)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(KeyResultAsDict())

    # ------------------------------------------------------------------ plumbing
    def add_commit_listener(self, listener: Callable[[int], None]) -> None:
        """Called with the new max position after every successful write (wakes runners)."""
        self._commit_listeners.append(listener)

    def remove_commit_listener(self, listener: Callable[[int], None]) -> None:
        with contextlib.suppress(ValueError):
            self._commit_listeners.remove(listener)

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def execute(self, command: Command, idempotency_key: str | None = None) -> CommandResult:
        """Runs one command under the current RequestContext (see the module docstring)."""
        handler = HANDLERS[type(command)]
        return self._run(command, idempotency_key, lambda: handler(self, command))

    def _run(
        self, command: Command, idempotency_key: str | None, body: Callable[[], Outcome]
    ) -> CommandResult:
        outer = current_context()
        authorize_role(outer, type(command).roles)
        key = self._check_key(idempotency_key)
        name = command.command_name
        with request_context(new_command_context(outer)) as ctx:
            record_id = IdempotencyRecord.id_for(ctx.org_id, ctx.actor, key) if key else None
            fingerprint = _fingerprint(name, command.args()) if key else ""
            attempt = 0
            while True:
                attempt += 1
                with self._write_lock:
                    result = self._attempt(name, key, record_id, fingerprint, body)
                if isinstance(result, CommandResult):
                    return result
                if attempt >= self.retries:
                    raise ConcurrencyConflictError(
                        f"{name} still conflicted after {plural(attempt, 'attempt')}; nothing"
                        " was written — retry the request"
                    ) from result
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))

    def _attempt(
        self,
        command: str,
        key: str | None,
        record_id: UUID | None,
        fingerprint: str,
        body: Callable[[], Outcome],
    ) -> CommandResult | Exception:
        """One try: the result, or the storage conflict that calls for another try."""
        if record_id is not None:
            replay = self._replay(record_id, command, fingerprint)
            if replay is not None:
                return replay
        outcome = body()
        to_save: list[OkrAggregate] = list(outcome.save)
        entry = None
        if record_id is not None and key is not None:
            result = {"id": str(outcome.id), "warnings": outcome.warnings, "extra": outcome.extra}
            entry = IdempotencyEntry(record_id, command, fingerprint, result)
        try:
            recordings = self._save_aggregates(to_save, entry)
        except (IntegrityError, OperationalError) as exc:
            # IntegrityError: another writer got there first. OperationalError: SQLite's
            # "database is locked" under contention. Either way nothing was written; the
            # cached copies may be stale, so the next try reads them from the store.
            for aggregate in to_save:
                self.evict(aggregate.id)
            return exc
        position = max(r.notification.id for r in recordings)
        for listener in self._commit_listeners:
            listener(position)
        return CommandResult(
            id=outcome.id, position=position, warnings=tuple(outcome.warnings), extra=dict(outcome.extra)
        )

    def save_system_write(self, *aggregates: OkrAggregate) -> int:
        """Saves what the service itself decided (not a user's command: e.g. a due reminder) in
        one atomic write, like a command's, and wakes the commit listeners (in-process views and
        the live feed). Raises IntegrityError when another writer got there first."""
        with self._write_lock:
            recordings = self._save_aggregates(list(aggregates))
        position = max(r.notification.id for r in recordings)
        for listener in self._commit_listeners:
            listener(position)
        return position

    def _save_aggregates(
        self, aggregates: list[OkrAggregate], entry: IdempotencyEntry | None = None
    ) -> list[Recording[UUID]]:
        """`Application.save` for our own aggregates, minus two costs measured on the hot path:

        - no runtime-protocol isinstance checks per object (we know these are aggregates);
        - snapshots are taken from the in-memory aggregate just saved, instead of re-reading
          up to `interval` events from the store (the library's `take_snapshot`). The snapshot
          is at the aggregate's version after this save, which loads identically.
        """
        processing = ProcessingEvent[UUID]()
        if entry is not None:  # written by the recorder in the same transaction (okr.idempotency)
            processing.saved_kwargs[IDEMPOTENCY_KWARG] = entry
        for aggregate in aggregates:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        recordings = self._record(processing)
        if self.snapshots is not None:
            for aggregate in aggregates:
                interval = self.snapshotting_intervals.get(type(aggregate))
                if interval and any(
                    e.originator_id == aggregate.id and e.originator_version % interval == 0
                    for e in processing.events
                ):
                    self.snapshots.put([aggregate.Snapshot.take(aggregate)])
        return recordings

    def _check_key(self, key: str | None) -> str | None:
        if key is None:
            return None
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise ValidationError(
                f"idempotencyKey must be 1-{MAX_IDEMPOTENCY_KEY} characters", field="idempotencyKey"
            )
        return check_storable(key, "idempotencyKey")

    def _replay(self, record_id: UUID, command: str, fingerprint: str) -> CommandResult | None:
        """The first result of this key (None: the key is new). Refused for other input."""
        recorder = self.recorder
        entry = recorder.idempotency_entry(record_id) if isinstance(recorder, IdempotencyRecorder) else None
        if entry is None:
            entry = self._replay_from_log(record_id)
        if entry is None:
            return None
        if entry.command != command or entry.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                f"idempotency key was first used for {entry.command} with other input",
                field="idempotencyKey",
            )
        result = entry.result
        return CommandResult(
            id=UUID(result["id"]),
            position=entry.position,
            warnings=tuple(result.get("warnings", ())),
            extra=dict(result.get("extra", {})),
            replayed=True,
        )

    def _replay_from_log(self, record_id: UUID) -> IdempotencyEntry | None:
        """A key recorded before okr_idempotency existed: an IdempotencyRecord aggregate in the
        log, the last event of the first write's append (so its position is that write's)."""
        try:
            record: object = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyRecord)
        position = self._record_position(record_id)
        return IdempotencyEntry(
            record_id,
            record.command,
            record.fingerprint,
            record.result,
            self.max_position() if position is None else position,
        )

    def _record_position(self, record_id: UUID) -> int | None:
        """The notification id (log position) of an idempotency record's only event: one
        primary-key lookup on SQLite and PostgreSQL (the recorders offer no such query)."""
        recorder = self.recorder
        from eventsourcing.popo import POPOApplicationRecorder
        from eventsourcing.sqlite import SQLiteApplicationRecorder

        if isinstance(recorder, SQLiteApplicationRecorder):
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(
                    f"SELECT rowid FROM {recorder.events_table_name}"
                    " WHERE originator_id=? AND originator_version=1",
                    [record_id.hex],
                )
                row = c.fetchone()
                return None if row is None else int(row[0])
        if isinstance(recorder, POPOApplicationRecorder):
            index = recorder._stored_events_index.get(str(record_id), {})
            found = index.get(1)
            return None if found is None else found + 1
        try:
            from eventsourcing.postgres import PostgresApplicationRecorder
            from psycopg.sql import SQL, Identifier
        except ImportError:  # pragma: no cover - psycopg is a dependency
            return None
        if isinstance(recorder, PostgresApplicationRecorder):
            statement = SQL(
                "SELECT notification_id FROM {schema}.{table}"
                " WHERE originator_id = %s AND originator_version = 1"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(statement, [record_id])
                pg_row = curs.fetchone()
                return None if pg_row is None else int(pg_row["notification_id"])
        return None  # pragma: no cover - another store: the head covers the first write


def system_context(org_id: str, actor: str = "system") -> RequestContext:
    """An admin context for the CLI, demo and tests."""
    return RequestContext(
        org_id=org_id, actor=actor, roles=frozenset({"admin"}), correlation_id=str(uuid.uuid4())
    )


__all__ = ["ROLES", "CommandResult", "OkrApplication", "check_title", "parse_id", "system_context"]
