"""Objectives with their key results and figures at `at`: the loading every feature shares,
and the view of one objective. The formulas and policies are the domain's (`okr.domain`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from okr.domain import formulas as f
from okr.domain import policies
from okr.domain.key_result import ProgressSource
from projections._db import Tx
from projections.model import KeyResultView, ObjectiveView
from projections.queries.base import QueryBase, _as_dict, _chunks, _cols, _dt, _fields, _marks
from projections.views import CYCLES, KEY_RESULTS, OBJECTIVES, from_micros

# Key-result view fields that are the row's columns as they are.
KEY_RESULT_COLUMNS = (
    *("title", "kind", "direction", "unit", "target", "weight", "source", "cadence_days"),
    *("confidence", "check_in_count", "score", "score_reason"),
)


def _date(iso: str) -> date:
    return datetime.fromisoformat(iso).date()


def cycle_expected(cycle: dict[str, Any], at: datetime) -> float:
    """Expected progress in a cycle row's window at `at` (0 while it is PLANNED)."""
    started = cycle["state"] != "PLANNED"
    return f.cycle_expected_progress(started, _date(cycle["start_date"]), _date(cycle["end_date"]), at)


class Figures(QueryBase):
    """Loads objectives, key results, task tallies, cycles and aligned children once per
    transaction, and computes their figures at `at`."""

    def __init__(self, tx: Tx, org: str, at: datetime) -> None:
        super().__init__(tx, org, at)
        self._objectives: dict[str, dict[str, Any] | None] = {}
        self._krs: dict[str, list[dict[str, Any]]] = {}
        self._tallies: dict[str, tuple[int, int, float, float]] = {}
        self._cycles: dict[str, dict[str, Any] | None] = {}
        self._children: dict[str, list[str]] = {}
        self._progress: dict[str, tuple[float, float]] = {}
        self._statuses: dict[str, f.Status | None] = {}
        self._measured: dict[str, bool] = {}  # the driver has inputs (key results / children)
        self._team_names: dict[str, str] | None = None
        self._team_counts: dict[tuple[str, str], int] | None = None

    # ------------------------------------------------------------------ loading
    def _load_objectives(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self._objectives]
        for chunk in _chunks(missing):
            for i in chunk:
                self._objectives[i] = None
            rows = self.tx.fetchall(
                f"SELECT {_cols(OBJECTIVES)} FROM proj_objectives "
                f"WHERE org = ? AND id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            )
            for row in rows:
                d = _as_dict(OBJECTIVES, row)
                self._objectives[d["id"]] = d
        self._load_key_results([i for i in missing if self._objectives.get(i) is not None])
        self._load_cycles([o["cycle_id"] for i in missing if (o := self._objectives.get(i)) is not None])

    def _remember_objectives(self, rows: Iterable[dict[str, Any]]) -> list[str]:
        """Ids of these objective rows, in order; the ones not loaded yet join the cache with
        their key results and cycles."""
        ids, new = [], []
        for d in rows:
            ids.append(d["id"])
            if d["id"] not in self._objectives:
                self._objectives[d["id"]] = d
                new.append(d["id"])
        self._load_key_results(new)
        self._load_cycles([self._objectives[i]["cycle_id"] for i in new])  # type: ignore[index]
        return ids

    def _objective_rows(self, where: str, params: Sequence[Any], tail: str = "") -> list[str]:
        rows = self.tx.fetchall(
            f"SELECT {_cols(OBJECTIVES)} FROM proj_objectives WHERE org = ?{where} {tail}",
            [self.org, *params],
        )
        return self._remember_objectives(_as_dict(OBJECTIVES, row) for row in rows)

    def _load_key_results(self, objective_ids: Sequence[str]) -> None:
        for oid in objective_ids:
            self._krs.setdefault(oid, [])
        kr_ids: list[str] = []
        for chunk in _chunks(list(objective_ids)):
            rows = self.tx.fetchall(
                f"SELECT {_cols(KEY_RESULTS)} FROM proj_key_results WHERE objective_id IN "
                f"({_marks(len(chunk))}) ORDER BY seq",
                list(chunk),
            )
            for row in rows:
                d = _as_dict(KEY_RESULTS, row)
                self._krs[d["objective_id"]].append(d)
                kr_ids.append(d["id"])
        for chunk in _chunks(kr_ids):
            rows = self.tx.fetchall(
                "SELECT key_result_id, COUNT(*), SUM(done), SUM(weight), "
                "SUM(CASE WHEN done = 1 THEN weight ELSE 0 END) FROM proj_kr_tasks "
                f"WHERE key_result_id IN ({_marks(len(chunk))}) GROUP BY key_result_id",
                list(chunk),
            )
            for kr_id, n, done, weight, done_weight in rows:
                self._tallies[kr_id] = (int(n), int(done or 0), float(weight or 0), float(done_weight or 0))

    def _load_cycles(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i is not None and i not in self._cycles]
        for chunk in _chunks(missing):
            for i in chunk:
                self._cycles[i] = None
            for row in self.tx.fetchall(
                f"SELECT {_cols(CYCLES)} FROM proj_cycles WHERE org = ? AND id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            ):
                d = _as_dict(CYCLES, row)
                self._cycles[d["id"]] = d

    def _load_children(self, parent_ids: Sequence[str]) -> None:
        """Objectives aligned to these objectives or to one of their key results."""
        missing = [p for p in parent_ids if p not in self._children]
        if not missing:
            return
        kr_owner: dict[str, str] = {}
        for p in missing:
            self._children[p] = []
            for kr in self._krs.get(p, []):
                kr_owner[kr["id"]] = p
        found: list[tuple[str, str]] = []
        for column, keys, owner in (
            ("parent_objective_id", missing, None),
            ("parent_key_result_id", list(kr_owner), kr_owner),
        ):
            for chunk in _chunks(keys):
                for row in self.tx.fetchall(
                    f"SELECT id, {column}, seq FROM proj_objectives WHERE org = ? AND "
                    f"{column} IN ({_marks(len(chunk))}) ORDER BY seq",
                    [self.org, *chunk],
                ):
                    found.append((row[1] if owner is None else owner[row[1]], row[0]))
        self._load_objectives([child for _, child in found])
        for parent, child in found:
            self._children[parent].append(child)
        for parent in missing:
            self._children[parent].sort(key=lambda c: self._objectives[c]["seq"])  # type: ignore[index]

    # ------------------------------------------------------------------ figures
    def _expected(self, cycle_id: str | None) -> float:
        cycle = self._cycles.get(cycle_id) if cycle_id else None
        if cycle is None:
            return 0.0
        return cycle_expected(cycle, self.at)

    def _kr_progress(self, kr: dict[str, Any]) -> tuple[float, float]:
        """(progress, attainment): `formulas.key_result_figures` over the row and its tasks."""
        tasks = None
        if kr["source"] == ProgressSource.TASKS.value:
            _, _, weight, done_weight = self._tallies.get(kr["id"], (0, 0, 0.0, 0.0))
            tasks = (done_weight, weight)
        return f.key_result_figures(
            f.KeyResultKind(kr["kind"]),
            kr["start_value"],
            kr["target"],
            kr["current_value"],
            f.Direction(kr["direction"]),
            check_in_count=kr["check_in_count"],
            task_weights=tasks,
        )

    @staticmethod
    def _kr_status(kr: dict[str, Any], progress: float, expected: float) -> f.Status:
        """Thresholds measured by check-ins are ACCOMPLISHED only once the cycle is over."""
        from_tasks = kr["source"] == ProgressSource.TASKS.value
        kind = f.KeyResultKind.NUMERIC if from_tasks else f.KeyResultKind(kr["kind"])
        return f.key_result_status(kind, progress, expected, kr["confidence"])

    def _counted_children(self, oid: str, stack: frozenset[str] = frozenset()) -> list[str]:
        """Aligned children that move the parent's figures: ACTIVE or CLOSED, in the parent's
        cycle (a legacy child in another cycle is outside the parent's tree, and its figures)."""
        obj = self._objectives[oid]
        assert obj is not None
        if len(stack) >= f.MAX_ALIGNMENT_DEPTH:
            return []
        self._load_children([oid])
        return [
            child
            for child in self._children[oid]
            if child not in stack
            and child != oid
            and (row := self._objectives.get(child)) is not None
            and row["state"] in f.COUNTED_CHILD_STATES
            and row["cycle_id"] == obj["cycle_id"]
        ]

    def _objective_figures(self, oid: str, stack: frozenset[str] = frozenset()) -> tuple[float, float]:
        """(progress, attainment): the same weighted mean per driver, of clamped progress and
        of unclamped attainment."""
        cached = self._progress.get(oid)
        if cached is not None:
            return cached
        obj = self._objectives[oid]
        assert obj is not None
        krs = [(self._kr_progress(kr), kr["weight"]) for kr in self._krs.get(oid, [])]
        children: list[tuple[tuple[float, float], float]] = []
        if obj["driver"] != "KEY_RESULTS":
            for child in self._counted_children(oid, stack | {oid}):
                row = self._objectives[child]
                assert row is not None
                children.append((self._objective_figures(child, stack | {oid}), row["weight"]))
        driver = obj["driver"]
        self._measured[oid] = f.has_rollup_inputs(driver, len(krs), len(children))
        value = (
            f.objective_progress([(p[0], w) for p, w in krs], [(c[0], w) for c, w in children], driver),
            f.objective_attainment([(p[1], w) for p, w in krs], [(c[1], w) for c, w in children], driver),
        )
        self._progress[oid] = value
        return value

    def _objective_status(self, oid: str, stack: frozenset[str] = frozenset()) -> f.Status | None:
        """The worst of its key results' statuses (unless driven by children only) and, when it
        has counted children, of its roll-up's status (`formulas.rollup_status`)."""
        if oid in self._statuses:
            return self._statuses[oid]
        obj = self._objectives[oid]
        assert obj is not None
        expected = self._expected(obj["cycle_id"])
        statuses: list[f.Status] = []
        if obj["driver"] != "ALIGNED_OBJECTIVES":
            for kr in self._krs.get(oid, []):
                statuses.append(self._kr_status(kr, self._kr_progress(kr)[0], expected))
        children = self._counted_children(oid, stack | {oid}) if obj["driver"] != "KEY_RESULTS" else []
        if children:
            statuses.append(
                f.rollup_status(
                    self._objective_figures(oid)[0],
                    expected,
                    lambda: all(
                        self._objective_status(c, stack | {oid}) is f.Status.ACCOMPLISHED for c in children
                    ),
                )
            )
        worst = f.worst_status(statuses)
        self._statuses[oid] = worst
        return worst

    # ------------------------------------------------------------------ teams and policies
    def _team_name(self, team_id: str) -> str:
        if self._team_names is None:
            self._team_names = {
                str(i): str(n)
                for i, n in self.tx.fetchall("SELECT id, name FROM proj_teams WHERE org = ?", [self.org])
            }
        return self._team_names.get(team_id, team_id)

    def _team_active_counts(self) -> dict[tuple[str, str], int]:
        if self._team_counts is None:
            self._team_counts = {
                (team, cycle): int(n)
                for team, cycle, n in self.tx.fetchall(
                    "SELECT team_id, cycle_id, COUNT(*) FROM proj_objectives WHERE org = ? AND "
                    "state = 'ACTIVE' AND team_id IS NOT NULL GROUP BY team_id, cycle_id",
                    [self.org],
                )
            }
        return self._team_counts

    def _policy_warnings(self, obj: dict[str, Any], kr_count: int) -> list[str]:
        """The org policies (`okr.domain.policies`) of a DRAFT or ACTIVE objective: its key-result
        count and, when ACTIVE in a team, the team's active objectives in its cycle."""
        warnings = []
        if obj["state"] in ("DRAFT", "ACTIVE"):
            warnings += policies.key_result_count_warnings(obj["driver"], kr_count)
        if obj["state"] == "ACTIVE" and obj["team_id"] is not None:
            n = self._team_active_counts().get((obj["team_id"], obj["cycle_id"]), 0)
            warnings += policies.objective_count_warnings("the team", n)
        return warnings

    # ------------------------------------------------------------------ views
    def _kr_view(self, kr: dict[str, Any], obj: dict[str, Any], expected: float) -> KeyResultView:
        progress, attainment = self._kr_progress(kr)
        n, done, _, _ = self._tallies.get(kr["id"], (0, 0, 0.0, 0.0))
        outdated = False
        if obj["state"] == "ACTIVE":
            since = max(kr["added_at"], obj["activated_at"] or kr["added_at"])
            outdated = f.is_outdated(
                _dt(kr["last_check_in_at"]), from_micros(since), self.at, kr["cadence_days"]
            )
        score = kr["score"]
        return KeyResultView(
            **_fields(kr, same=KEY_RESULT_COLUMNS),
            id=UUID(kr["id"]),
            objective_id=UUID(obj["id"]),
            start=kr["start_value"],
            current=kr["current_value"],
            last_check_in_at=_dt(kr["last_check_in_at"]),
            progress=progress,
            attainment=attainment,
            expected_progress=expected,
            status=self._kr_status(kr, progress, expected).value,
            outdated=outdated,
            grade=None if score is None else f.grade(score).value,
            tasks_total=n,
            tasks_done=done,
        )

    def objective_view(self, oid: str) -> ObjectiveView | None:
        self._load_objectives([oid])
        obj = self._objectives.get(oid)
        if obj is None:
            return None
        expected = self._expected(obj["cycle_id"])
        krs = [self._kr_view(kr, obj, expected) for kr in self._krs.get(oid, [])]
        progress, attainment = self._objective_figures(oid)
        worst = self._objective_status(oid)
        confidences = [kr.confidence for kr in krs if kr.confidence is not None]
        score: float | None = None
        score_reason: str | None = None
        if obj["state"] == "CLOSED":
            score, score_reason = obj["score"], obj["score_reason"]
            if score is None:  # closed before the view stored closing scores: its KRs' scores
                score = f.weighted_mean([(kr.score, kr.weight) for kr in krs if kr.score is not None])
        return ObjectiveView(
            **_fields(
                obj,
                same=("owner", "title", "description", "driver", "weight", "state", "learnings", "version"),
                ids=(
                    "team_id",
                    "parent_objective_id",
                    "parent_key_result_id",
                    "carried_over_from",
                    "carried_over_to",
                ),
                times=("created_at", "updated_at"),
            ),
            id=UUID(obj["id"]),
            cycle_id=UUID(obj["cycle_id"]),
            key_results=krs,
            progress=progress,
            attainment=attainment if self._measured[oid] else None,
            expected_progress=expected,
            status=None if worst is None else worst.value,
            outdated=any(kr.outdated for kr in krs),
            confidence=min(confidences) if confidences else None,
            score=score,
            score_reason=score_reason,
            grade=None if score is None else f.grade(score).value,
            warnings=self._policy_warnings(obj, len(krs)),
        )
