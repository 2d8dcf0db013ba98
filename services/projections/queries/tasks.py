"""Tasks: one, filtered pages, and the prioritised list (impact x KR weight share x what is left)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from okr.domain import formulas as f
from projections.model import Page, PrioritizedTask, TaskFilter, TaskView
from projections.queries.base import (
    _as_dict,
    _chunks,
    _cols,
    _fields,
    _filter_where,
    _mapped,
    _marks,
    page_size,
)
from projections.queries.figures import Figures
from projections.views import TASKS


def _task_view(d: dict[str, Any]) -> TaskView:
    return TaskView(
        **_fields(
            d,
            same=("title", "description", "impact", "assignee", "state"),
            ids=("key_result_id", "objective_id", "cycle_id", "team_id"),
            times=("created_at", "updated_at"),
        ),
        id=UUID(d["id"]),
    )


class TaskQueries(Figures):
    def task(self, task_id: UUID) -> TaskView | None:
        """One task by id (None: not in this org)."""
        row = self.tx.fetchone(
            f"SELECT {_cols(TASKS)} FROM proj_tasks WHERE org = ? AND id = ?", [self.org, str(task_id)]
        )
        return None if row is None else _task_view(_as_dict(TASKS, row))

    def tasks(self, flt: TaskFilter, first: int, after: str | None) -> Page[TaskView]:
        where, params = _filter_where(
            (
                ("cycle_id", flt.cycle_id),
                ("team_id", flt.team_id),
                ("key_result_id", flt.key_result_id),
                ("objective_id", flt.objective_id),
                ("assignee", flt.assignee),
            ),
            flt.states,
        )
        if flt.unaligned_only:
            where += " AND key_result_id IS NULL"
        return _mapped(self._keyset_page(TASKS, where, params, first, after, ("t", "seq")), _task_view)

    def prioritized_tasks(
        self, cycle_id: UUID | None, team_id: UUID | None, first: int
    ) -> list[PrioritizedTask]:
        n = page_size(first)
        where, params = " AND state IN ('TODO', 'IN_PROGRESS')", list[Any]()
        if cycle_id is not None:
            where += " AND cycle_id = ?"
            params.append(str(cycle_id))
        if team_id is not None:
            where += " AND team_id = ?"
            params.append(str(team_id))
        rows = [
            _as_dict(TASKS, r)
            for r in self.tx.fetchall(
                f"SELECT {_cols(TASKS)} FROM proj_tasks WHERE org = ?{where} ORDER BY seq",
                [self.org, *params],
            )
        ]
        kr_ids = list(dict.fromkeys(d["key_result_id"] for d in rows if d["key_result_id"]))
        objective_of: dict[str, str] = {}
        for chunk in _chunks(kr_ids):
            for kr_id, oid in self.tx.fetchall(
                "SELECT id, objective_id FROM proj_key_results "
                f"WHERE org = ? AND id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            ):
                objective_of[kr_id] = oid
        self._load_objectives(list(dict.fromkeys(objective_of.values())))
        aligned: list[tuple[float, int, PrioritizedTask]] = []
        unaligned: list[PrioritizedTask] = []
        for d in rows:
            oid = objective_of.get(d["key_result_id"] or "")
            krs = self._krs.get(oid, []) if oid else []
            kr = next((k for k in krs if k["id"] == d["key_result_id"]), None)
            objective = self._objectives.get(oid) if oid else None
            if objective is not None and objective["state"] in ("CLOSED", "ABANDONED"):
                continue  # its objective is finished: nothing left to prioritise
            if kr is None:
                unaligned.append(PrioritizedTask(task=_task_view(d), priority=0.0, aligned=False))
                continue
            share = f.weight_share(kr["weight"], sum(k["weight"] for k in krs))
            priority = f.task_priority(f.Impact(d["impact"]), share, self._kr_progress(kr)[0])
            aligned.append((priority, d["seq"], PrioritizedTask(_task_view(d), priority, True)))
        aligned.sort(key=lambda item: (-item[0], item[1]))
        return ([p for _, _, p in aligned] + unaligned)[:n]
