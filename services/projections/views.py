"""The four views (progress, check-ins, alignment, audit): tables and projection functions.

A projection is a function `(event, position, rows) -> None` that turns one event into row
changes through `Rows` — a write-back cache of one table inside one batch. Each view maps event
classes (`Objective.KeyResultCheckedIn`) to their functions, typed with the class, and names
the public event classes it ignores. Nothing here
depends on "now": status, expected progress, outdated, grade and warnings are computed at read
time (queries.py). Tables are named `proj_<table>` (live) or `proj_<table>__scratch` (rebuild).
Times are stored as integer microseconds since the epoch (UTC), ids as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

import orjson

from okr.domain import Cycle, Objective, Organization, Task, Team
from okr.domain.base import OkrAggregate
from projections._db import Tx

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

BASE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "org_id", "actor", "correlation_id", "causation_id"}
)


_last_ts: tuple[datetime | None, int] = (None, 0)


def to_micros(ts: datetime) -> int:
    """Microseconds since the epoch (memoised for the last instant: one event, several views)."""
    global _last_ts
    last = _last_ts  # one read: another thread may replace the tuple, never half of it
    if ts is last[0]:
        return last[1]
    us = (ts - EPOCH) // _MICRO
    _last_ts = (ts, us)
    return us


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_SID_CACHE: dict[object, str] = {}  # UUID.int or the text itself -> text


def sid(value: UUID | str | None) -> str | None:
    """Text form of an id (cached: str(UUID) is slow and the same ids recur in every batch)."""
    if value is None:
        return None
    number = value.int if type(value) is UUID else value  # int hashing beats UUID.__hash__
    text = _SID_CACHE.get(number)
    if text is None:
        if len(_SID_CACHE) > 200_000:
            _SID_CACHE.clear()
        text = _SID_CACHE[number] = str(value)
    return text


_PAYLOAD_KEYS: dict[type, tuple[int, tuple[str, ...]]] = {}


def payload_of(event: OkrAggregate.Event) -> dict[str, Any]:
    """The event's own fields (without the ids, version, time and audit fields)."""
    state = event.__dict__
    known = _PAYLOAD_KEYS.get(type(event))
    if known is None or known[0] != len(state):
        known = (len(state), tuple(k for k in state if k not in BASE_FIELDS))
        _PAYLOAD_KEYS[type(event)] = known
    try:
        return {k: state[k] for k in known[1]}
    except KeyError:  # same class, other fields (an upcast event): take the slow path
        return {k: v for k, v in state.items() if k not in BASE_FIELDS}


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# ---------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type)
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    def physical(self, scratch: bool = False) -> str:
        return f"proj_{self.name}__scratch" if scratch else f"proj_{self.name}"

    def create_sql(self, physical: str, dialect: str = "postgres") -> str:
        if dialect == "sqlite" and len(self.key) == 1 and dict(self.columns)[self.key[0]] == INT:
            # SQLite: an INTEGER PRIMARY KEY is the rowid itself (no second B-tree to maintain).
            cols = ", ".join(
                f"{c} INTEGER PRIMARY KEY" if c == self.key[0] else f"{c} {t}" for c, t in self.columns
            )
            return f"CREATE TABLE IF NOT EXISTS {physical} ({cols})"
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        suffix = " WITHOUT ROWID" if dialect == "sqlite" else ""
        return f"CREATE TABLE IF NOT EXISTS {physical} ({cols}, PRIMARY KEY ({', '.join(self.key)})){suffix}"

    def add_columns_sql(self, physical: str, existing: Iterable[str], dialect: str = "postgres") -> list[str]:
        """Migrations for a table created by an older release: ALTER TABLE … ADD COLUMN for every
        column it lacks (new columns start NULL; `okr replay` fills them from the log)."""
        have = {c.lower() for c in existing}
        guard = " IF NOT EXISTS" if dialect == "postgres" else ""
        return [
            f"ALTER TABLE {physical} ADD COLUMN{guard} {c} {t}"
            for c, t in self.columns
            if c.lower() not in have
        ]

    def index_name(self, cols: tuple[str, ...], scratch: bool = False) -> str:
        return f"ix_{self.physical(scratch)}_{'_'.join(cols)}"

    def index_sql(self, physical: str, scratch: bool = False) -> list[str]:
        """Index names follow the live table name (SQLite: created after a swap on rebuilt
        tables); PostgreSQL's rebuild indexes the scratch table under scratch names and renames
        the indexes at the swap (`scratch=True`)."""
        return [
            f"CREATE INDEX IF NOT EXISTS {self.index_name(cols, scratch)} ON {physical} ({', '.join(cols)})"
            for cols in self.indexes
        ]


