"""Entry points of the read side: the read model and the in-process runners.

- `build_read_model(settings, app) -> SqlReadModel`: the `ReadModel` protocol over the view
  tables in the event store's database (SQLite file or PostgreSQL schema). It creates missing
  tables. Without local runners, `wait_for` is woken by the runners' NOTIFY (PostgreSQL) or polls
  the positions table in 5 ms steps (SQLite, runners in another process).
- `start_runners(settings, app, names=None, read_model=None) -> RunnerHandle`: starts one
  background thread that keeps the named views (default all) up to date, woken in-process by
  `app.add_commit_listener` and polling/LISTENing for other processes' writes. The handle owns
  a read model wired to the runners (`handle.read_model`, or the one passed in), so its
  `wait_for` is woken by the runner's commits. `handle.stop()` finishes the current batch
  (positions are stored with it) and stops; it does not close a passed-in read model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from okr.application import OkrApplication
from okr.domain.context import utc_now
from okr.domain.reminder import ReminderSchedule
from okr.reminders import Candidate
from okr.settings import Settings
from projections._db import Database
from projections.model import (
    ApprovalView,
    AuditEntry,
    AuditFilter,
    CheckInView,
    CommentView,
    ConsistencyTimeoutError,
    CycleReview,
    CycleView,
    Dashboard,
    DueCheckInView,
    ForecastSeries,
    KeyResultView,
    ObjectiveFilter,
    ObjectiveView,
    Page,
    PrioritizedTask,
    SeriesRequest,
    TaskFilter,
    TaskView,
    TeamView,
    TreeNode,
)
from projections.queries import Queries, _as_dict, _cols
from projections.queries import series as series_queries
from projections.queries.reminders import ReminderQueries, ReminderReads
from projections.queries.review import check_reviewable, cycle_closed_at
from projections.runner import (
    COALESCE,
    PositionSignal,
    Projector,
    Runner,
    ensure_schema,
    read_positions,
    wait_pg_notify,
)
from projections.timetravel import Snapshot, queries_as_of
from projections.views import AUDIT, VIEW_NAMES, make_views


class SqlReadModel:
    """The ReadModel protocol over the view tables (SQLite or PostgreSQL)."""

    def __init__(self, settings: Settings, app: OkrApplication, db: Database | None = None) -> None:
        self.settings = settings
        self.app = app
        self.db = db or Database(settings)
        self.signal = PositionSignal()
        self.clock: Callable[[], datetime] = utc_now
        self.local_runners = 0
        self.local_views: set[str] = set()
        self._listen_stop = threading.Event()
        self._listener: threading.Thread | None = None
        ensure_schema(self.db, make_views())

    def close(self) -> None:
        self._listen_stop.set()
        if self._listener is not None:
            self._listener.join(5)
        self.db.close()

    # ------------------------------------------------------------------ consistency
    def positions(self) -> dict[str, int]:
        with self.db.read() as tx:
            stored = read_positions(tx, list(VIEW_NAMES))
        return {v: stored.get(v, (0, 0))[0] for v in VIEW_NAMES}

    def position(self) -> int:
        return min(self.positions().values())

    def wait_for(self, position: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        if self.signal.position(VIEW_NAMES) >= position:
            return
        if self.position() >= position:
            return
        if self.local_runners == 0 and self.db.dialect == "postgres":
            self._ensure_listener()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConsistencyTimeoutError(
                    f"the views did not reach position {position} within {timeout:g}s"
                    f" (they are at {self.position()})"
                )
            if self.local_runners:
                step = min(remaining, 0.5 if self.local_views >= set(VIEW_NAMES) else 0.005)
                if self.signal.wait(lambda: self.signal.position(VIEW_NAMES) >= position, step):
                    return
            else:
                step = min(remaining, 0.5 if self.db.dialect == "postgres" else 0.005)
                self.signal.wait(lambda: False, step)
            if self.position() >= position:
                return

    def _ensure_listener(self) -> None:
        if self._listener is None:
            self._listener = threading.Thread(
                target=wait_pg_notify, args=(self.db, self.signal, self._listen_stop), daemon=True
            )
            self._listener.start()
            time.sleep(0.01)

    # ------------------------------------------------------------------ queries
    def now(self) -> datetime:
        """The "now" of read-time figures (the clock is replaceable for tests)."""
        return self.clock()

    def _at(self, at: datetime | None) -> datetime:
        return at if at is not None else self.now()

    def snapshot(
        self,
        org: str,
        *,
        as_of: datetime | None = None,
        position: int | None = None,
        timeout: float = 10.0,
    ) -> Snapshot:
        """Every view of `org` as of an instant (`as_of`) or a log position (`position`), from
        the log. Waits until the audit view (the log's index) has reached the log's head (for
        `as_of`) or `position`, so no event of the instant is missed; close the snapshot after use."""
        if as_of is not None:
            head = self.app.max_position()
            if self._audit_position() < head:
                self.wait_for(head, timeout)
            return Snapshot.at_time(self.app, self.db, org, as_of)
        if position is None:
            raise ValueError("give as_of or position")
        if self._audit_position() < position:
            self.wait_for(position, timeout)
        return Snapshot.at_position(self.app, self.db, org, position, self.now())

    def cycle_review(
        self, org: str, cycle_id: UUID, team_id: UUID | None = None, timeout: float = 10.0
    ) -> CycleReview:
        """The review of a CLOSED cycle, from a snapshot at its close instant (time travel)."""
        head = self.app.max_position()
        if self._audit_position() < head:
            self.wait_for(head, timeout)
        with self.db.read() as tx:
            cycle = Queries(tx, org, self.now()).cycle(cycle_id)
            closed_at = cycle_closed_at(tx, org, cycle_id)
        close = check_reviewable(
            None if cycle is None else cycle.state, "" if cycle is None else cycle.name, cycle_id, closed_at
        )
        with self.snapshot(org, as_of=close, timeout=timeout) as snap:
            return snap.cycle_review(cycle_id, team_id)

    def comments(
        self, org: str, subject_id: str, first: int = 20, after: str | None = None
    ) -> Page[CommentView]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).comments(subject_id, first, after)

    def replies(
        self, org: str, thread_id: UUID, first: int = 20, after: str | None = None
    ) -> Page[CommentView]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).replies(thread_id, first, after)

    def comment(self, org: str, comment_id: UUID) -> CommentView | None:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).comment(comment_id)

    def comment_counts(self, org: str, subject_ids: list[str]) -> list[int]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).comment_counts(subject_ids)

    def approvals(self, org: str, objective_ids: list[UUID]) -> list[ApprovalView | None]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).approvals(objective_ids)

    def _audit_position(self) -> int:
        with self.db.read() as tx:
            return read_positions(tx, ["audit"]).get("audit", (0, 0))[0]

    def cycles(self, org: str, at: datetime | None = None) -> list[CycleView]:
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).cycles()

    def cycle(self, org: str, cycle_id: UUID, at: datetime | None = None) -> CycleView | None:
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).cycle(cycle_id)

    def teams(self, org: str) -> list[TeamView]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).teams()

    def teams_by_ids(self, org: str, ids: list[UUID]) -> list[TeamView | None]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).teams_by_ids(ids)

    def objective(
        self, org: str, objective_id: UUID, at: datetime | None = None, as_of: datetime | None = None
    ) -> ObjectiveView | None:
        if as_of is not None:
            with queries_as_of(self.app, self.db, org, as_of) as q:
                q.at = at or as_of
                return q.objective_view(str(objective_id))
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).objective_view(str(objective_id))

    def objectives_by_ids(
        self, org: str, ids: list[UUID], at: datetime | None = None
    ) -> list[ObjectiveView | None]:
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).objectives_by_ids(ids)

    def objectives(
        self,
        org: str,
        filter: ObjectiveFilter,
        first: int = 20,
        after: str | None = None,
        at: datetime | None = None,
    ) -> Page[ObjectiveView]:
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).objectives(filter, first, after)

    def key_result(
        self, org: str, key_result_id: UUID, at: datetime | None = None, as_of: datetime | None = None
    ) -> KeyResultView | None:
        if as_of is not None:
            with queries_as_of(self.app, self.db, org, as_of) as q:
                q.at = at or as_of
                return q.key_result(key_result_id)
        with self.db.read() as tx:
            return Queries(tx, org, self._at(at)).key_result(key_result_id)

    def tree(self, org: str, cycle_id: UUID, as_of: datetime | None = None) -> list[TreeNode]:
        if as_of is not None:
            with queries_as_of(self.app, self.db, org, as_of) as q:
                return q.tree(cycle_id)
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).tree(cycle_id)

    def dashboard(
        self, org: str, cycle_id: UUID, team_id: UUID | None = None, as_of: datetime | None = None
    ) -> Dashboard:
        if as_of is not None:
            with queries_as_of(self.app, self.db, org, as_of) as q:
                return q.dashboard(cycle_id, team_id)
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).dashboard(cycle_id, team_id)

    def tasks(
        self, org: str, filter: TaskFilter, first: int = 20, after: str | None = None
    ) -> Page[TaskView]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).tasks(filter, first, after)

    def task(self, org: str, task_id: UUID) -> TaskView | None:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).task(task_id)

    def prioritized_tasks(
        self, org: str, cycle_id: UUID | None, team_id: UUID | None, first: int = 20
    ) -> list[PrioritizedTask]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).prioritized_tasks(cycle_id, team_id, first)

    def check_ins(
        self, org: str, key_result_id: UUID, first: int = 20, after: str | None = None
    ) -> Page[CheckInView]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).check_ins(key_result_id, first, after)

    def forecast_series(
        self, org: str, requests: list[SeriesRequest], until_position: int | None = None
    ) -> list[ForecastSeries]:
        with self.db.read() as tx:
            return series_queries.forecast_series(tx, org, requests, until_position)

    def audit_log(
        self,
        org: str,
        filter: AuditFilter,
        first: int = 20,
        after: str | None = None,
    ) -> Page[AuditEntry]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).audit_log(filter, first, after)

    def history(self, org: str, aggregate_id: UUID) -> list[AuditEntry]:
        with self.db.read() as tx:
            return Queries(tx, org, self.now()).history(aggregate_id)

    def events_after(self, org: str, after: int, limit: int) -> tuple[list[AuditEntry], int]:
        with self.db.read() as tx:
            # the position first: rows up to it were committed with it, so the next read sees them
            reached = read_positions(tx, ["audit"]).get("audit", (0, 0))[0]
            if reached <= after:
                return [], after
            rows = tx.fetchall(
                f"SELECT {_cols(AUDIT)} FROM proj_audit WHERE org = ? AND position > ? AND position <= ?"
                f" ORDER BY position LIMIT {max(1, int(limit))}",
                [org, after, reached],
            )
        entries = [Queries._audit_entry(_as_dict(AUDIT, r)) for r in rows]
        covered = entries[-1].position if len(entries) >= max(1, int(limit)) else reached
        return entries, covered

    # ------------------------------------------------------------------ check-in reminders
    def due_check_ins(
        self, org: str, user: str, first: int = 20, after: str | None = None
    ) -> Page[DueCheckInView]:
        with self.db.read() as tx:
            return ReminderQueries(tx, org, self.now()).due_check_ins(user, first, after)

    def reminder_orgs(self) -> list[str]:
        """The scheduler's reads (okr.reminders.ReminderSource)."""
        return ReminderReads(self.db).reminder_orgs()

    def reminder_schedule(self, org: str) -> ReminderSchedule:
        return ReminderReads(self.db).reminder_schedule(org)

    def reminder_candidates(self, org: str) -> list[Candidate]:
        return ReminderReads(self.db).reminder_candidates(org)


def build_read_model(settings: Settings, app: OkrApplication) -> SqlReadModel:
    """The read model for `settings` (creates missing view tables)."""
    return SqlReadModel(settings, app)


@dataclass
class RunnerHandle:
    """Running projection threads; `stop()` finishes the current batch and stops cleanly."""

    read_model: SqlReadModel
    runners: list[Runner]
    owns_read_model: bool = True
    _stopped: bool = field(default=False, repr=False)

    @property
    def last_error(self) -> BaseException | None:
        return next((r.last_error for r in self.runners if r.last_error is not None), None)

    def stop(self, timeout: float = 30.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        for runner in self.runners:
            runner.projector.app.remove_commit_listener(runner.notify)
            runner.stop(timeout)
        self.read_model.local_runners -= len(self.runners)
        if self.owns_read_model:
            self.read_model.close()

    def __enter__(self) -> RunnerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_runners(
    settings: Settings,
    app: OkrApplication,
    names: list[str] | None = None,
    read_model: SqlReadModel | None = None,
    *,
    poll_interval: float = 0.05,
    coalesce: float = COALESCE,
) -> RunnerHandle:
    """Starts the runners of `names` (default every view) as one background thread.

    `coalesce`: after a commit wakes it, the runner waits this long before reading, so a burst
    of commits is applied in one transaction (0 = read at once)."""
    views = make_views(names)
    owns = read_model is None
    model = read_model or build_read_model(settings, app)
    runner_db = Database(settings)
    ensure_schema(runner_db, views)
    projector = Projector(runner_db, app, views)
    runner = Runner(projector, model.signal, poll_interval=poll_interval, coalesce=coalesce)
    app.add_commit_listener(runner.notify)
    model.local_runners += 1
    model.local_views.update(v.name for v in views)
    runner.start()
    return RunnerHandle(read_model=model, runners=[runner], owns_read_model=owns)
