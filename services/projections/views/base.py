"""What every view is made of: the `View` (its tables and one projection function per event
class, tied by `on()`), `Rows` (a write-back cache of one table inside one batch), `Table`, the
time and id conversions the projection functions share, and the groups of public events a view
ignores whole.

A projection is a function `(event, position, rows) -> None` that turns one event into row
changes through `Rows`. Nothing here depends on "now": status, expected progress, outdated, grade
and warnings are computed at read time (queries). Tables are named `proj_<table>` (live) or
`proj_<table>__scratch` (rebuild). Times are stored as integer microseconds since the epoch (UTC),
ids as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

import orjson

from okr.domain import ApprovalPolicy, Comment, Cycle, Objective, Organization, Reminder, Task, Team
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

    def rewrite_appended(self, change: Callable[[tuple[SqlValue, ...]], tuple[SqlValue, ...]]) -> None:
        """Replaces every row appended in this batch (not yet flushed) by `change(row)`: a later
        event of the same batch may take back what an earlier one appended (a deleted comment's
        body in the audit rows of its earlier events)."""
        self._appends[:] = [change(values) for values in self._appends]

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
    the view reads nothing from, said out loud (tests/unit/projections/test_event_handlers.py checks that
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


# ---------------------------------------------------------------------------------- ignored groups

#: Each aggregate's public events, listed by hand, for the views' `ignored` sets: a view ignores
#: a whole group, or a group minus the classes it handles. A new event that joins its group here
#: is ignored by the views built from that group; a view that names the group's events one by one
#: (progress: cycles, teams, objectives) must handle it, or tests/unit/projections/test_event_handlers.py
#: fails. An event left out of its group fails that test for every view that ignores the group.
CYCLE_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset({Cycle.Scheduled, Cycle.Started, Cycle.Closed})
TEAM_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {Team.Created, Team.MemberAdded, Team.MemberRemoved, Team.Renamed, Team.Moved}
)
OBJECTIVE_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {
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
        Objective.KeyResultCheckedIn,
        Objective.KeyResultScored,
        Objective.KeyResultTaskRecorded,
        Objective.ProposedForReview,
        Objective.Approved,
    }
)
ORGANIZATION_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {Organization.Configured, Organization.Reconfigured, Organization.RemindersConfigured}
)
TASK_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {
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
#: Discussion (the comments view handles them; every other view ignores them).
COMMENT_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {Comment.Added, Comment.Edited, Comment.Deleted}
)
APPROVAL_POLICY_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {ApprovalPolicy.Configured, ApprovalPolicy.Reconfigured}
)
#: The same group under the name it had first (views/reminders.py imports it).
REVIEW_POLICY_EVENTS = APPROVAL_POLICY_EVENTS
#: Check-in reminders (for other services, on NATS; the views ignore them).
REMINDER_EVENTS: frozenset[type[OkrAggregate.Event]] = frozenset(
    {Reminder.CheckInDue, Reminder.CheckInOverdue}
)