TEXT, INT, REAL = "TEXT", "BIGINT", "DOUBLE PRECISION"

CYCLES = Table(
    "cycles",
    (("id", TEXT), ("org", TEXT), ("name", TEXT), ("start_date", TEXT), ("end_date", TEXT), ("state", TEXT)),
    ("id",),
    (("org", "start_date"),),
)
TEAMS = Table(
    "teams",
    (("id", TEXT), ("org", TEXT), ("name", TEXT), ("parent_team_id", TEXT), ("members", TEXT)),
    ("id",),
    (("org", "name"),),
)
OBJECTIVES = Table(
    "objectives",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("cycle_id", TEXT),
        ("team_id", TEXT),
        ("owner", TEXT),
        ("title", TEXT),
        ("description", TEXT),
        ("driver", TEXT),
        ("weight", REAL),
        ("state", TEXT),
        ("parent_objective_id", TEXT),
        ("parent_key_result_id", TEXT),
        ("carried_over_from", TEXT),
        ("carried_over_to", TEXT),
        ("learnings", TEXT),
        ("score", REAL),  # closing score (Closed) or the owner's override (ObjectiveScored)
        ("score_reason", TEXT),  # the override's reason
        ("activated_at", INT),
        ("created_at", INT),
        ("updated_at", INT),
        ("version", INT),
        ("seq", INT),
    ),
    ("id",),
    (("org", "seq"), ("org", "cycle_id", "seq"), ("parent_objective_id",), ("parent_key_result_id",)),
)
KEY_RESULTS = Table(
    "key_results",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("objective_id", TEXT),
        ("title", TEXT),
        ("kind", TEXT),
        ("direction", TEXT),
        ("unit", TEXT),
        ("start_value", REAL),
        ("target", REAL),
        ("current_value", REAL),
        ("weight", REAL),
        ("source", TEXT),
        ("cadence_days", INT),
        ("added_at", INT),
        ("confidence", REAL),
        ("last_check_in_at", INT),
        ("check_in_count", INT),
        ("score", REAL),
        ("score_reason", TEXT),
        ("seq", INT),
    ),
    ("id",),
    (("objective_id", "seq"),),
)
KR_TASKS = Table(
    "kr_tasks",
    (("key_result_id", TEXT), ("task_id", TEXT), ("weight", REAL), ("done", INT)),
    ("key_result_id", "task_id"),
)
CHECK_INS = Table(
    "check_ins",
    (
        ("position", INT),
        ("org", TEXT),
        ("key_result_id", TEXT),
        ("objective_id", TEXT),
        ("value_before", REAL),
        ("value", REAL),
        ("confidence", REAL),
        ("note", TEXT),
        ("author", TEXT),
        ("at", INT),
        ("task_id", TEXT),
    ),
    ("position",),
    (("key_result_id", "position"),),
)
TASKS = Table(
    "tasks",
    (
        ("id", TEXT),
        ("org", TEXT),
        ("title", TEXT),
        ("description", TEXT),
        ("impact", TEXT),
        ("assignee", TEXT),
        ("state", TEXT),
        ("key_result_id", TEXT),
        ("objective_id", TEXT),
        ("cycle_id", TEXT),
        ("team_id", TEXT),
        ("created_at", INT),
        ("updated_at", INT),
        ("seq", INT),
    ),
    ("id",),
    (("org", "seq"), ("org", "cycle_id", "seq"), ("key_result_id",)),
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


def add_missing_columns(tx: Tx, table: Table, physical: str) -> None:
    """Brings an existing table up to `table.columns` (called by `ensure_schema` after CREATE
    TABLE IF NOT EXISTS, which leaves an older table as it was)."""
    if tx.dialect == "sqlite":
        existing = [str(r[1]) for r in tx.fetchall(f"PRAGMA table_info({physical})")]
    else:
        existing = [
            str(r[0])
            for r in tx.fetchall(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                [physical],
            )
        ]
    for sql in table.add_columns_sql(physical, existing, tx.dialect):
        tx.execute(sql)


POSITIONS_SQL = (
    "CREATE TABLE IF NOT EXISTS proj_positions "
    "(view TEXT PRIMARY KEY, position BIGINT NOT NULL, applied BIGINT NOT NULL)"
)


# ---------------------------------------------------------------------------------- batch rows


SqlValue = str | int | float | None
Key = tuple[SqlValue, ...]
#: One row, column -> value. Values stay `Any`: each column has its own SQL type (text, integer,
#: real or NULL) and the projection functions do arithmetic on the numeric ones.
Row = dict[str, Any]


class Rows:
    """Write-back cache of one table within one batch: get/put/delete by key, append-only rows."""

    __slots__ = (
        "_appends",
        "_cache",
        "_deleted",
        "_dirty",
        "_k0",
        "_k1",
        "_key_idx",
        "_select",
        "physical",
        "table",
        "tx",
    )

    def __init__(self, tx: Tx, table: Table, physical: str) -> None:
        self.tx = tx
        self.table = table
        self.physical = physical
        self._cache: dict[Key, Row | None] = {}
        self._dirty: set[Key] = set()
        self._deleted: set[Key] = set()
        self._appends: list[tuple[SqlValue, ...]] = []
        self._key_idx = [table.column_names.index(k) for k in table.key]
        assert 1 <= len(table.key) <= 2
        self._k0 = table.key[0]
        self._k1 = table.key[1] if len(table.key) == 2 else None
        where = " AND ".join(f"{k} = ?" for k in table.key)
        self._select = f"SELECT {', '.join(table.column_names)} FROM {physical} WHERE {where}"

    def get(self, *key: SqlValue) -> Row | None:
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self.tx.fetchone(self._select, key)
        row = None if found is None else dict(zip(self.table.column_names, found, strict=True))
        self._cache[key] = row
        return row

    def find(self, column: str, value: SqlValue) -> list[Row]:
        """Rows whose `column` equals `value`, as this batch sees them (unflushed changes
        included). Loads the stored matches into the cache; mutate and `put` them back."""
        found = self.tx.fetchall(
            f"SELECT {', '.join(self.table.column_names)} FROM {self.physical} WHERE {column} = ?", [value]
        )
        for values in found:
            row = dict(zip(self.table.column_names, values, strict=True))
            key = tuple(row[k] for k in self.table.key)
            if key not in self._cache:
                self._cache[key] = row
        return [row for row in self._cache.values() if row is not None and row.get(column) == value]

    def put(self, row: Row) -> None:
        key = (row[self._k0],) if self._k1 is None else (row[self._k0], row[self._k1])
        self._cache[key] = row
        self._dirty.add(key)
        self._deleted.discard(key)

    def delete(self, *key: SqlValue) -> None:
        self._cache[key] = None
        self._dirty.discard(key)
        self._deleted.add(key)

    def append(self, values: tuple[SqlValue, ...]) -> None:
        """A new row (append-only tables: check-ins, audit)."""
        self._appends.append(values)

    def flush(self) -> None:
        t = self.table
        cols = t.column_names
        if self._deleted:
            where = " AND ".join(f"{k} = ?" for k in t.key)
            self.tx.executemany(f"DELETE FROM {self.physical} WHERE {where}", sorted(self._deleted))
        if self._dirty:
            rows = []
            for key in self._dirty:
                row = self._cache[key]
                assert row is not None
                rows.append(tuple(row[c] for c in cols))
            rows.sort(key=lambda r: tuple(r[i] for i in self._key_idx))  # stable lock order
            self.tx.upsert_rows(self.physical, cols, t.key, rows)
        if self._appends:
            self.tx.insert_rows(self.physical, cols, self._appends)
        self._cache.clear()
        self._dirty.clear()
        self._deleted.clear()
        self._appends.clear()


Batch = dict[str, Rows]  # table name -> its rows in this batch
Handler = Callable[[OkrAggregate.Event, int, Batch], None]
E = TypeVar("E", bound=OkrAggregate.Event)


def on(
    event_class: type[E], handler: Callable[[E, int, Batch], None]
) -> tuple[type[OkrAggregate.Event], Handler]:
    """One entry of a view's handler map: the event class and its projection function.

    A dict literal cannot tie each value's parameter type to its key; this does, so a handler
    typed for another event class is a type error (mypy), not a silent mismatch.
    """
    return event_class, cast(Handler, handler)


class View:
    """A named view: its tables and one projection function per event class.

    `by_class` is the handler map (event class -> function), `ignored` the public event classes
    the view reads nothing from, said out loud (tests/unit/test_event_handlers.py checks that
    every public event class is one or the other). `handlers` is the same map keyed by the
    classes' qualified names, resolved once here, for the log followers that decide what to
    decode from a stored topic before there is a class (`wants`). `all_events`: the audit view,
    which takes every (non-internal) event.
    """

    __slots__ = ("all_events", "by_class", "handlers", "ignored", "name", "tables")

    def __init__(
        self,
        name: str,
        tables: tuple[Table, ...],
        handlers: Iterable[tuple[type[OkrAggregate.Event], Handler]] = (),
        *,
        ignored: Iterable[type[OkrAggregate.Event]] = (),
        all_events: Handler | None = None,
    ) -> None:
        self.name = name
        self.tables = tables
        pairs = list(handlers)
        self.by_class: dict[type[OkrAggregate.Event], Handler] = dict(pairs)
        self.ignored = frozenset(ignored)
        self.all_events = all_events
        self.handlers: dict[str, Handler] = {cls.__qualname__: h for cls, h in self.by_class.items()}
        if len(self.by_class) != len(pairs) or len(self.handlers) != len(pairs):
            raise ValueError(f"view {name}: an event class (or qualified name) is handled twice")
        both = sorted(cls.__qualname__ for cls in self.ignored & self.by_class.keys())
        if both:
            raise ValueError(f"view {name}: {', '.join(both)} both handled and ignored")

    def __repr__(self) -> str:
        return f"View({self.name!r}, {len(self.by_class)} handlers)"

    def wants(self, qualname: str) -> bool:
        return self.all_events is not None or qualname in self.handlers

    def handler_for(self, event_class: type[OkrAggregate.Event]) -> Handler | None:
        return self.all_events if self.all_events is not None else self.by_class.get(event_class)

    def apply(self, event: OkrAggregate.Event, position: int, rows: Batch) -> None:
        handler = self.handler_for(type(event))
        if handler is not None:
            handler(event, position, rows)


class _KeyResultEvent(Protocol):
    """An objective event about one of its key results."""

    @property
    def key_result_id(self) -> UUID: ...


K = TypeVar("K", bound=_KeyResultEvent)


# ---------------------------------------------------------------------------------- progress


def _cycle_scheduled(e: Cycle.Scheduled, pos: int, r: Batch) -> None:
    r["cycles"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "name": e.name,
            "start_date": e.start,
            "end_date": e.end,
            "state": "PLANNED",
        }
    )


