"""The end-of-cycle review: per objective its final score, grade, learnings and unfinished key
results; per team and for the whole review the grade distribution, mean score, check-in
discipline, share of done tasks that were aligned and the three biggest movers.

It is asked of a time-travel snapshot whose instant is the cycle's close (`Snapshot.cycle_review`,
`SqlReadModel.cycle_review`), so nothing written after the close — a task completed, a team
renamed, a score or check-in that an older release let through — changes it.

Definitions (the formulas are `okr.domain.formulas`'):
- the review lists the cycle's CLOSED and ABANDONED objectives; its figures count CLOSED ones
  (abandoned objectives have no score and stopped being checked in);
- cadence period: the cycle's time from its first day's start (00:00 UTC) to the close instant,
  cut into windows of the key result's `cadence_days` (the last one shorter when cut by the
  close); a window counts when at least one check-in falls in it. Discipline = windows with a
  check-in / windows, per key result, and pooled (summed windows) per team and for the review.
  Key results measured by TASKS are not checked in: they have no periods;
- progress change: progress at the close minus progress before the key result's first check-in
  (its value when added, with the close's start and target); TASKS-driven ones from 0. The
  biggest movers are the three largest changes by size (falls included);
- aligned share: the cycle's DONE tasks linked to a key result / all of them (the dashboard's
  ownership rule for which cycle and team a task belongs to).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from okr.domain import formulas as f
from okr.domain.errors import CycleNotFoundError, RuleViolation, TeamNotFoundError
from okr.domain.key_result import ProgressSource
from projections._db import Tx
from projections.model import (
    CycleReview,
    KeyResultReview,
    KeyResultView,
    ObjectiveReview,
    ObjectiveView,
    ReviewSummary,
    TeamReview,
)
from projections.queries.base import _chunks, _marks
from projections.views import from_micros

if TYPE_CHECKING:
    from projections.queries import Queries

REVIEWED_STATES = ("CLOSED", "ABANDONED")
GRADES = tuple(g.value for g in f.Grade)  # GREEN, YELLOW, RED


class CycleNotClosedError(RuleViolation):
    code = "CYCLE_NOT_CLOSED"


def cycle_closed_at(tx: Tx, org: str, cycle_id: UUID) -> datetime | None:
    """When the cycle was closed (its Cycle.Closed event in the audit view), None if it is not."""
    row = tx.fetchone(
        "SELECT at FROM proj_audit WHERE org = ? AND aggregate_id = ? AND aggregate_type = 'Cycle' "
        "AND event_name = 'Closed' ORDER BY position DESC LIMIT 1",
        [org, str(cycle_id)],
    )
    return None if row is None else from_micros(int(row[0]))


def check_reviewable(state: str | None, name: str, cycle_id: UUID, closed_at: datetime | None) -> datetime:
    """The close instant of a reviewable cycle; CYCLE_NOT_FOUND / CYCLE_NOT_CLOSED otherwise."""
    if state is None:
        raise CycleNotFoundError(f"cycle {cycle_id} not found", field="cycleId")
    if state != "CLOSED" or closed_at is None:
        raise CycleNotClosedError(
            f"cycle {name} is {state}: its review is written as of its close, so it exists once the"
            " cycle is closed (closeCycle); the dashboard shows an open cycle",
            field="cycleId",
        )
    return closed_at


def _check_in_series(q: Queries, objective_ids: Sequence[str]) -> dict[str, list[tuple[datetime, float]]]:
    """Key result id -> its check-ins (time, value before), oldest first."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    for chunk in _chunks(list(objective_ids)):
        for kr_id, at, before in q.tx.fetchall(
            "SELECT key_result_id, at, value_before FROM proj_check_ins WHERE org = ? AND objective_id IN "
            f"({_marks(len(chunk))}) ORDER BY position",
            [q.org, *chunk],
        ):
            series.setdefault(str(kr_id), []).append((from_micros(int(at)), float(before)))
    return series


def key_result_review(
    kr: KeyResultView, check_ins: Sequence[tuple[datetime, float]], start: datetime, close: datetime
) -> KeyResultReview:
    """One key result at the close: its discipline over the cycle's cadence periods and how far
    it moved (`check_ins`: (time, value before) oldest first)."""
    times = [at for at, _ in check_ins if start <= at < close]
    if kr.source == ProgressSource.TASKS.value:
        periods = covered = 0
        before = 0.0
    else:
        periods = f.cadence_period_count(start, close, kr.cadence_days)
        covered = f.periods_with_check_in(times, start, close, kr.cadence_days)
        before = kr.progress
        if check_ins:
            before = f.key_result_figures(
                f.KeyResultKind(kr.kind),
                kr.start,
                kr.target,
                check_ins[0][1],
                f.Direction(kr.direction),
                check_in_count=0,
            )[0]
    return KeyResultReview(
        id=kr.id,
        objective_id=kr.objective_id,
        title=kr.title,
        kind=kr.kind,
        unit=kr.unit,
        source=kr.source,
        start=kr.start,
        target=kr.target,
        value=kr.current,
        progress=kr.progress,
        score=kr.score,
        grade=kr.grade,
        cadence_days=kr.cadence_days,
        check_ins=len(times),
        periods=periods,
        periods_with_check_in=covered,
        discipline=f.check_in_discipline(covered, periods),
        progress_change=f.progress_change(before, kr.progress),
        unfinished=f.is_unfinished(kr.progress),
    )


