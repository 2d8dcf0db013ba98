"""Objectives (one, by ids, filtered pages), key results, the alignment tree, cycles, teams."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from okr.domain import formulas as f
from projections.model import (
    CycleView,
    KeyResultView,
    ObjectiveFilter,
    ObjectiveView,
    Page,
    TeamView,
    TreeNode,
)
from projections.queries.base import _as_dict, _chunks, _cols, _filter_where, _mapped, _marks, _uuid
from projections.queries.figures import Figures, cycle_expected
from projections.views import CYCLES, OBJECTIVES, TEAMS


def _team_view(d: dict[str, Any]) -> TeamView:
    return TeamView(
        id=UUID(d["id"]),
        name=d["name"],
        parent_team_id=_uuid(d["parent_team_id"]),
        members=dict(sorted(orjson.loads(d["members"]).items())),
    )


def _objective_where(flt: ObjectiveFilter) -> tuple[str, list[Any]]:
    where, params = _filter_where(
        (
            ("cycle_id", flt.cycle_id),
            ("team_id", flt.team_id),
            ("owner", flt.owner),
            ("parent_objective_id", flt.parent_objective_id),
        ),
        flt.states,
    )
    if flt.unaligned_only:
        where += " AND parent_objective_id IS NULL AND parent_key_result_id IS NULL"
    return where, params


class ObjectiveQueries(Figures):
    # ------------------------------------------------------------------ cycles and teams
    def _cycle_view(self, d: dict[str, Any]) -> CycleView:
        return CycleView(
            id=UUID(d["id"]),
            name=d["name"],
            start=datetime.fromisoformat(d["start_date"]).date(),
            end=datetime.fromisoformat(d["end_date"]).date(),
            state=d["state"],
            expected_progress=cycle_expected(d, self.at),
        )

    def cycles(self) -> list[CycleView]:
        rows = self.tx.fetchall(
            f"SELECT {_cols(CYCLES)} FROM proj_cycles WHERE org = ? ORDER BY start_date, id", [self.org]
        )
        return [self._cycle_view(_as_dict(CYCLES, r)) for r in rows]

    def cycle(self, cycle_id: UUID) -> CycleView | None:
        self._load_cycles([str(cycle_id)])
        d = self._cycles.get(str(cycle_id))
        return None if d is None else self._cycle_view(d)

    def teams(self) -> list[TeamView]:
        rows = self.tx.fetchall(
            f"SELECT {_cols(TEAMS)} FROM proj_teams WHERE org = ? ORDER BY name, id", [self.org]
        )
        return [_team_view(_as_dict(TEAMS, r)) for r in rows]

    def teams_by_ids(self, ids: list[UUID]) -> list[TeamView | None]:
        found: dict[str, TeamView] = {}
        keys = list(dict.fromkeys(str(i) for i in ids))
        for chunk in _chunks(keys):
            for r in self.tx.fetchall(
                f"SELECT {_cols(TEAMS)} FROM proj_teams WHERE org = ? AND id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            ):
                d = _as_dict(TEAMS, r)
                found[d["id"]] = _team_view(d)
        return [found.get(str(i)) for i in ids]

    # ------------------------------------------------------------------ objectives
    def objectives_by_ids(self, ids: list[UUID]) -> list[ObjectiveView | None]:
        self._load_objectives([str(i) for i in ids])
        return [self.objective_view(str(i)) for i in ids]

    def objectives(self, flt: ObjectiveFilter, first: int, after: str | None) -> Page[ObjectiveView]:
        where, params = _objective_where(flt)
        page = self._keyset_page(OBJECTIVES, where, params, first, after, ("o", "seq"))
        self._remember_objectives(page.items)
        return _mapped(page, self._loaded_view)

    def _loaded_view(self, d: dict[str, Any]) -> ObjectiveView:
        view = self.objective_view(d["id"])
        assert view is not None  # the row was just read
        return view

    def key_result(self, key_result_id: UUID) -> KeyResultView | None:
        row = self.tx.fetchone(
            "SELECT objective_id FROM proj_key_results WHERE org = ? AND id = ?",
            [self.org, str(key_result_id)],
        )
        if row is None:
            return None
        view = self.objective_view(row[0])
        if view is None:
            return None
        return next((kr for kr in view.key_results if kr.id == key_result_id), None)

    def tree(self, cycle_id: UUID) -> list[TreeNode]:
        ids = self._objective_rows(" AND cycle_id = ?", [str(cycle_id)], "ORDER BY seq")
        in_cycle = set(ids)
        kr_owner = {kr["id"]: oid for oid in ids for kr in self._krs.get(oid, [])}
        children: dict[str, list[str]] = {i: [] for i in ids}
        roots = []
        for oid in ids:
            obj = self._objectives[oid]
            assert obj is not None
            parent = obj["parent_objective_id"]
            if parent is None and obj["parent_key_result_id"] is not None:
                parent = kr_owner.get(obj["parent_key_result_id"])
            if parent in in_cycle and parent != oid:
                children[parent].append(oid)
            else:
                roots.append(oid)
        views = {i: v for i in ids if (v := self.objective_view(i)) is not None}

        def node(oid: str, seen: frozenset[str]) -> TreeNode:
            kids = [
                node(c, seen | {c})
                for c in children[oid]
                if c not in seen and len(seen) < f.MAX_ALIGNMENT_DEPTH
            ]
            return TreeNode(objective=views[oid], children=kids)

        return [node(r, frozenset({r})) for r in roots]