def _cycle_state(state: str) -> Handler:
    def handle(e: OkrAggregate.Event, pos: int, r: Batch) -> None:
        row = r["cycles"].get(sid(e.originator_id))
        if row is not None:
            row["state"] = state
            r["cycles"].put(row)

    return handle


def _team_created(e: Team.Created, pos: int, r: Batch) -> None:
    r["teams"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "name": e.name,
            "parent_team_id": sid(e.parent_team_id),
            "members": "{}",
        }
    )


def _team_change(change: Callable[[Row, E], None]) -> Callable[[E, int, Batch], None]:
    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["teams"].get(sid(e.originator_id))
        if row is not None:
            change(row, e)
            r["teams"].put(row)

    return handle


def _member_added(row: Row, e: Team.MemberAdded) -> None:
    members = orjson.loads(row["members"])
    members[e.user_id] = e.role
    row["members"] = dumps(members)


def _member_removed(row: Row, e: Team.MemberRemoved) -> None:
    members = orjson.loads(row["members"])
    members.pop(e.user_id, None)
    row["members"] = dumps(members)


def _renamed(row: Row, e: Team.Renamed) -> None:
    row["name"] = e.name


def _objective_drafted(e: Objective.Drafted, pos: int, r: Batch) -> None:
    ts = to_micros(e.timestamp)
    r["objectives"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "cycle_id": sid(e.cycle_id),
            "team_id": sid(e.team_id),
            "owner": e.owner,
            "title": e.title,
            "description": e.description,
            "driver": e.driver,
            "weight": float(e.weight),
            "state": "DRAFT",
            "parent_objective_id": None,
            "parent_key_result_id": None,
            "carried_over_from": sid(e.carried_over_from),
            "carried_over_to": None,
            "learnings": "",
            "score": None,
            "score_reason": None,
            "activated_at": None,
            "created_at": ts,
            "updated_at": ts,
            "version": e.originator_version,
            "seq": pos,
        }
    )


