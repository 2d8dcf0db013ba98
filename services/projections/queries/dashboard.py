"""A cycle's dashboard (per team or the whole org): counts, progress against the calendar,
alignment ratios, outdated key results and policy warnings, at `at`."""

from __future__ import annotations

from uuid import UUID

from okr.domain import policies
from projections.model import Dashboard
from projections.queries.figures import Figures


class DashboardQueries(Figures):
    def dashboard(self, cycle_id: UUID, team_id: UUID | None) -> Dashboard:
        where, params = " AND cycle_id = ?", [str(cycle_id)]
        if team_id is not None:
            where += " AND team_id = ?"
            params.append(str(team_id))
        ids = self._objective_rows(where, params, "ORDER BY seq")
        views = [v for i in ids if (v := self.objective_view(i)) is not None]
        self._load_cycles([str(cycle_id)])
        by_status: dict[str, int] = {}
        by_state: dict[str, int] = {}
        for v in views:
            by_state[v.state] = by_state.get(v.state, 0) + 1
            if v.state == "ACTIVE" and v.status is not None:
                by_status[v.status] = by_status.get(v.status, 0) + 1
        measured = [v.progress for v in views if v.state in ("ACTIVE", "CLOSED")]
        tasks_total, tasks_linked = self._alignment_counts(
            str(cycle_id), None if team_id is None else str(team_id)
        )
        warnings: list[str] = []
        teams = sorted({v.team_id for v in views if v.state == "ACTIVE" and v.team_id is not None}, key=str)
        counts_by_team = self._team_active_counts()
        for team in teams:
            n = counts_by_team.get((str(team), str(cycle_id)), 0)
            warnings += policies.objective_count_warnings(f'team "{self._team_name(str(team))}"', n)
        for v in views:
            if v.state == "ACTIVE":
                warnings.extend(
                    f"{w} (objective {v.id})" for w in v.warnings if w.startswith("KEY_RESULT_COUNT")
                )
        return Dashboard(
            cycle_id=cycle_id,
            team_id=team_id,
            at=self.at,
            objectives_total=len(views),
            counts_by_status=dict(sorted(by_status.items())),
            counts_by_state=dict(sorted(by_state.items())),
            mean_progress=sum(measured) / len(measured) if measured else 0.0,
            expected_progress=self._expected(str(cycle_id)),
            alignment_ratio=tasks_linked / tasks_total if tasks_total else 0.0,
            objectives_aligned_ratio=(
                sum(1 for v in views if v.parent_objective_id or v.parent_key_result_id) / len(views)
                if views
                else 0.0
            ),
            outdated_key_results=[kr for v in views for kr in v.key_results if kr.outdated],
            policy_warnings=warnings,
        )

    def _alignment_counts(
        self, cycle_id: str, team_id: str | None, done_only: bool = False
    ) -> tuple[int, int]:
        """(non-cancelled tasks of the cycle, those linked to a key result); `done_only`: of its
        DONE tasks (the review). A linked task belongs to its key result's cycle and objective's
        team (whatever it was created with), an unlinked one (or one whose key result was
        removed) to the cycle and team it names."""
        state = "t.state = 'DONE'" if done_only else "t.state <> 'CANCELLED'"
        rows = self.tx.fetchall(
            "SELECT t.key_result_id, t.cycle_id, t.team_id, o.cycle_id, o.team_id FROM proj_tasks t "
            "LEFT JOIN proj_key_results k ON k.id = t.key_result_id AND k.org = t.org "
            "LEFT JOIN proj_objectives o ON o.id = k.objective_id AND o.org = t.org "
            f"WHERE t.org = ? AND {state} AND (t.cycle_id = ? OR o.cycle_id = ?)",
            [self.org, cycle_id, cycle_id],
        )
        total = linked = 0
        for kr_id, task_cycle, task_team, objective_cycle, objective_team in rows:
            aligned = kr_id is not None and objective_cycle is not None
            cycle = objective_cycle if aligned else task_cycle
            team = (task_team or objective_team) if aligned else task_team
            if cycle != cycle_id or (team_id is not None and team != team_id):
                continue
            total += 1
            linked += aligned
        return total, linked
