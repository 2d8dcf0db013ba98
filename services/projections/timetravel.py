"""Time travel: the views as they were at an instant, rebuilt from the log (never the live tables).

The audit view serves only as an index of the log — for an org, every (aggregate, version,
position) whose event time is at or before T (or whose position is at or below P). The events
themselves come from the event store (`app.events.get(id, lte=version)`), are replayed in log
order through the same projection functions into a private in-memory SQLite database, and the
same `Queries` answer from it at T. Live answers and as-of answers therefore share every line of
read-time code.

A `Snapshot` is filled once and then answers every read of one instant — an API request that
asks `asOf: T` resolves all its nested fields (key results, check-ins, cycle, team, parent…)
through one snapshot, so no field of it can show anything later than T.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from okr.application import OkrApplication
from okr.domain.base import OkrAggregate
from projections._db import Database
from projections.model import (
    ApprovalView,
    CheckInView,
    CommentView,
    CycleReview,
    CycleView,
    Dashboard,
    KeyResultView,
    ObjectiveView,
    Page,
    TaskView,
    TeamView,
    TreeNode,
)
from projections.queries import Queries
from projections.queries.comments import CommentQueries
from projections.queries.review import cycle_review
from projections.runner import ensure_schema
from projections.views import (
    Rows,
    alignment_view,
    check_ins_view,
    comments_view,
    from_micros,
    progress_view,
    to_micros,
)

T = TypeVar("T")


def events_until(
    app: OkrApplication,
    db: Database,
    org: str,
    as_of: datetime | None = None,
    *,
    position: int | None = None,
) -> list[tuple[int, OkrAggregate.Event]]:
    """(position, event) of every event of `org` at or before `as_of` (or at or below log
    `position`), in log order."""
    if (as_of is None) == (position is None):
        raise ValueError("give exactly one of as_of and position")
    column, bound = ("at", to_micros(as_of)) if as_of is not None else ("position", position)
    with db.read() as tx:
        rows = tx.fetchall(
            f"SELECT aggregate_id, version, position FROM proj_audit "
            f"WHERE org = ? AND {column} <= ? ORDER BY position",
            [org, bound],
        )
    last_version: dict[str, int] = {}
    positions: dict[tuple[str, int], int] = {}
    for aggregate_id, version, pos in rows:
        last_version[aggregate_id] = max(int(version), last_version.get(aggregate_id, 0))
        positions[(aggregate_id, int(version))] = int(pos)
    out: list[tuple[int, OkrAggregate.Event]] = []
    for aggregate_id, version in last_version.items():
        for event in app.events.get(UUID(aggregate_id), lte=version):
            pos = positions.get((aggregate_id, event.originator_version))
            if pos is not None and isinstance(event, OkrAggregate.Event):
                out.append((pos, event))
    out.sort(key=lambda item: item[0])
    return out


def time_of_position(db: Database, org: str, position: int) -> datetime | None:
    """When the org's last event at or below `position` happened (None: no event yet)."""
    with db.read() as tx:
        row = tx.fetchone(
            "SELECT at FROM proj_audit WHERE org = ? AND position <= ? ORDER BY position DESC LIMIT 1",
            [org, position],
        )
    return None if row is None else from_micros(int(row[0]))


def _deleted_comments(db: Database, org: str) -> list[tuple[str, int, str | None]]:
    """The org's comments deleted by now (the live comments view): time travel shows them
    deleted whatever the instant, so a deleted body is gone from every read model."""
    with db.read() as tx:
        return CommentQueries(tx, org, from_micros(0)).deleted_comments()