_OBJECTIVE_FIELDS = {"title", "description", "owner", "team_id", "driver", "weight"}


def _objective_event(change: Callable[[Row, E, Batch, int], None]) -> Callable[[E, int, Batch], None]:
    """Every objective event touches the objective row (updated_at, version)."""

    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["objectives"].get(sid(e.originator_id))
        if row is None:
            return
        row["updated_at"] = to_micros(e.timestamp)
        row["version"] = e.originator_version
        change(row, e, r, pos)
        r["objectives"].put(row)

    return handle


def _objective_revised(row: Row, e: Objective.Revised, r: Batch, pos: int) -> None:
    for key, value in e.changes.items():
        if key in _OBJECTIVE_FIELDS:
            row[key] = sid(value) if key == "team_id" else float(value) if key == "weight" else value


def _aligned(row: Row, e: Objective.Aligned, r: Batch, pos: int) -> None:
    row["parent_objective_id"] = sid(e.parent_objective_id)
    row["parent_key_result_id"] = sid(e.parent_key_result_id)


def _activated(row: Row, e: Objective.Activated, r: Batch, pos: int) -> None:
    row["state"] = "ACTIVE"
    row["activated_at"] = to_micros(e.timestamp)


def _closed(row: Row, e: Objective.Closed, r: Batch, pos: int) -> None:
    row["state"] = "CLOSED"
    row["learnings"] = e.learnings
    score = getattr(e, "score", None)  # absent from Closed events written before scores existed
    row["score"] = None if score is None else float(score)
    row["score_reason"] = None


