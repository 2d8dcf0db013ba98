"""Check-in reminders on the read side: what the scheduler reads (orgs, their schedule, the key
results that may be due) and `dueCheckIns`, a person's to-do list at an instant.

Both evaluate `okr.domain.reminder.reminder_state` (the one rule) over the progress view's key
results of ACTIVE objectives in ACTIVE cycles, measured by check-ins; the schedule comes from the
reminders view (an org without one has `DEFAULT_SCHEDULE`). `reminder_reads_as_of` answers the
same questions from the log up to an instant (the demo runs the scheduler at past instants).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from okr.application import OkrApplication
from okr.domain.base import OkrAggregate
from okr.domain.reminder import DEFAULT_SCHEDULE, ReminderSchedule, reminder_state
from okr.log import is_internal
from okr.reminders import Candidate
from projections._db import Database, Tx
from projections.model import DueCheckInView, Page
from projections.queries.base import decode_cursor, encode_cursor, page_size
from projections.runner import ensure_schema
from projections.views import Rows, from_micros, progress_view, reminders_view

_CANDIDATES = (
    "SELECT k.id, k.objective_id, k.title, k.cadence_days, k.added_at, k.last_check_in_at, k.seq,"
    " o.title, o.owner, o.team_id, o.activated_at"
    " FROM proj_key_results k"
    " JOIN proj_objectives o ON o.id = k.objective_id"
    " JOIN proj_cycles c ON c.id = o.cycle_id"
    " WHERE o.org = ? AND o.state = 'ACTIVE' AND c.state = 'ACTIVE' AND k.source = 'CHECK_INS'"
    " ORDER BY k.seq"
)
CURSOR = "due"


class ReminderQueries:
    """One read transaction, one org (or all, for `orgs`), one instant `at`."""

    def __init__(self, tx: Tx, org: str, at: datetime) -> None:
        self.tx = tx
        self.org = org
        self.at = at

    def orgs(self) -> list[str]:
        """Every org with an ACTIVE objective in an ACTIVE cycle."""
        rows = self.tx.fetchall(
            "SELECT DISTINCT o.org FROM proj_objectives o JOIN proj_cycles c ON c.id = o.cycle_id"
            " WHERE o.state = 'ACTIVE' AND c.state = 'ACTIVE' ORDER BY o.org"
        )
        return [str(r[0]) for r in rows]

    def schedule(self) -> ReminderSchedule:
        row = self.tx.fetchone(
            "SELECT weekday, hour, timezone, frequency, grace_days"
            " FROM proj_reminder_schedules WHERE org = ?",
            [self.org],
        )
        if row is None:
            return DEFAULT_SCHEDULE
        return ReminderSchedule(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]))

    def _rows(self) -> list[dict[str, Any]]:
        names = (
            "id", "objective_id", "title", "cadence_days", "added_at", "last_check_in_at", "seq",
            "objective_title", "owner", "team_id", "activated_at",
        )  # fmt: skip
        return [dict(zip(names, r, strict=True)) for r in self.tx.fetchall(_CANDIDATES, [self.org])]

    @staticmethod
    def _candidate(d: dict[str, Any]) -> Candidate:
        since = max(d["added_at"], d["activated_at"] or d["added_at"])  # as figures' `outdated`
        last = d["last_check_in_at"]
        return Candidate(
            key_result_id=UUID(d["id"]),
            objective_id=UUID(d["objective_id"]),
            since=from_micros(since),
            last_check_in_at=None if last is None else from_micros(last),
            cadence_days=int(d["cadence_days"]),
        )

    def candidates(self) -> list[Candidate]:
        return [self._candidate(d) for d in self._rows()]

    def due_check_ins(self, user: str, first: int, after: str | None) -> Page[DueCheckInView]:
        """The key results `user` owns (through their objective) or that belong to objectives of
        their teams, due or overdue at `at`; keyset-paged in the order key results were added."""
        n = page_size(first)
        start = -1 if after is None else decode_cursor(CURSOR, after)
        teams = {
            str(team_id)
            for team_id, members in self.tx.fetchall(
                "SELECT id, members FROM proj_teams WHERE org = ?", [self.org]
            )
            if user in orjson.loads(members)
        }
        schedule = self.schedule()
        due: list[tuple[int, DueCheckInView]] = []
        for d in self._rows():
            if d["owner"] != user and d["team_id"] not in teams:
                continue
            c = self._candidate(d)
            state = reminder_state(schedule, c.since, c.last_check_in_at, c.cadence_days, self.at)
            if state is None:
                continue
            view = DueCheckInView(
                key_result_id=c.key_result_id,
                objective_id=c.objective_id,
                key_result_title=d["title"],
                objective_title=d["objective_title"],
                owner=d["owner"],
                team_id=None if d["team_id"] is None else UUID(d["team_id"]),
                cadence_days=c.cadence_days,
                last_check_in_at=c.last_check_in_at,
                due_since=state.due_since,
                period=state.period,
                overdue_at=state.overdue_at,
                overdue=state.overdue,
            )
            due.append((int(d["seq"]), view))
        rest = [(seq, v) for seq, v in due if seq > start]
        return Page(
            items=[v for _, v in rest[:n]],
            cursors=[encode_cursor(CURSOR, seq) for seq, _ in rest[:n]],
            total_count=len(due),
            has_next_page=len(rest) > n,
            has_previous_page=after is not None,
        )


class ReminderReads:
    """The scheduler's `ReminderSource` over one database at an instant fixed by `clock`
    (SqlReadModel delegates to it; the demo uses one over the log up to an instant)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def wait_for(self, position: int, timeout: float = 5.0) -> None:
        """Nothing to wait for (a database filled up to its instant)."""

    def reminder_orgs(self) -> list[str]:
        with self.db.read() as tx:
            return ReminderQueries(tx, "", from_micros(0)).orgs()

    def reminder_schedule(self, org: str) -> ReminderSchedule:
        with self.db.read() as tx:
            return ReminderQueries(tx, org, from_micros(0)).schedule()

    def reminder_candidates(self, org: str) -> list[Candidate]:
        with self.db.read() as tx:
            return ReminderQueries(tx, org, from_micros(0)).candidates()


@contextmanager
def reminder_reads_as_of(app: OkrApplication, org: str, at: datetime) -> Iterator[ReminderReads]:
    """The scheduler's reads of `org` as they were at `at`: the progress and reminders views
    rebuilt in memory from the org's events up to that instant (what `okr demo` runs the
    scheduler at its past instants with)."""
    views = [progress_view(), reminders_view()]
    memory = Database(sqlite_path=":memory:")
    try:
        ensure_schema(memory, views)
        with memory.write() as tx:
            rows = [{t.name: Rows(tx, t, t.physical()) for t in v.tables} for v in views]
            start = 1
            while True:
                page = app.recorder.select_notifications(start, 1000)
                for n in page:
                    if is_internal(n.topic):
                        continue
                    event = app.mapper.to_domain_event(n)
                    if (
                        isinstance(event, OkrAggregate.Event)
                        and event.org_id == org
                        and event.timestamp <= at
                    ):
                        for view, batch in zip(views, rows, strict=True):
                            view.apply(event, n.id, batch)
                if len(page) < 1000:
                    break
                start = page[-1].id + 1
            for batch in rows:
                for r in batch.values():
                    r.flush()
        yield ReminderReads(memory)
    finally:
        memory.close()
