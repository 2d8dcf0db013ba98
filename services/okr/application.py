"""The OKR application: one method per command, on eventsourcing 9.5.

Every command:
- runs under the caller's `RequestContext` (org, actor, roles, correlation) with a fresh
  causation id, so events are stamped without any command argument carrying them;
- checks the actor's role, loads what it needs (an id of another org is simply "not found"),
  lets the aggregates check their rules, and saves every touched aggregate in one atomic write;
- retries optimistic-concurrency conflicts (bounded, with jitter), then fails writing nothing;
- with an idempotency key, saves the result atomically with the events, so repeating the key
  returns the first result and appends nothing, also after a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, OperationalError, Recording

from okr.commands import Command
from okr.domain import formulas as f
from okr.domain.base import OkrAggregate, check_number, check_storable, check_title, plural
from okr.domain.context import RequestContext, current_context, new_command_context, request_context
from okr.domain.cycle import Cycle, CycleState
from okr.domain.errors import (
    AlignmentAcrossCyclesError,
    AlignmentCycleError,
    ConcurrencyConflictError,
    CycleClosedError,
    CycleHasActiveObjectivesError,
    CycleNotActiveError,
    CycleNotFoundError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    KeyResultNotFoundError,
    NotFoundError,
    ObjectiveNotFoundError,
    PermissionDeniedError,
    PolicyViolation,
    RuleViolation,
    TaskNotFoundError,
    TeamNotFoundError,
    ValidationError,
)
from okr.domain.internal import ChildrenIndex, CycleIndex, IdempotencyRecord, KeyResultIndex
from okr.domain.objective import (
    KeyResultAsDict,
    KeyResultSpec,
    Objective,
    ObjectiveState,
    ProgressDriver,
    ProgressSource,
)
from okr.domain.organization import MAX_OBJECTIVES, MIN_OBJECTIVES, Organization
from okr.domain.task import Task
from okr.domain.team import Team, TeamRole

A = TypeVar("A", bound=OkrAggregate)

ROLES = ("admin", "lead", "member", "viewer")
MAX_IDEMPOTENCY_KEY = 200
MAX_ALIGNMENT_DEPTH = 64
COUNTED_CHILD_STATES = (ObjectiveState.ACTIVE.value, ObjectiveState.CLOSED.value)


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


@dataclass
class _Outcome:
    """What a command body hands back: aggregates to save and the result."""

    save: list[OkrAggregate]
    id: UUID
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)


def parse_id(value: UUID | str, error: type[NotFoundError], field_name: str) -> UUID:
    """Malformed ids get a typed error (never a 500)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise error(f"{field_name} {str(value)[:80]!r} is not a valid id", field=field_name) from None