def _objective_scored(row: Row, e: Objective.ObjectiveScored, r: Batch, pos: int) -> None:
    """The owner's override of the closing score (with its reason)."""
    row["score"] = float(e.score)
    row["score_reason"] = getattr(e, "reason", "") or None


def _abandoned(row: Row, e: Objective.Abandoned, r: Batch, pos: int) -> None:
    row["state"] = "ABANDONED"


def _carried_over(row: Row, e: Objective.CarriedOver, r: Batch, pos: int) -> None:
    row["carried_over_to"] = sid(e.target_objective_id)


def _kr_added(row: Row, e: Objective.KeyResultAdded, r: Batch, pos: int) -> None:
    r["key_results"].put(
        {
            "id": sid(e.key_result_id),
            "org": e.org_id,
            "objective_id": sid(e.originator_id),
            "title": e.title,
            "kind": e.kind,
            "direction": e.direction,
            "unit": e.unit,
            "start_value": float(e.start),
            "target": float(e.target),
            "current_value": float(e.current),
            "weight": float(e.weight),
            "source": e.source,
            "cadence_days": int(e.cadence_days),
            "added_at": to_micros(e.timestamp),
            "confidence": None,
            "last_check_in_at": None,
            "check_in_count": 0,
            "score": None,
            "score_reason": None,
            "seq": pos,
        }
    )


