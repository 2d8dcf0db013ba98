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

from okr.domain import formulas as f
from okr.domain.base import OkrAggregate, check_number, check_storable, check_title
from okr.domain.context import RequestContext, current_context, new_command_context, request_context
from okr.domain.cycle import Cycle
from okr.domain.errors import (
    AlignmentCycleError,
    ConcurrencyConflictError,
    CycleNotFoundError,
    IdempotencyKeyReusedError,
    InvalidValueError,
    KeyResultNotFoundError,
    NotFoundError,
    ObjectiveNotFoundError,
    PermissionDeniedError,
    RuleViolation,
    TaskNotFoundError,
    TeamNotFoundError,
    ValidationError,
)
from okr.domain.internal import IdempotencyRecord, KeyResultIndex
from okr.domain.objective import (
    KeyResultAsDict,
    KeyResultSpec,
    Objective,
    ObjectiveState,
    ProgressSource,
)
from okr.domain.organization import Organization
from okr.domain.task import Task
from okr.domain.team import Team, TeamRole

A = TypeVar("A", bound=OkrAggregate)

ROLES = ("admin", "lead", "member", "viewer")
MAX_IDEMPOTENCY_KEY = 200
MAX_ALIGNMENT_DEPTH = 64


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
    snapshotting_intervals = {Objective: 100, Task: 100, Team: 100, Cycle: 100}  # noqa: RUF012

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
                (Objective, Task, Team, Cycle), int(interval)
            )
        super().__init__(env)
        self.retries = retries
        # Commands of one process take turns: the store serialises appends anyway (SQLite's
        # single writer, PostgreSQL's table lock), and in-process conflicts then never happen.
        # Other processes' conflicts are retried.
        self._write_lock = threading.RLock()
        self._kr_objectives: dict[UUID, UUID] = {}
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
            record_id = IdempotencyRecord.id_for(ctx.org_id, key) if key else None
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
                        f"{command} still conflicted after {attempt} attempts; nothing was"
                        " written — retry the request"
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
        # The first write's position is at or below the current maximum: waiting for this
        # position (read-your-writes) therefore still covers the first write.
        return CommandResult(
            id=UUID(result["id"]),
            position=self.max_position(),
            warnings=tuple(result.get("warnings", ())),
            extra=dict(result.get("extra", {})),
            replayed=True,
        )

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

    def objective_of_key_result(self, key_result_id: UUID | str) -> Objective:
        """Finds a KR's objective via the index saved atomically with it (no read model)."""
        kr_id = parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")
        objective_id = self._kr_objectives.get(kr_id)
        if objective_id is None:
            index = self._load(
                KeyResultIndex, KeyResultIndex.id_for(kr_id), KeyResultNotFoundError, "keyResult"
            )
            objective_id = index.objective_id
            if len(self._kr_objectives) > 100_000:
                self._kr_objectives.clear()
            self._kr_objectives[kr_id] = objective_id  # an index entry never changes
        objective = self.get_objective(objective_id)  # also checks the org
        objective.key_result(kr_id)  # removed KRs are not found
        return objective

    def org_settings(self) -> tuple[bool, int]:
        """(strict_policies, cadence_days) of the current org."""
        try:
            org_uuid = Organization.id_for(current_context().org_id)
            self._evict(org_uuid)
            org: object = self.repository.get(org_uuid)
        except AggregateNotFoundError:
            return False, 7
        assert isinstance(org, Organization)
        return org.strict_policies, org.cadence_days

    # ------------------------------------------------------------------ organization
    def configure_org(
        self, *, strict_policies: bool, cadence_days: int = 7, idempotency_key: str | None = None
    ) -> CommandResult:
        args = {"strict_policies": strict_policies, "cadence_days": cadence_days}

        def body() -> _Outcome:
            org_uuid = Organization.id_for(current_context().org_id)
            try:
                org: object = self.repository.get(org_uuid)
                assert isinstance(org, Organization)
                org.reconfigure(strict_policies, cadence_days)
            except AggregateNotFoundError:
                strict, cadence = Organization.check(strict_policies, cadence_days)
                org = Organization(strict_policies=strict, cadence_days=cadence)
            return _Outcome([org], org.id)

        return self._run("configure_org", args, idempotency_key, body)

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

    def close_cycle(self, cycle_id: UUID | str, *, idempotency_key: str | None = None) -> CommandResult:
        def body() -> _Outcome:
            cycle = self.get_cycle(cycle_id)
            cycle.close()
            return _Outcome([cycle], cycle.id)

        return self._run("close_cycle", {"cycle_id": cycle_id}, idempotency_key, body)

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
            return _Outcome([objective], objective.id)

        return self._run("draft_objective", args, idempotency_key, body, roles=("admin", "lead"))

    def _objective_command(
        self,
        command: str,
        objective_id: UUID | str,
        args: Mapping[str, Any],
        idempotency_key: str | None,
        change: Callable[[Objective], list[str] | None],
        roles: tuple[str, ...] = ("admin", "lead"),
    ) -> CommandResult:
        def body() -> _Outcome:
            objective = self.get_objective(objective_id)
            self._authorize_objective(objective)
            warnings = change(objective) or []
            return _Outcome([objective], objective.id, warnings=warnings)

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

        def change(objective: Objective) -> None:
            team = None if team_id is None else self.get_team(team_id).id
            if team is not None and team != objective.team_id:
                self._authorize_team(team)
            objective.revise(
                title=title, description=description, owner=owner, team_id=team, driver=driver, weight=weight
            )

        return self._objective_command("revise_objective", objective_id, args, idempotency_key, change)

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

        def change(objective: Objective) -> None:
            if parent_objective_id is not None and parent_key_result_id is not None:
                raise ValidationError(
                    "align to an objective or to a key result, not both", field="parentKeyResultId"
                )
            parent: Objective | None = None
            kr_id: UUID | None = None
            if parent_key_result_id is not None:
                parent = self.objective_of_key_result(parent_key_result_id)
                kr_id = parse_id(parent_key_result_id, KeyResultNotFoundError, "parentKeyResultId")
            elif parent_objective_id is not None:
                parent = self.get_objective(parent_objective_id)
            if parent is not None:
                if parent.state == ObjectiveState.ABANDONED.value:
                    raise RuleViolation("cannot align to an abandoned objective", field="parentId")
                self._check_no_cycle(objective.id, parent)
            objective.align(None if kr_id is not None or parent is None else parent.id, kr_id)

        return self._objective_command("align_objective", objective_id, args, idempotency_key, change)

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
        def change(objective: Objective) -> list[str]:
            self.get_cycle(objective.cycle_id).check_open()
            strict, _ = self.org_settings()
            return objective.activate(strict_policies=strict)

        return self._objective_command("activate_objective", objective_id, {}, idempotency_key, change)

    def close_objective(
        self, objective_id: UUID | str, *, learnings: str = "", idempotency_key: str | None = None
    ) -> CommandResult:
        def change(objective: Objective) -> None:
            objective.close(learnings)

        return self._objective_command(
            "close_objective", objective_id, {"learnings": learnings}, idempotency_key, change
        )

    def abandon_objective(
        self, objective_id: UUID | str, *, reason: str = "", idempotency_key: str | None = None
    ) -> CommandResult:
        def change(objective: Objective) -> None:
            objective.abandon(reason)

        return self._objective_command(
            "abandon_objective", objective_id, {"reason": reason}, idempotency_key, change
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
            cadence = cadence_days if cadence_days is not None else self.org_settings()[1]
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
            kr_id = objective.add_key_result(spec)
            index = KeyResultIndex(key_result_id=kr_id, objective_id=objective.id)
            return _Outcome([objective, index], kr_id, extra={"objectiveId": str(objective.id)})

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
        change: Callable[[Objective, UUID], None],
        roles: tuple[str, ...] = ("admin", "lead"),
        owner_check: bool = True,
    ) -> CommandResult:
        def body() -> _Outcome:
            objective = self.objective_of_key_result(key_result_id)
            if owner_check:
                self._authorize_objective(objective)
            kr_id = parse_id(key_result_id, KeyResultNotFoundError, "keyResultId")
            change(objective, kr_id)
            return _Outcome([objective], kr_id, extra={"objectiveId": str(objective.id)})

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
        def change(objective: Objective, kr_id: UUID) -> None:
            objective.remove_key_result(kr_id)

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
            objective.score_key_result(kr_id, score, reason)

        return self._kr_command(
            "score_key_result", key_result_id, {"score": score, "reason": reason}, idempotency_key, change
        )

    # ------------------------------------------------------------------ tasks
    def _link_target(self, key_result_id: UUID | str) -> tuple[Objective, UUID]:
        objective = self.objective_of_key_result(key_result_id)
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
            objective = self.objective_of_key_result(task.key_result_id)
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