def _objective_review(v: ObjectiveView, krs: list[KeyResultReview]) -> ObjectiveReview:
    return ObjectiveReview(
        id=v.id,
        title=v.title,
        owner=v.owner,
        team_id=v.team_id,
        state=v.state,
        score=v.score,
        score_reason=v.score_reason,
        grade=v.grade,
        learnings=v.learnings,
        progress=v.progress,
        key_results=krs,
        carried_over=[kr for kr in krs if kr.unfinished],
    )


def summarize(objectives: Iterable[ObjectiveReview], done_tasks: int, aligned_done: int) -> ReviewSummary:
    """The figures of a scope: grades, mean score, pooled discipline and the movers count the
    CLOSED objectives; the task figures are the scope's DONE tasks."""
    listed = list(objectives)
    closed = [o for o in listed if o.state == "CLOSED"]
    grades = dict.fromkeys(GRADES, 0)
    for o in closed:
        if o.grade is not None:
            grades[o.grade] += 1
    krs = [kr for o in closed for kr in o.key_results]
    periods = sum(kr.periods for kr in krs)
    covered = sum(kr.periods_with_check_in for kr in krs)
    return ReviewSummary(
        objectives=len(closed),
        abandoned=sum(1 for o in listed if o.state == "ABANDONED"),
        grade_distribution=grades,
        mean_score=f.weighted_mean([(o.score, 1.0) for o in closed if o.score is not None]),
        periods=periods,
        periods_with_check_in=covered,
        check_in_discipline=f.check_in_discipline(covered, periods),
        done_tasks=done_tasks,
        aligned_done_tasks=aligned_done,
        aligned_done_share=f.share(aligned_done, done_tasks),
        biggest_movers=[kr for kr, _ in f.biggest_movers((kr, kr.progress_change) for kr in krs)],
    )


def cycle_review(q: Queries, cycle_id: UUID, team_id: UUID | None, closed_at: datetime) -> CycleReview:
    """The review over `q` (a snapshot at the close; `closed_at` the close instant)."""
    cycle = q.cycle(cycle_id)
    if cycle is None:
        raise CycleNotFoundError(f"cycle {cycle_id} not found", field="cycleId")
    teams = {t.id: t for t in q.teams()}
    if team_id is not None and team_id not in teams:
        raise TeamNotFoundError(f"team {team_id} not found (at the cycle's close)", field="teamId")
    where = f" AND cycle_id = ? AND state IN ({_marks(len(REVIEWED_STATES))})"
    params: list[str] = [str(cycle_id), *REVIEWED_STATES]
    if team_id is not None:
        where += " AND team_id = ?"
        params.append(str(team_id))
    ids = q._objective_rows(where, params, "ORDER BY seq")
    views = [v for i in ids if (v := q.objective_view(i)) is not None]
    series = _check_in_series(q, ids)
    start = f.cycle_window(cycle.start, cycle.end)[0]
    reviews = [
        _objective_review(
            v, [key_result_review(kr, series.get(str(kr.id), []), start, closed_at) for kr in v.key_results]
        )
        for v in views
    ]
    groups: dict[UUID | None, list[ObjectiveReview]] = {}
    for r in reviews:
        groups.setdefault(r.team_id, []).append(r)
    order = sorted(
        groups,
        key=lambda t: (t is None, teams[t].name.casefold() if t in teams else "", str(t)),
    )
    sections = []
    for tid in order:
        done, aligned = (
            (0, 0) if tid is None else q._alignment_counts(str(cycle_id), str(tid), done_only=True)
        )
        team = teams.get(tid) if tid is not None else None
        sections.append(
            TeamReview(
                team_id=tid,
                team_name=None if team is None else team.name,
                summary=summarize(groups[tid], done, aligned),
                objectives=groups[tid],
            )
        )
    done, aligned = q._alignment_counts(
        str(cycle_id), None if team_id is None else str(team_id), done_only=True
    )
    return CycleReview(
        cycle=cycle,
        closed_at=closed_at,
        team_id=team_id,
        summary=summarize(reviews, done, aligned),
        teams=sections,
    )