_KR_RENAMES = {"start": "start_value", "current": "current_value"}


def _kr_change(change: Callable[[Row, K], None]) -> Callable[[Row, K, Batch, int], None]:
    def apply(row: Row, e: K, r: Batch, pos: int) -> None:
        kr = r["key_results"].get(sid(e.key_result_id))
        if kr is not None:
            change(kr, e)
            r["key_results"].put(kr)

    return apply


def _kr_revised(kr: Row, e: Objective.KeyResultRevised) -> None:
    for key, value in e.changes.items():
        column = _KR_RENAMES.get(key, key)
        if column in kr and column not in ("id", "org", "objective_id", "seq"):
            kr[column] = value


def _kr_checked_in(kr: Row, e: Objective.KeyResultCheckedIn) -> None:
    kr["current_value"] = float(e.value)
    if e.confidence is not None:
        kr["confidence"] = float(e.confidence)
    kr["last_check_in_at"] = to_micros(e.timestamp)
    kr["check_in_count"] = kr["check_in_count"] + 1


def _kr_scored(kr: Row, e: Objective.KeyResultScored) -> None:
    kr["score"] = float(e.score)
    kr["score_reason"] = e.reason or None


def _kr_removed(row: Row, e: Objective.KeyResultRemoved, r: Batch, pos: int) -> None:
    r["key_results"].delete(sid(e.key_result_id))


def _kr_task_recorded(row: Row, e: Objective.KeyResultTaskRecorded, r: Batch, pos: int) -> None:
    kr_id, task_id = sid(e.key_result_id), sid(e.task_id)
    if e.weight is None:
        r["kr_tasks"].delete(kr_id, task_id)
    else:
        r["kr_tasks"].put(
            {"key_result_id": kr_id, "task_id": task_id, "weight": float(e.weight), "done": int(bool(e.done))}
        )


#: What the progress view reads nothing from: org settings are read by the write side, and a
#: task's effect on progress arrives as Objective.KeyResultTaskRecorded.
PROGRESS_IGNORED: frozenset[type[OkrAggregate.Event]] = frozenset(
    {
        Organization.Configured,
        Organization.Reconfigured,
        Task.Created,
        Task.Linked,
        Task.Unlinked,
        Task.Assigned,
        Task.Revised,
        Task.Started,
        Task.Completed,
        Task.Reopened,
        Task.Cancelled,
    }
)