def _fingerprint(command: str, args: Mapping[str, Any]) -> str:
    blob = json.dumps({"command": command, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class OkrApplication(Application[UUID]):
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
        super().__init__(env)
        self.retries = retries
        # Commands of one process take turns: the store serialises appends anyway (SQLite's
        # single writer, PostgreSQL's table lock), and in-process conflicts then never happen.
        # Other processes' conflicts are retried.
        self._write_lock = threading.RLock()
        # (org, key result id) -> objective id: index entries never change, and keying by org
        # means another org's id is never even looked up from here
        self._kr_objectives: dict[tuple[str, UUID], UUID] = {}
        # (org, cycle id) -> name of a CLOSED cycle (terminal, so safe to remember)
        self._closed_cycles: dict[tuple[str, UUID], str] = {}
        # (org, cycle id) -> name of a cycle seen ACTIVE: trusted only for ACTIVE objectives
        # (see _cycle_state)
        self._active_cycles: dict[tuple[str, UUID], str] = {}
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
        """Runs one command (okr.commands) under the current RequestContext."""
        method: Callable[..., CommandResult] = getattr(self, command.command_name)
        return method(**command.args(), idempotency_key=idempotency_key)

    def _load(self, cls: type[A], aggregate_id: UUID, error: type[NotFoundError], what: str) -> A:
        """Loads for the current org. Objectives and tasks come from the cache (a stale copy
        conflicts on save and is reloaded); everything else is read fresh, because commands
        only read it (team membership, cycle state, policies) and no save would catch staleness.
        """
        if cls not in (Objective, Task):
            self._evict(aggregate_id)
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise error(f"{what} {aggregate_id} not found", field=f"{what}Id") from None
        if not isinstance(aggregate, cls) or aggregate.org_id != current_context().org_id:
            raise error(f"{what} {aggregate_id} not found", field=f"{what}Id")
        return aggregate

    def _evict(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def _run(
        self,
        command: str,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        body: Callable[[], _Outcome],
        *,
        roles: tuple[str, ...] = ("admin",),
    ) -> CommandResult:
        outer = current_context()
        self._authorize_role(outer, roles)
        key = self._check_key(idempotency_key)
        with request_context(new_command_context(outer)) as ctx:
            record_id = IdempotencyRecord.id_for(ctx.org_id, ctx.actor, key) if key else None
            fingerprint = _fingerprint(command, args) if key else ""
            attempt = 0
            while True:
                attempt += 1
                with self._write_lock:
                    result = self._attempt(command, key, record_id, fingerprint, body)
                if isinstance(result, CommandResult):
                    return result
                if attempt >= self.retries:
                    raise ConcurrencyConflictError(
                        f"{command} still conflicted after {plural(attempt, 'attempt')}; nothing"
                        " was written — retry the request"
                    ) from result
                time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))

    def _attempt(
        self,
        command: str,
        key: str | None,
        record_id: UUID | None,
        fingerprint: str,
        body: Callable[[], _Outcome],
    ) -> CommandResult | Exception:
        """One try: the result, or the storage conflict that calls for another try."""
        if record_id is not None:
            replay = self._replay(record_id, command, fingerprint)
            if replay is not None:
                return replay
        outcome = body()
        to_save: list[OkrAggregate] = list(outcome.save)
        if record_id is not None and key is not None:
            to_save.append(
                IdempotencyRecord(
                    key=key,
                    command=command,
                    fingerprint=fingerprint,
                    result={"id": str(outcome.id), "warnings": outcome.warnings, "extra": outcome.extra},
                )
            )
        try:
            recordings = self._save_aggregates(to_save)
        except (IntegrityError, OperationalError) as exc:
            # IntegrityError: another writer got there first. OperationalError: SQLite's
            # "database is locked" under contention. Either way nothing was written; the
            # cached copies may be stale, so the next try reads them from the store.
            for aggregate in to_save:
                self._evict(aggregate.id)
            return exc
        position = max(r.notification.id for r in recordings)
        for listener in self._commit_listeners:
            listener(position)
        return CommandResult(
            id=outcome.id, position=position, warnings=tuple(outcome.warnings), extra=dict(outcome.extra)
        )

    def _save_aggregates(self, aggregates: list[OkrAggregate]) -> list[Recording[UUID]]:
        """`Application.save` for our own aggregates, minus two costs measured on the hot path:

        - no runtime-protocol isinstance checks per object (we know these are aggregates);
        - snapshots are taken from the in-memory aggregate just saved, instead of re-reading
          up to `interval` events from the store (the library's `take_snapshot`). The snapshot
          is at the aggregate's version after this save, which loads identically.
        """
        processing = ProcessingEvent[UUID]()
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
        try:
            record: object = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyRecord)
        if record.command != command or record.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                f"idempotency key was first used for {record.command} with other input",
                field="idempotencyKey",
            )
        result = record.result
        # The record was the last event of the first write's append, so its notification id
        # is that write's position (what the first call returned).
        position = self._record_position(record_id)
        return CommandResult(
            id=UUID(result["id"]),
            position=self.max_position() if position is None else position,
            warnings=tuple(result.get("warnings", ())),
            extra=dict(result.get("extra", {})),
            replayed=True,
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

    # ------------------------------------------------------------------ authorization
    @staticmethod
    def _authorize_role(ctx: RequestContext, allowed: tuple[str, ...]) -> None:
        if not set(ctx.roles) & set(allowed):
            raise PermissionDeniedError(
                f"role {'/'.join(sorted(ctx.roles)) or 'none'} may not do this (needs {' or '.join(allowed)})"
            )

    def _authorize_objective(self, objective: Objective) -> None:
        """admin: any objective; lead: their teams' objectives and their own."""
        ctx = current_context()
        if "admin" in ctx.roles:
            return
        if "lead" in ctx.roles:
            if objective.owner == ctx.actor:
                return
            if objective.team_id is not None:
                team = self._load(Team, objective.team_id, TeamNotFoundError, "team")
                if team.members.get(ctx.actor) == TeamRole.LEAD.value:
                    return
        raise PermissionDeniedError("only an admin or a lead of the owning team may change this")

    def _authorize_check_in(self, objective: Objective) -> None:
        """admin: any key result; others: key results of objectives of their own teams (member
        or lead) or of objectives they own — or any, when the org opened check-ins to all."""
        ctx = current_context()
        if "admin" in ctx.roles or objective.owner == ctx.actor:
            return
        if objective.team_id is not None:
            with contextlib.suppress(NotFoundError):
                team = self._load(Team, objective.team_id, TeamNotFoundError, "team")
                if ctx.actor in team.members:
                    return
        org = self._organization()
        if org is not None and getattr(org, "check_ins_open_to_all", False):
            return
        raise PermissionDeniedError(
            "only members of the objective's team, its owner or an admin may check in here"
            " (the org has not opened check-ins to everyone: configureOrg checkInsOpenToAll)"
        )

    def _authorize_team(self, team_id: UUID | None) -> None:
        ctx = current_context()
        if "admin" in ctx.roles or team_id is None:
            if "admin" not in ctx.roles:
                raise PermissionDeniedError("only an admin may create objectives without a team")
            return
        team = self._load(Team, team_id, TeamNotFoundError, "team")
        if team.members.get(ctx.actor) != TeamRole.LEAD.value:
            raise PermissionDeniedError("only an admin or a lead of that team may do this")

    # ------------------------------------------------------------------ lookups
    def get_cycle(self, cycle_id: UUID | str) -> Cycle:
        return self._load(
            Cycle, parse_id(cycle_id, CycleNotFoundError, "cycleId"), CycleNotFoundError, "cycle"
        )

    def get_team(self, team_id: UUID | str) -> Team:
        return self._load(Team, parse_id(team_id, TeamNotFoundError, "teamId"), TeamNotFoundError, "team")

    def get_objective(self, objective_id: UUID | str) -> Objective:
        oid = parse_id(objective_id, ObjectiveNotFoundError, "objectiveId")
        return self._load(Objective, oid, ObjectiveNotFoundError, "objective")

    def get_task(self, task_id: UUID | str) -> Task:
        return self._load(Task, parse_id(task_id, TaskNotFoundError, "taskId"), TaskNotFoundError, "task")

    def objective_of_key_result(
        self, key_result_id: UUID | str, field_name: str = "keyResultId"
    ) -> Objective:
        """Finds a KR's objective via the index saved atomically with it (no read model).

        Every failure is KEY_RESULT_NOT_FOUND naming only the id the client sent: another
        org's key result (or its objective) is indistinguishable from one that never existed.
        """
        kr_id = parse_id(key_result_id, KeyResultNotFoundError, field_name)
        org_id = current_context().org_id
        not_found = KeyResultNotFoundError(f"key result {kr_id} not found", field=field_name)
        objective_id = self._kr_objectives.get((org_id, kr_id))
        if objective_id is None:
            try:
                index: object = self.repository.get(KeyResultIndex.id_for(kr_id))
            except AggregateNotFoundError:
                raise not_found from None
            if not isinstance(index, KeyResultIndex) or index.org_id != org_id:
                raise not_found
            objective_id = index.objective_id
            if len(self._kr_objectives) > 100_000:
                self._kr_objectives.clear()
            self._kr_objectives[(org_id, kr_id)] = objective_id  # an index entry never changes
        try:
            objective = self._load(Objective, objective_id, ObjectiveNotFoundError, "objective")
        except NotFoundError:
            raise not_found from None
        if str(kr_id) not in objective.key_results:  # removed KRs are not found
            raise not_found
        return objective

    def _organization(self) -> Organization | None:
        try:
            org_uuid = Organization.id_for(current_context().org_id)
            self._evict(org_uuid)
            org: object = self.repository.get(org_uuid)
        except AggregateNotFoundError:
            return None
        assert isinstance(org, Organization)
        return org

    def org_settings(self) -> tuple[bool, int]:
        """(strict_policies, cadence_days) of the current org."""
        org = self._organization()
        if org is None:
            return False, 7
        return org.strict_policies, org.cadence_days

    # ------------------------------------------------------------------ organization
    def configure_org(
        self,
        *,
        strict_policies: bool | None = None,
        cadence_days: int | None = None,
        check_ins_open_to_all: bool | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Changes only the settings given (None keeps the current value; a new org starts from
        strict_policies=False, cadence_days=7, check_ins_open_to_all=False)."""
        args = {
            "strict_policies": strict_policies,
            "cadence_days": cadence_days,
            "check_ins_open_to_all": check_ins_open_to_all,
        }

        def body() -> _Outcome:
            org = self._organization()
            if org is not None:
                org.reconfigure(strict_policies, cadence_days, check_ins_open_to_all)
            else:
                strict, cadence, open_to_all = Organization.check(
                    False if strict_policies is None else strict_policies,
                    7 if cadence_days is None else cadence_days,
                    False if check_ins_open_to_all is None else check_ins_open_to_all,
                )
                org = Organization(
                    strict_policies=strict, cadence_days=cadence, check_ins_open_to_all=open_to_all
                )
            return _Outcome([org], org.id)

        return self._run("configure_org", args, idempotency_key, body)

    # ------------------------------------------------------------------ write-side indexes
    def _cycle_index(self, cycle_id: UUID) -> CycleIndex:
        """The cycle's objective index, read fresh (a new, unsaved one if it has none yet)."""
        index_id = CycleIndex.id_for(cycle_id)
        self._evict(index_id)
        try:
            index: object = self.repository.get(index_id)
        except AggregateNotFoundError:
            return CycleIndex(cycle_id=cycle_id)
        assert isinstance(index, CycleIndex)
        return index

    def _index_objectives(self, objectives: list[Objective]) -> list[OkrAggregate]:
        """Records each objective's team and state in its cycle's index; returns the indexes
        that changed (to save in the same write)."""
        indexes: dict[UUID, CycleIndex] = {}
        for objective in objectives:
            index = indexes.get(objective.cycle_id) or self._cycle_index(objective.cycle_id)
            indexes[objective.cycle_id] = index
            index.record(objective.id, objective.team_id, objective.state)
        return [i for i in indexes.values() if i.pending_events]

    def _children_index(self, parent_id: UUID) -> ChildrenIndex | None:
        index_id = ChildrenIndex.id_for(parent_id)
        self._evict(index_id)
        try:
            index: object = self.repository.get(index_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(index, ChildrenIndex)
        return index

    def _children_of(self, parent: Objective, known: Mapping[UUID, Objective]) -> list[Objective]:
        """The parent's counted children (ACTIVE or CLOSED, aligned to it or to one of its
        current key results); `known` holds copies this command already changed."""
        index = self._children_index(parent.id)
        if index is None:
            return []
        children: list[Objective] = []
        for child_key, kr_key in sorted(index.children.items()):
            if kr_key is not None and kr_key not in parent.key_results:
                continue  # aligned under a key result that was removed since
            child_id = UUID(child_key)
            child = known.get(child_id)
            if child is None:
                try:
                    child = self._load(Objective, child_id, ObjectiveNotFoundError, "objective")
                except NotFoundError:
                    continue
            if child.state in COUNTED_CHILD_STATES:
                children.append(child)
        return children

    def _rollup(self, objective: Objective, known: Mapping[UUID, Objective], stack: frozenset[UUID]) -> float:
        """Progress per driver, with the aligned children's progress (bounded depth)."""
        if objective.driver == ProgressDriver.KEY_RESULTS.value or len(stack) >= MAX_ALIGNMENT_DEPTH:
            return objective.rollup_progress([])
        inner = stack | {objective.id}
        pairs = [
            (self._rollup(child, known, inner), child.weight)
            for child in self._children_of(objective, known)
            if child.id not in inner
        ]
        return objective.rollup_progress(pairs)

    def _child_scores(
        self, parent: Objective, known: Mapping[UUID, Objective] | None = None
    ) -> list[tuple[float, float]]:
        """(score, weight) of the parent's counted children: a closed child's closing score, an
        open child's default score (its progress rounded to 0.1)."""
        if parent.driver == ProgressDriver.KEY_RESULTS.value:
            return []
        known = known or {}
        pairs: list[tuple[float, float]] = []
        for child in self._children_of(parent, known):
            if child.id == parent.id:
                continue
            if child.state == ObjectiveState.CLOSED.value and child.closing_score is not None:
                pairs.append((child.closing_score, child.weight))
            else:
                progress = self._rollup(child, known, frozenset({parent.id}))
                pairs.append((f.default_score(progress), child.weight))
        return pairs

    # ------------------------------------------------------------------ frozen cycles
    def _cycle_state(self, objective: Objective) -> tuple[str, str]:
        """(state, name) of an objective's cycle. CLOSED is terminal, so it is remembered. An
        ACTIVE cycle is remembered too, but trusted only for an ACTIVE objective (the hot path of
        check-ins): closing a cycle writes to each of its active objectives (or is refused), so
        a command on a stale copy conflicts on save and its retry sees the objective closed.
        Everything else reads the cycle fresh (another process may have started or closed it)."""
        key = (current_context().org_id, objective.cycle_id)
        name = self._closed_cycles.get(key)
        if name is not None:
            return CycleState.CLOSED.value, name
        if objective.state == ObjectiveState.ACTIVE.value:
            name = self._active_cycles.get(key)
            if name is not None:
                return CycleState.ACTIVE.value, name
        cycle = self._load(Cycle, objective.cycle_id, CycleNotFoundError, "cycle")
        if len(self._closed_cycles) + len(self._active_cycles) > 100_000:
            self._closed_cycles.clear()
            self._active_cycles.clear()
        if cycle.is_closed:
            self._active_cycles.pop(key, None)
            self._closed_cycles[key] = cycle.name
        elif cycle.state == CycleState.ACTIVE.value:
            self._active_cycles[key] = cycle.name
        return cycle.state, cycle.name

    def _is_frozen(self, objective: Objective) -> bool:
        return self._cycle_state(objective)[0] == CycleState.CLOSED.value

    def _check_not_frozen(self, objective: Objective, field_name: str | None = None) -> None:
        """Objectives of a closed cycle are frozen: no check-ins, key-result changes, scores,
        revisions, alignments, activations or newly linked tasks."""
        state, name = self._cycle_state(objective)
        if state == CycleState.CLOSED.value:
            raise CycleClosedError(
                f"cycle {name} is closed: its objectives accept no changes", field=field_name
            )

    def _check_cycle_accepts_check_ins(self, objective: Objective) -> None:
        state, name = self._cycle_state(objective)
        if state == CycleState.CLOSED.value:
            raise CycleClosedError(
                f"cycle {name} is closed: its key results accept no check-ins", field="keyResultId"
            )
        if state == CycleState.PLANNED.value:
            raise CycleNotActiveError(
                f"cycle {name} is PLANNED: check-ins start when the cycle starts", field="keyResultId"
            )

    # ------------------------------------------------------------------ cycles
    def schedule_cycle(
        self, *, name: str, start: date, end: date, idempotency_key: str | None = None
    ) -> CommandResult:
        args = {"name": name, "start": start, "end": end}

        def body() -> _Outcome:
            cycle = Cycle.schedule(name, start, end)
            return _Outcome([cycle], cycle.id)

        return self._run("schedule_cycle", args, idempotency_key, body)

    def start_cycle(self, cycle_id: UUID | str, *, idempotency_key: str | None = None) -> CommandResult:
        def body() -> _Outcome:
            cycle = self.get_cycle(cycle_id)
            cycle.start_cycle()
            return _Outcome([cycle], cycle.id)

        return self._run("start_cycle", {"cycle_id": cycle_id}, idempotency_key, body)

    def close_cycle(
        self,
        cycle_id: UUID | str,
        *,
        close_active_objectives: bool = False,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Closes (freezes) a cycle. Refused while objectives are ACTIVE
        (CYCLE_HAS_ACTIVE_OBJECTIVES, naming each) unless `close_active_objectives`: then each
        is closed and scored in the same atomic write (children before their parents, so a
        parent's score sees its children's closing scores)."""
        args = {"cycle_id": cycle_id, "close_active_objectives": close_active_objectives}

        def body() -> _Outcome:
            if not isinstance(close_active_objectives, bool):
                raise ValidationError(
                    "closeActiveObjectives must be a boolean", field="closeActiveObjectives"
                )
            cycle = self.get_cycle(cycle_id)
            cycle.check_open()
            index = self._cycle_index(cycle.id)
            active: dict[UUID, Objective] = {}
            for oid in index.with_state(ObjectiveState.ACTIVE.value):
                try:
                    objective = self._load(Objective, oid, ObjectiveNotFoundError, "objective")
                except NotFoundError:  # pragma: no cover - the index only lists this org's
                    continue
                if objective.state == ObjectiveState.ACTIVE.value:
                    active[oid] = objective
                else:  # pragma: no cover - the index is saved with every state change
                    index.record(objective.id, objective.team_id, objective.state)
            if active and not close_active_objectives:
                listed = "; ".join(f'"{o.title}" ({o.id})' for o in active.values())
                raise CycleHasActiveObjectivesError(
                    f"cycle {cycle.name} has {plural(len(active), 'active objective')}: {listed};"
                    " close them first, or pass closeActiveObjectives: true to close and score"
                    " them with the cycle",
                    field="cycleId",
                )
            order: list[Objective] = []
            visited: set[UUID] = set()

            def visit(objective: Objective) -> None:  # children first
                visited.add(objective.id)
                children = self._children_index(objective.id)
                for child_key in sorted(children.children) if children is not None else []:
                    child = active.get(UUID(child_key))
                    if child is not None and child.id not in visited:
                        visit(child)
                order.append(objective)

            for objective in active.values():
                if objective.id not in visited:
                    visit(objective)
            for objective in order:
                objective.close("", self._child_scores(objective, active))
                index.record(objective.id, objective.team_id, objective.state)
            cycle.close()
            self._active_cycles.pop((current_context().org_id, cycle.id), None)
            to_save: list[OkrAggregate] = [*order]
            if index.objectives:  # (an empty cycle gets no index)
                index.seal()  # conflicts with a concurrent draft/activation recorded here
                to_save.append(index)
            to_save.append(cycle)
            return _Outcome(to_save, cycle.id, extra={"closedObjectives": ",".join(str(o.id) for o in order)})

        return self._run("close_cycle", args, idempotency_key, body)

    # ------------------------------------------------------------------ teams
    def create_team(
        self,
        *,
        name: str,
        parent_team_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {"name": name, "parent_team_id": parent_team_id}

        def body() -> _Outcome:
            parent = None if parent_team_id is None else self.get_team(parent_team_id).id
            team = Team.create(name, parent)
            return _Outcome([team], team.id)

        return self._run("create_team", args, idempotency_key, body)

    def add_team_member(
        self,
        team_id: UUID | str,
        *,
        user_id: str,
        role: str = TeamRole.MEMBER.value,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {"team_id": team_id, "user_id": user_id, "role": role}

        def body() -> _Outcome:
            team = self.get_team(team_id)
            team.add_member(user_id, role)
            return _Outcome([team], team.id)

        return self._run("add_team_member", args, idempotency_key, body)

    def remove_team_member(
        self, team_id: UUID | str, *, user_id: str, idempotency_key: str | None = None
    ) -> CommandResult:
        args = {"team_id": team_id, "user_id": user_id}

        def body() -> _Outcome:
            team = self.get_team(team_id)
            team.remove_member(user_id)
            return _Outcome([team], team.id)

        return self._run("remove_team_member", args, idempotency_key, body)

    # ------------------------------------------------------------------ objectives
    def draft_objective(
        self,
        *,
        cycle_id: UUID | str,
        title: str,
        team_id: UUID | str | None = None,
        owner: str | None = None,
        description: str = "",
        driver: str = "KEY_RESULTS",
        weight: float = 1.0,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {
            "cycle_id": cycle_id,
            "title": title,
            "team_id": team_id,
            "owner": owner,
            "description": description,
            "driver": driver,
            "weight": weight,
        }

        def body() -> _Outcome:
            cycle = self.get_cycle(cycle_id)
            cycle.check_open()
            team = None if team_id is None else self.get_team(team_id).id
            self._authorize_team(team)
            objective = Objective.draft(
                cycle_id=cycle.id,
                team_id=team,
                owner=owner if owner is not None else current_context().actor,
                title=title,
                description=description,
                driver=driver,
                weight=weight,
            )
            return _Outcome([objective, *self._index_objectives([objective])], objective.id)

        return self._run("draft_objective", args, idempotency_key, body, roles=("admin", "lead"))

    def _objective_command(
        self,
        command: str,
        objective_id: UUID | str,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        change: Callable[[Objective], list[str] | list[OkrAggregate] | None],
        roles: tuple[str, ...] = ("admin", "lead"),
        frozen_ok: bool = False,
    ) -> CommandResult:
        """`change` returns warnings (str) and/or further aggregates to save; the cycle's index
        follows the objective's team and state in the same write. Unless `frozen_ok`, an
        objective of a closed cycle is refused (CYCLE_CLOSED)."""

        def body() -> _Outcome:
            objective = self.get_objective(objective_id)
            self._authorize_objective(objective)
            if not frozen_ok:
                self._check_not_frozen(objective, "objectiveId")
            returned = change(objective) or []
            warnings = [w for w in returned if isinstance(w, str)]
            extra = [a for a in returned if isinstance(a, OkrAggregate)]
            to_save: list[OkrAggregate] = [objective, *extra, *self._index_objectives([objective])]
            return _Outcome(to_save, objective.id, warnings=warnings)

        return self._run(command, {"objective_id": objective_id, **args}, idempotency_key, body, roles=roles)

    def revise_objective(
        self,
        objective_id: UUID | str,
        *,
        title: str | None = None,
        description: str | None = None,
        owner: str | None = None,
        team_id: UUID | str | None = None,
        driver: str | None = None,
        weight: float | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {
            "title": title,
            "description": description,
            "owner": owner,
            "team_id": team_id,
            "driver": driver,
            "weight": weight,
        }

        def change(objective: Objective) -> list[str]:
            team = None if team_id is None else self.get_team(team_id)
            warnings: list[str] = []
            strict, _ = self.org_settings()
            if team is not None and team.id != objective.team_id:
                self._authorize_team(team.id)
                if objective.state == ObjectiveState.ACTIVE.value:
                    index = self._cycle_index(objective.cycle_id)
                    warnings, violations = self._team_policy(team, index.active_count(team.id) + 1, strict)
                    if violations:
                        raise PolicyViolation("; ".join(violations), field="teamId")
            objective.revise(
                title=title,
                description=description,
                owner=owner,
                team_id=None if team is None else team.id,
                driver=driver,
                weight=weight,
                strict_policies=strict,
            )
            return warnings

        return self._objective_command("revise_objective", objective_id, args, idempotency_key, change)

    @staticmethod
    def _team_policy(team: Team, active_after: int, strict: bool) -> tuple[list[str], list[str]]:
        """(warnings, violations) of a team's active-objective count in a cycle (3-5). Strict
        orgs refuse a 6th; fewer than 3 stays a warning (it is reached one activation at a
        time)."""
        if MIN_OBJECTIVES <= active_after <= MAX_OBJECTIVES:
            return [], []
        counted = plural(active_after, "active objective")
        warning = (
            f"OBJECTIVE_COUNT: team {team.name} has {counted} in this cycle;"
            f" {MIN_OBJECTIVES}-{MAX_OBJECTIVES} keep a team focused"
        )
        if strict and active_after > MAX_OBJECTIVES:
            return [warning], [
                f"OBJECTIVE_COUNT: team {team.name} would have {counted} in this cycle;"
                f" the org's strict policies allow at most {MAX_OBJECTIVES}"
            ]
        return [warning], []

    def align_objective(
        self,
        objective_id: UUID | str,
        *,
        parent_objective_id: UUID | str | None = None,
        parent_key_result_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Aligns under an objective or a key result of the same org; None for both unaligns."""
        args = {"parent_objective_id": parent_objective_id, "parent_key_result_id": parent_key_result_id}

        def change(objective: Objective) -> list[OkrAggregate]:
            if parent_objective_id is not None and parent_key_result_id is not None:
                raise ValidationError(
                    "align to an objective or to a key result, not both", field="parentKeyResultId"
                )
            parent: Objective | None = None
            kr_id: UUID | None = None
            field_name = "parentObjectiveId"
            if parent_key_result_id is not None:
                field_name = "parentKeyResultId"
                parent = self.objective_of_key_result(parent_key_result_id, field_name)
                kr_id = parse_id(parent_key_result_id, KeyResultNotFoundError, field_name)
            elif parent_objective_id is not None:
                pid = parse_id(parent_objective_id, ObjectiveNotFoundError, field_name)
                try:
                    parent = self._load(Objective, pid, ObjectiveNotFoundError, "objective")
                except NotFoundError:
                    raise ObjectiveNotFoundError(f"objective {pid} not found", field=field_name) from None
            if parent is not None:
                if parent.state == ObjectiveState.ABANDONED.value:
                    raise RuleViolation("cannot align to an abandoned objective", field=field_name)
                if parent.cycle_id != objective.cycle_id:
                    raise AlignmentAcrossCyclesError(
                        "the parent belongs to another cycle: an objective aligns only under an"
                        " objective or key result of its own cycle",
                        field=field_name,
                    )
                self._check_no_cycle(objective.id, parent)
            old_parent = self._parent_id(objective)
            objective.align(None if kr_id is not None or parent is None else parent.id, kr_id)
            changed: list[OkrAggregate] = []
            old_index: ChildrenIndex | None = None
            if old_parent is not None:
                old_index = self._children_index(old_parent)
                if old_index is not None:
                    old_index.remove(objective.id)
                    changed.append(old_index)
            if parent is not None:
                new_index = (
                    old_index
                    if old_parent == parent.id and old_index is not None
                    else self._children_index(parent.id) or ChildrenIndex(parent_objective_id=parent.id)
                )
                new_index.add(objective.id, kr_id)
                if new_index not in changed:
                    changed.append(new_index)
            return [i for i in changed if i.pending_events]

        return self._objective_command("align_objective", objective_id, args, idempotency_key, change)

    def _parent_id(self, objective: Objective) -> UUID | None:
        """The objective its current parent is (the owner of the parent key result)."""
        if objective.parent_objective_id is not None:
            return objective.parent_objective_id
        if objective.parent_key_result_id is not None:
            org_id = current_context().org_id
            cached = self._kr_objectives.get((org_id, objective.parent_key_result_id))
            if cached is not None:
                return cached
            try:
                index: object = self.repository.get(KeyResultIndex.id_for(objective.parent_key_result_id))
            except AggregateNotFoundError:  # pragma: no cover - saved with the key result
                return None
            if isinstance(index, KeyResultIndex) and index.org_id == org_id:
                return index.objective_id
        return None

    def _check_no_cycle(self, child_id: UUID, parent: Objective) -> None:
        seen: set[UUID] = set()
        node: Objective | None = parent
        depth = 0
        while node is not None:
            if node.id == child_id:
                raise AlignmentCycleError(
                    "that alignment would make the objective its own ancestor", field="parentId"
                )
            if node.id in seen or depth > MAX_ALIGNMENT_DEPTH:
                raise AlignmentCycleError("alignment chain too deep or cyclic", field="parentId")
            seen.add(node.id)
            depth += 1
            next_id = node.parent_objective_id
            if node.parent_key_result_id is not None:
                index: object = self.repository.get(KeyResultIndex.id_for(node.parent_key_result_id))
                assert isinstance(index, KeyResultIndex)
                next_id = index.objective_id
            if next_id is None:
                return
            self._evict(next_id)
            loaded: object = self.repository.get(next_id)
            node = loaded if isinstance(loaded, Objective) else None

    def activate_objective(
        self, objective_id: UUID | str, *, idempotency_key: str | None = None
    ) -> CommandResult:
        """DRAFT -> ACTIVE. Warnings: the key-result count (2-4) and the team's active
        objectives in the cycle (3-5); strict orgs refuse a key-result count out of range and a
        team's 6th active objective (POLICY_VIOLATION)."""

        def change(objective: Objective) -> list[str]:
            self.get_cycle(objective.cycle_id).check_open()
            strict, _ = self.org_settings()
            team_warnings: list[str] = []
            team_violations: list[str] = []
            if objective.team_id is not None and objective.state == ObjectiveState.DRAFT.value:
                team = self._load(Team, objective.team_id, TeamNotFoundError, "team")
                index = self._cycle_index(objective.cycle_id)
                others = index.active_count(team.id) - (
                    1 if index.entry(objective.id) == (str(team.id), ObjectiveState.ACTIVE.value) else 0
                )
                team_warnings, team_violations = self._team_policy(team, others + 1, strict)
            return objective.activate(
                strict_policies=strict, team_warnings=team_warnings, team_violations=team_violations
            )

        return self._objective_command("activate_objective", objective_id, {}, idempotency_key, change)

    def close_objective(
        self, objective_id: UUID | str, *, learnings: str = "", idempotency_key: str | None = None
    ) -> CommandResult:
        """Scores unscored key results with their defaults and closes with the score per driver
        (aligned children's scores for ALIGNED_OBJECTIVES and BOTH)."""

        def change(objective: Objective) -> None:
            objective.check_active()
            objective.close(learnings, self._child_scores(objective))

        return self._objective_command(
            "close_objective",
            objective_id,
            {"learnings": learnings},
            idempotency_key,
            change,
            frozen_ok=True,
        )

    def score_objective(
        self,
        objective_id: UUID | str,
        *,
        score: float,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Overrides a CLOSED objective's score (0.0-1.0); a reason is required when it differs
        from the computed score. Refused once the cycle is closed (its scores are final)."""

        def change(objective: Objective) -> None:
            objective.score_objective(score, reason, self._child_scores(objective))

        return self._objective_command(
            "score_objective", objective_id, {"score": score, "reason": reason}, idempotency_key, change
        )

    def abandon_objective(
        self, objective_id: UUID | str, *, reason: str = "", idempotency_key: str | None = None
    ) -> CommandResult:
        def change(objective: Objective) -> None:
            objective.abandon(reason)

        return self._objective_command(
            "abandon_objective", objective_id, {"reason": reason}, idempotency_key, change, frozen_ok=True
        )

    def carry_over_objective(
        self,
        objective_id: UUID | str,
        *,
        target_cycle_id: UUID | str,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Drafts a copy in the target cycle with the unfinished KRs, starting at their last value."""
        args = {"objective_id": objective_id, "target_cycle_id": target_cycle_id}

        def body() -> _Outcome:
            source = self.get_objective(objective_id)
            self._authorize_objective(source)
            target_cycle = self.get_cycle(target_cycle_id)
            target_cycle.check_open()
            if target_cycle.id == source.cycle_id:
                raise ValidationError("carry over into another cycle", field="targetCycleId")
            unfinished = source.unfinished_key_results()
            if not unfinished:
                raise RuleViolation("every key result is finished: nothing to carry over")
            copy = Objective.draft(
                cycle_id=target_cycle.id,
                team_id=source.team_id,
                owner=source.owner,
                title=source.title,
                description=source.description,
                driver=source.driver,
                weight=source.weight,
                carried_over_from=source.id,
            )
            indexes: list[OkrAggregate] = []
            for kr in unfinished:
                spec = (
                    KeyResultSpec.build(
                        title=kr.title,
                        kind=kr.kind,
                        start=kr.current if f.KeyResultKind(kr.kind) in f.NUMERIC_KINDS else kr.start,
                        target=kr.target,
                        unit=kr.unit,
                        weight=kr.weight,
                        source=kr.source,
                        cadence_days=kr.cadence_days,
                        direction=None if f.KeyResultKind(kr.kind) in f.NUMERIC_KINDS else kr.direction,
                    )
                    if kr.current != kr.target or f.KeyResultKind(kr.kind) not in f.NUMERIC_KINDS
                    else None
                )
                if spec is None:  # pragma: no cover - unfinished numeric KRs have current != target
                    continue
                new_id = copy.add_key_result(spec, current=kr.current)
                indexes.append(KeyResultIndex(key_result_id=new_id, objective_id=copy.id))
            source.mark_carried_over(copy.id, target_cycle.id)
            indexes.extend(self._index_objectives([copy]))
            return _Outcome([source, copy, *indexes], copy.id, extra={"sourceObjectiveId": str(source.id)})

        return self._run("carry_over_objective", args, idempotency_key, body, roles=("admin", "lead"))

    # ------------------------------------------------------------------ key results
    def add_key_result(
        self,
        objective_id: UUID | str,
        *,
        title: str,
        kind: str,
        start: float = 0.0,
        target: float = 1.0,
        unit: str = "",
        weight: float = 1.0,
        source: str = ProgressSource.CHECK_INS.value,
        cadence_days: int | None = None,
        direction: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {
            "title": title,
            "kind": kind,
            "start": start,
            "target": target,
            "unit": unit,
            "weight": weight,
            "source": source,
            "cadence_days": cadence_days,
            "direction": direction,
        }

        def body() -> _Outcome:
            objective = self.get_objective(objective_id)
            self._authorize_objective(objective)
            self._check_not_frozen(objective, "objectiveId")
            strict, org_cadence = self.org_settings()
            cadence = cadence_days if cadence_days is not None else org_cadence
            spec = KeyResultSpec.build(
                title=title,
                kind=kind,
                start=start,
                target=target,
                unit=unit,
                weight=weight,
                source=source,
                cadence_days=cadence,
                direction=direction,
            )
            kr_id = objective.add_key_result(spec, strict_policies=strict)
            index = KeyResultIndex(key_result_id=kr_id, objective_id=objective.id)
            return _Outcome(
                [objective, index],
                kr_id,
                warnings=objective.active_policy_warnings(),
                extra={"objectiveId": str(objective.id)},
            )

        return self._run(
            "add_key_result",
            {"objective_id": objective_id, **args},
            idempotency_key,
            body,
            roles=("admin", "lead"),
        )

    def _kr_command(
        self,
        command: str,
        key_result_id: UUID | str,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        change: Callable[[Objective, UUID], list[str] | None],
        roles: tuple[str, ...] = ("admin", "lead"),
        owner_check: bool = True,
    ) -> CommandResult:
        """Key-result commands: found by the KR's own id; objectives of a closed cycle are
        frozen (CYCLE_CLOSED); `owner_check=False` (check-ins) authorises by team instead."""

        def body() -> _Outcome:
            objective = self.objective_of_key_result(key_result_id)
            if owner_check:
                self._authorize_objective(objective)
            else:
                self._authorize_check_in(objective)
            kr_id = parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")
            self._check_not_frozen(objective, "keyResultId")
            warnings = change(objective, kr_id) or []
            return _Outcome([objective], kr_id, warnings=warnings, extra={"objectiveId": str(objective.id)})

        return self._run(
            command, {"key_result_id": key_result_id, **args}, idempotency_key, body, roles=roles
        )

    def revise_key_result(
        self,
        key_result_id: UUID | str,
        *,
        title: str | None = None,
        kind: str | None = None,
        start: float | None = None,
        target: float | None = None,
        unit: str | None = None,
        weight: float | None = None,
        source: str | None = None,
        cadence_days: int | None = None,
        direction: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {
            "title": title,
            "kind": kind,
            "start": start,
            "target": target,
            "unit": unit,
            "weight": weight,
            "source": source,
            "cadence_days": cadence_days,
            "direction": direction,
        }

        def change(objective: Objective, kr_id: UUID) -> None:
            objective.revise_key_result(kr_id, **args)

        return self._kr_command("revise_key_result", key_result_id, args, idempotency_key, change)

    def remove_key_result(
        self, key_result_id: UUID | str, *, idempotency_key: str | None = None
    ) -> CommandResult:
        def change(objective: Objective, kr_id: UUID) -> list[str]:
            strict, _ = self.org_settings()
            objective.remove_key_result(kr_id, strict_policies=strict)
            return objective.active_policy_warnings()

        return self._kr_command("remove_key_result", key_result_id, {}, idempotency_key, change)

    def check_in(
        self,
        key_result_id: UUID | str,
        *,
        value: float,
        confidence: float | None = None,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Members check in; the event stores the value before and after."""
        args = {"value": value, "confidence": confidence, "note": note}

        def change(objective: Objective, kr_id: UUID) -> None:
            self._check_cycle_accepts_check_ins(objective)
            objective.check_in(kr_id, value, confidence, note)

        return self._kr_command(
            "check_in",
            key_result_id,
            args,
            idempotency_key,
            change,
            roles=("admin", "lead", "member"),
            owner_check=False,
        )

    def score_key_result(
        self,
        key_result_id: UUID | str,
        *,
        score: float,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> CommandResult:
        def change(objective: Objective, kr_id: UUID) -> None:
            children = self._child_scores(objective) if objective.state == ObjectiveState.CLOSED.value else []
            objective.score_key_result(kr_id, score, reason, children)

        return self._kr_command(
            "score_key_result", key_result_id, {"score": score, "reason": reason}, idempotency_key, change
        )

    # ------------------------------------------------------------------ tasks
    def _link_target(self, key_result_id: UUID | str) -> tuple[Objective, UUID]:
        objective = self.objective_of_key_result(key_result_id)
        self._check_not_frozen(objective, "keyResultId")
        if objective.is_finished:
            raise RuleViolation(
                f"the key result's objective is {objective.state}; link to an open one",
                field="keyResultId",
            )
        return objective, parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")

    def create_task(
        self,
        *,
        title: str,
        key_result_id: UUID | str | None = None,
        description: str = "",
        impact: str = "MEDIUM",
        assignee: str | None = None,
        team_id: UUID | str | None = None,
        cycle_id: UUID | str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        args = {
            "title": title,
            "key_result_id": key_result_id,
            "description": description,
            "impact": impact,
            "assignee": assignee,
            "team_id": team_id,
            "cycle_id": cycle_id,
        }

        def body() -> _Outcome:
            team = None if team_id is None else self.get_team(team_id).id
            cycle = None if cycle_id is None else self.get_cycle(cycle_id).id
            objective: Objective | None = None
            kr_id: UUID | None = None
            if key_result_id is not None:
                objective, kr_id = self._link_target(key_result_id)
                cycle = objective.cycle_id
                team = team if team is not None else objective.team_id
            task = Task.create(
                title=title,
                description=description,
                impact=impact,
                assignee=assignee,
                key_result_id=kr_id,
                objective_id=None if objective is None else objective.id,
                cycle_id=cycle,
                team_id=team,
            )
            to_save: list[OkrAggregate] = [task]
            if objective is not None and kr_id is not None:
                objective.record_task(kr_id, task.id, task.weight, task.is_done)
                to_save.append(objective)
            return _Outcome(to_save, task.id)

        return self._run("create_task", args, idempotency_key, body, roles=("admin", "lead", "member"))

    def _task_command(
        self,
        command: str,
        task_id: UUID | str,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        change: Callable[[Task], list[OkrAggregate]],
    ) -> CommandResult:
        """Runs `change` on the task, then re-tallies the linked KR(s) in the same write."""

        def body() -> _Outcome:
            task = self.get_task(task_id)
            before = task.key_result_id
            extra = change(task)
            to_save: list[OkrAggregate] = [task, *extra]
            objectives = {o.id: o for o in extra if isinstance(o, Objective)}
            for kr_id in {before, task.key_result_id} - {None}:
                assert kr_id is not None
                try:
                    index: object = self.repository.get(KeyResultIndex.id_for(kr_id))
                    assert isinstance(index, KeyResultIndex)
                    objective = objectives.get(index.objective_id) or self.get_objective(index.objective_id)
                    if str(kr_id) not in objective.key_results:
                        continue  # the KR was removed since; nothing to tally
                    if objective.is_finished or self._is_frozen(objective):
                        continue  # a finished or frozen objective's key results are final
                except (AggregateNotFoundError, NotFoundError):
                    continue
                linked = kr_id == task.key_result_id and task.counts_for_progress
                objective.record_task(kr_id, task.id, task.weight if linked else None, task.is_done)
                if objective.id not in objectives:
                    objectives[objective.id] = objective
                    to_save.append(objective)
            return _Outcome(to_save, task.id)

        return self._run(
            command, {"task_id": task_id, **args}, idempotency_key, body, roles=("admin", "lead", "member")
        )

    def link_task(
        self,
        task_id: UUID | str,
        *,
        key_result_id: UUID | str | None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Links a task to a key result (None unlinks it)."""

        def change(task: Task) -> list[OkrAggregate]:
            if key_result_id is None:
                task.unlink()
                return []
            objective, kr_id = self._link_target(key_result_id)
            task.link(kr_id, objective.id, objective.cycle_id)
            return [objective]

        return self._task_command(
            "link_task", task_id, {"key_result_id": key_result_id}, idempotency_key, change
        )

    def assign_task(
        self, task_id: UUID | str, *, assignee: str | None, idempotency_key: str | None = None
    ) -> CommandResult:
        def change(task: Task) -> list[OkrAggregate]:
            task.assign(assignee)
            return []

        return self._task_command("assign_task", task_id, {"assignee": assignee}, idempotency_key, change)

    def revise_task(
        self,
        task_id: UUID | str,
        *,
        title: str | None = None,
        description: str | None = None,
        impact: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        def change(task: Task) -> list[OkrAggregate]:
            task.revise(title=title, description=description, impact=impact)
            return []

        return self._task_command(
            "revise_task",
            task_id,
            {"title": title, "description": description, "impact": impact},
            idempotency_key,
            change,
        )

    def start_task(self, task_id: UUID | str, *, idempotency_key: str | None = None) -> CommandResult:
        def change(task: Task) -> list[OkrAggregate]:
            task.start()
            return []

        return self._task_command("start_task", task_id, {}, idempotency_key, change)

    def complete_task(
        self,
        task_id: UUID | str,
        *,
        value: float | None = None,
        confidence: float | None = None,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Completes a task; with `value`, checks in its key result in the same atomic write."""
        args = {"value": value, "confidence": confidence, "note": note}

        def change(task: Task) -> list[OkrAggregate]:
            reported = None if value is None else check_number(value, "value")
            if reported is None:
                task.complete(None)
                return []
            if task.key_result_id is None:
                raise InvalidValueError(
                    "an unlinked task has no key result to report a value for", field="value"
                )
            try:
                objective = self.objective_of_key_result(task.key_result_id)
            except KeyResultNotFoundError:
                raise KeyResultNotFoundError(
                    f"the task's key result {task.key_result_id} was removed: complete it without a value",
                    field="value",
                ) from None
            self._authorize_check_in(objective)
            self._check_cycle_accepts_check_ins(objective)
            task.complete(reported)
            objective.check_in(
                task.key_result_id,
                reported,
                confidence,
                note or f"completed task: {task.title}",
                task_id=task.id,
            )
            return [objective]

        return self._task_command("complete_task", task_id, args, idempotency_key, change)

    def reopen_task(self, task_id: UUID | str, *, idempotency_key: str | None = None) -> CommandResult:
        def change(task: Task) -> list[OkrAggregate]:
            task.reopen()
            return []

        return self._task_command("reopen_task", task_id, {}, idempotency_key, change)

    def cancel_task(
        self, task_id: UUID | str, *, reason: str = "", idempotency_key: str | None = None
    ) -> CommandResult:
        def change(task: Task) -> list[OkrAggregate]:
            task.cancel(reason)
            return []

        return self._task_command("cancel_task", task_id, {"reason": reason}, idempotency_key, change)


def system_context(org_id: str, actor: str = "system") -> RequestContext:
    """An admin context for the CLI, demo and tests."""
    return RequestContext(
        org_id=org_id, actor=actor, roles=frozenset({"admin"}), correlation_id=str(uuid.uuid4())
    )


__all__ = ["ROLES", "CommandResult", "OkrApplication", "check_title", "parse_id", "system_context"]