class Snapshot:
    """Every view of one org as it was at an instant, answering the read model's questions.

    Build it with `Snapshot.at_time(...)` (as of a moment) or `Snapshot.at_position(...)` (as of
    a log position: what a command's result looked like right after it was written). Figures
    that depend on "now" (expected progress, status, outdated) are evaluated at that instant.
    Thread-safe (one in-memory database behind a lock); `close()` frees it.
    """

    def __init__(
        self,
        org: str,
        at: datetime,
        events: list[tuple[int, OkrAggregate.Event]],
        deleted_comments: list[tuple[str, int, str | None]] | None = None,
    ) -> None:
        self.org = org
        self.at = at
        self.events = len(events)
        self._lock = threading.Lock()
        self._memory: Database | None = Database(sqlite_path=":memory:")
        views = [progress_view(), check_ins_view(), alignment_view(), comments_view()]
        ensure_schema(self._memory, views)
        with self._memory.write() as tx:
            for view in views:
                rows = {t.name: Rows(tx, t, t.physical()) for t in view.tables}
                for position, event in events:
                    view.apply(event, position, rows)
                for r in rows.values():
                    r.flush()
            # comments deleted since T lose their body here too (`deleted_comments`: the live view's)
            CommentQueries(tx, org, at).redact_deleted(deleted_comments or [])

    @classmethod
    def at_time(cls, app: OkrApplication, db: Database, org: str, as_of: datetime) -> Snapshot:
        return cls(org, as_of, events_until(app, db, org, as_of), _deleted_comments(db, org))

    @classmethod
    def at_position(
        cls, app: OkrApplication, db: Database, org: str, position: int, now: datetime
    ) -> Snapshot:
        """As of log `position`; "now" for its figures is the time of the org's last event up to
        there (or `now` when the org had none)."""
        at = time_of_position(db, org, position) or now
        return cls(org, at, events_until(app, db, org, position=position), _deleted_comments(db, org))

    def close(self) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.close()
                self._memory = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ask(self, question: Callable[[Queries], T]) -> T:
        with self._lock:
            if self._memory is None:
                raise RuntimeError("this snapshot was closed")
            with self._memory.read() as tx:
                return question(Queries(tx, self.org, self.at))

    # ------------------------------------------------------------------ the read model's questions
    def cycles(self) -> list[CycleView]:
        return self._ask(lambda q: q.cycles())

    def cycle(self, cycle_id: UUID) -> CycleView | None:
        return self._ask(lambda q: q.cycle(cycle_id))

    def teams(self) -> list[TeamView]:
        return self._ask(lambda q: q.teams())

    def teams_by_ids(self, ids: list[UUID]) -> list[TeamView | None]:
        return self._ask(lambda q: q.teams_by_ids(ids))

    def objective(self, objective_id: UUID) -> ObjectiveView | None:
        return self._ask(lambda q: q.objective_view(str(objective_id)))

    def objectives_by_ids(self, ids: list[UUID]) -> list[ObjectiveView | None]:
        return self._ask(lambda q: q.objectives_by_ids(ids))

    def key_result(self, key_result_id: UUID) -> KeyResultView | None:
        return self._ask(lambda q: q.key_result(key_result_id))

    def tree(self, cycle_id: UUID) -> list[TreeNode]:
        return self._ask(lambda q: q.tree(cycle_id))

    def dashboard(self, cycle_id: UUID, team_id: UUID | None) -> Dashboard:
        return self._ask(lambda q: q.dashboard(cycle_id, team_id))

    def check_ins(self, key_result_id: UUID, first: int, after: str | None) -> Page[CheckInView]:
        return self._ask(lambda q: q.check_ins(key_result_id, first, after))

    def task(self, task_id: UUID) -> TaskView | None:
        return self._ask(lambda q: q.task(task_id))

    def cycle_review(self, cycle_id: UUID, team_id: UUID | None) -> CycleReview:
        """The end-of-cycle review with this snapshot's instant as the close."""
        return self._ask(lambda q: cycle_review(q, cycle_id, team_id, self.at))

    def comments(self, subject_id: str, first: int, after: str | None) -> Page[CommentView]:
        return self._ask(lambda q: q.comments(subject_id, first, after))

    def replies(self, thread_id: UUID, first: int, after: str | None) -> Page[CommentView]:
        return self._ask(lambda q: q.replies(thread_id, first, after))

    def comment(self, comment_id: UUID) -> CommentView | None:
        return self._ask(lambda q: q.comment(comment_id))

    def comment_counts(self, subject_ids: list[str]) -> list[int]:
        return self._ask(lambda q: q.comment_counts(subject_ids))

    def approvals(self, objective_ids: list[UUID]) -> list[ApprovalView | None]:
        return self._ask(lambda q: q.approvals(objective_ids))


@contextmanager
def queries_as_of(app: OkrApplication, db: Database, org: str, as_of: datetime) -> Iterator[Queries]:
    """One-off as-of queries (the read model's `as_of=` arguments)."""
    with Snapshot.at_time(app, db, org, as_of) as snap:
        assert snap._memory is not None
        with snap._lock, snap._memory.read() as tx:
            yield Queries(tx, org, as_of)