def progress_view() -> View:
    o = _objective_event
    return View(
        "progress",
        (CYCLES, TEAMS, OBJECTIVES, KEY_RESULTS, KR_TASKS),
        [
            on(Cycle.Scheduled, _cycle_scheduled),
            on(Cycle.Started, _cycle_state("ACTIVE")),
            on(Cycle.Closed, _cycle_state("CLOSED")),
            on(Team.Created, _team_created),
            on(Team.MemberAdded, _team_change(_member_added)),
            on(Team.MemberRemoved, _team_change(_member_removed)),
            on(Team.Renamed, _team_change(_renamed)),
            on(Objective.Drafted, _objective_drafted),
            on(Objective.Revised, o(_objective_revised)),
            on(Objective.Aligned, o(_aligned)),
            on(Objective.Activated, o(_activated)),
            on(Objective.Closed, o(_closed)),
            on(Objective.ObjectiveScored, o(_objective_scored)),
            on(Objective.Abandoned, o(_abandoned)),
            on(Objective.CarriedOver, o(_carried_over)),
            on(Objective.KeyResultAdded, o(_kr_added)),
            on(Objective.KeyResultRevised, o(_kr_change(_kr_revised))),
            on(Objective.KeyResultRemoved, o(_kr_removed)),
            on(Objective.KeyResultCheckedIn, o(_kr_change(_kr_checked_in))),
            on(Objective.KeyResultScored, o(_kr_change(_kr_scored))),
            on(Objective.KeyResultTaskRecorded, o(_kr_task_recorded)),
        ],
        ignored=PROGRESS_IGNORED,
    )


# ---------------------------------------------------------------------------------- check-ins


def _check_in_row(e: Objective.KeyResultCheckedIn, pos: int, r: Batch) -> None:
    r["check_ins"].append(
        (
            pos,
            e.org_id,
            sid(e.key_result_id),
            sid(e.originator_id),
            float(e.value_before),
            float(e.value),
            None if e.confidence is None else float(e.confidence),
            e.note,
            e.actor,
            to_micros(e.timestamp),
            sid(e.task_id),
        )
    )


#: The check-ins view is the history of one event.
CHECK_INS_IGNORED: frozenset[type[OkrAggregate.Event]] = frozenset(
    {
        Cycle.Scheduled,
        Cycle.Started,
        Cycle.Closed,
        Team.Created,
        Team.MemberAdded,
        Team.MemberRemoved,
        Team.Renamed,
        Objective.Drafted,
        Objective.Revised,
        Objective.Aligned,
        Objective.Activated,
        Objective.Closed,
        Objective.ObjectiveScored,
        Objective.Abandoned,
        Objective.CarriedOver,
        Objective.KeyResultAdded,
        Objective.KeyResultRevised,
        Objective.KeyResultRemoved,
        Objective.KeyResultScored,
        Objective.KeyResultTaskRecorded,
        Organization.Configured,
        Organization.Reconfigured,
        Task.Created,
        Task.Linked,
        Task.Unlinked,
        Task.Assigned,
        Task.Revised,
        Task.Started,
        Task.Completed,
        Task.Reopened,
        Task.Cancelled,
    }
)


def check_ins_view() -> View:
    return View(
        "checkins",
        (CHECK_INS,),
        [on(Objective.KeyResultCheckedIn, _check_in_row)],
        ignored=CHECK_INS_IGNORED,
    )


# ---------------------------------------------------------------------------------- alignment


def _task_created(e: Task.Created, pos: int, r: Batch) -> None:
    ts = to_micros(e.timestamp)
    r["tasks"].put(
        {
            "id": sid(e.originator_id),
            "org": e.org_id,
            "title": e.title,
            "description": e.description,
            "impact": e.impact,
            "assignee": e.assignee,
            "state": "TODO",
            "key_result_id": sid(e.key_result_id),
            "objective_id": sid(e.objective_id),
            "cycle_id": sid(e.cycle_id),
            "team_id": sid(e.team_id),
            "created_at": ts,
            "updated_at": ts,
            "seq": pos,
        }
    )


def _task_event(change: Callable[[Row, E], None]) -> Callable[[E, int, Batch], None]:
    def handle(e: E, pos: int, r: Batch) -> None:
        row = r["tasks"].get(sid(e.originator_id))
        if row is None:
            return
        row["updated_at"] = to_micros(e.timestamp)
        change(row, e)
        r["tasks"].put(row)

    return handle


def _task_linked(row: Row, e: Task.Linked) -> None:
    row["key_result_id"] = sid(e.key_result_id)
    row["objective_id"] = sid(e.objective_id)
    row["cycle_id"] = sid(e.cycle_id)


def _task_unlinked(row: Row, e: Task.Unlinked) -> None:
    row["key_result_id"] = None
    row["objective_id"] = None


def _task_assigned(row: Row, e: Task.Assigned) -> None:
    row["assignee"] = e.assignee


def _task_revised(row: Row, e: Task.Revised) -> None:
    for key in ("title", "description", "impact"):
        if key in e.changes:
            row[key] = e.changes[key]


def _task_state(state: str) -> Callable[[Row, OkrAggregate.Event], None]:
    def change(row: Row, e: OkrAggregate.Event) -> None:
        row["state"] = state

    return change


def _task_kr_removed(e: Objective.KeyResultRemoved, pos: int, r: Batch) -> None:
    """A removed key result leaves its tasks unaligned (they keep their cycle and team)."""
    kr_id = sid(e.key_result_id)
    rows = r["tasks"]
    for row in rows.find("key_result_id", kr_id):
        row["key_result_id"] = None
        row["objective_id"] = None
        row["updated_at"] = to_micros(e.timestamp)
        rows.put(row)


#: The alignment view holds tasks: of the other aggregates' events only a removed key result
#: matters (its tasks become unaligned); a task's cycle and team come with its own events.
ALIGNMENT_IGNORED: frozenset[type[OkrAggregate.Event]] = frozenset(
    {
        Cycle.Scheduled,
        Cycle.Started,
        Cycle.Closed,
        Team.Created,
        Team.MemberAdded,
        Team.MemberRemoved,
        Team.Renamed,
        Objective.Drafted,
        Objective.Revised,
        Objective.Aligned,
        Objective.Activated,
        Objective.Closed,
        Objective.ObjectiveScored,
        Objective.Abandoned,
        Objective.CarriedOver,
        Objective.KeyResultAdded,
        Objective.KeyResultRevised,
        Objective.KeyResultCheckedIn,
        Objective.KeyResultScored,
        Objective.KeyResultTaskRecorded,
        Organization.Configured,
        Organization.Reconfigured,
    }
)


def alignment_view() -> View:
    t = _task_event
    return View(
        "alignment",
        (TASKS,),
        [
            on(Task.Created, _task_created),
            on(Task.Linked, t(_task_linked)),
            on(Task.Unlinked, t(_task_unlinked)),
            on(Task.Assigned, t(_task_assigned)),
            on(Task.Revised, t(_task_revised)),
            on(Task.Started, t(_task_state("IN_PROGRESS"))),
            on(Task.Completed, t(_task_state("DONE"))),
            on(Task.Reopened, t(_task_state("TODO"))),
            on(Task.Cancelled, t(_task_state("CANCELLED"))),
            on(Objective.KeyResultRemoved, _task_kr_removed),
        ],
        ignored=ALIGNMENT_IGNORED,
    )


# ---------------------------------------------------------------------------------- audit


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


VIEW_NAMES = ("progress", "checkins", "alignment", "audit")


def make_views(names: Iterable[str] | None = None) -> list[View]:
    """Views by name (all by default); unknown names raise ValueError."""
    factories = {
        "progress": progress_view,
        "checkins": check_ins_view,
        "alignment": alignment_view,
        "audit": audit_view,
    }
    wanted = list(VIEW_NAMES) if not names else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in factories]
    if unknown:
        msg = f"unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEW_NAMES)}"
        raise ValueError(msg)
    return [factories[n]() for n in wanted]


def all_tables(views: Sequence[View]) -> list[Table]:
    return [t for v in views for t in v.tables]
