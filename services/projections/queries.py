"""Read-time figures over the view tables: every query of the ReadModel protocol.

`Queries` works on one open read transaction (a live database or the in-memory database that
time travel fills from the log), so the live answers and the as-of answers run the same code.
Everything that depends on "now" is computed here for the instant `at`, never stored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from okr.domain import formulas as f
from okr.domain.cycle import day_start
from okr.domain.organization import MAX_KEY_RESULTS, MAX_OBJECTIVES, MIN_KEY_RESULTS, MIN_OBJECTIVES
from projections._db import Row, Tx
from projections.model import (
    MAX_PAGE,
    AuditEntry,
    AuditFilter,
    CheckInView,
    CycleView,
    Dashboard,
    InvalidCursorError,
    KeyResultView,
    ObjectiveFilter,
    ObjectiveView,
    Page,
    PrioritizedTask,
    TaskFilter,
    TaskView,
    TeamView,
    TreeNode,
)
from projections.views import (
    AUDIT,
    CHECK_INS,
    CYCLES,
    KEY_RESULTS,
    OBJECTIVES,
    TASKS,
    TEAMS,
    from_micros,
    to_micros,
)

CHUNK = 500
MAX_DEPTH = 64
COUNTED_CHILD_STATES = ("ACTIVE", "CLOSED")
# Events that overwrite fields set at creation: history shows the values they replaced.
SETTER_EVENTS = frozenset({"Aligned", "Assigned", "Linked", "Renamed", "Reconfigured"})


# ---------------------------------------------------------------------------------- cursors


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The sort key inside an opaque cursor; anything else is an InvalidCursorError."""
    try:
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != kind or not number.isdigit() or int(number) >= 2**63:
            raise ValueError  # beyond a 64-bit column: the store would fail (a 500, not a typed error)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursorError(f"invalid cursor {str(cursor)[:80]!r}") from None


def page_size(first: int) -> int:
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        msg = f"first must be an integer 0-{MAX_PAGE}"
        raise ValueError(msg)
    return min(first, MAX_PAGE)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _cols(table: Any, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + c for c in table.column_names)


def _as_dict(table: Any, row: Row) -> dict[str, Any]:
    return dict(zip(table.column_names, row, strict=True))


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


AGGREGATE_TYPES = {t.lower(): t for t in ("Cycle", "Team", "Objective", "Task", "Organization")}


def _cycle_window(cycle: dict[str, Any]) -> tuple[datetime, datetime]:
    start = day_start(datetime.fromisoformat(cycle["start_date"]).date())
    end = day_start(datetime.fromisoformat(cycle["end_date"]).date()) + timedelta(days=1)
    return start, end


class Queries:
    """Every read query, over one transaction, evaluated at `at`."""

    def __init__(self, tx: Tx, org: str, at: datetime) -> None:
        self.tx = tx
        self.org = org
        self.at = at
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

    def _add_objective_rows(self, rows: list[Row]) -> list[str]:
        ids = []
        for row in rows:
            d = _as_dict(OBJECTIVES, row)
            ids.append(d["id"])
            if d["id"] not in self._objectives:
                self._objectives[d["id"]] = d
                self._new.append(d["id"])
        return ids

    _new: list[str]

    def _objective_rows(self, where: str, params: Sequence[Any], tail: str = "") -> list[str]:
        rows = self.tx.fetchall(
            f"SELECT {_cols(OBJECTIVES)} FROM proj_objectives WHERE org = ?{where} {tail}",
            [self.org, *params],
        )
        self._new = []
        ids = self._add_objective_rows(rows)
        self._load_key_results(self._new)
        self._load_cycles([self._objectives[i]["cycle_id"] for i in self._new])  # type: ignore[index]
        return ids

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
        for chunk in _chunks(missing):
            for row in self.tx.fetchall(
                f"SELECT id, parent_objective_id, seq FROM proj_objectives WHERE org = ? AND "
                f"parent_objective_id IN ({_marks(len(chunk))}) ORDER BY seq",
                [self.org, *chunk],
            ):
                found.append((row[1], row[0]))
        for chunk in _chunks(list(kr_owner)):
            for row in self.tx.fetchall(
                f"SELECT id, parent_key_result_id, seq FROM proj_objectives WHERE org = ? AND "
                f"parent_key_result_id IN ({_marks(len(chunk))}) ORDER BY seq",
                [self.org, *chunk],
            ):
                found.append((kr_owner[row[1]], row[0]))
        self._load_objectives([child for _, child in found])
        for parent, child in found:
            self._children[parent].append(child)
        for parent in missing:
            self._children[parent].sort(key=lambda c: self._objectives[c]["seq"])  # type: ignore[index]

    # ------------------------------------------------------------------ figures
    @staticmethod
    def _cycle_expected(cycle: dict[str, Any], at: datetime) -> float:
        """Elapsed fraction of the cycle; 0 while it is PLANNED (nothing is expected yet)."""
        if cycle["state"] == "PLANNED":
            return 0.0
        start, end = _cycle_window(cycle)
        return f.expected_progress(start, end, at)

    def _expected(self, cycle_id: str | None) -> float:
        cycle = self._cycles.get(cycle_id) if cycle_id else None
        if cycle is None:
            return 0.0
        return self._cycle_expected(cycle, self.at)

    def _kr_progress(self, kr: dict[str, Any]) -> tuple[float, float]:
        if kr["source"] == "TASKS":
            _, _, weight, done_weight = self._tallies.get(kr["id"], (0, 0, 0.0, 0.0))
            p = f.task_progress(done_weight, weight)
            return p, p
        kind = f.KeyResultKind(kr["kind"])
        direction = f.Direction(kr["direction"])
        args = (kind, kr["start_value"], kr["target"], kr["current_value"], direction)
        measured = kr["check_in_count"] > 0  # an unmeasured threshold is not "in bounds"
        return f.progress(*args, measured=measured), f.attainment(*args, measured=measured)

    @staticmethod
    def _kr_status(kr: dict[str, Any], progress: float, expected: float) -> f.Status:
        """Thresholds measured by check-ins are ACCOMPLISHED only once the cycle is over."""
        kind = f.KeyResultKind(kr["kind"]) if kr["source"] != "TASKS" else f.KeyResultKind.NUMERIC
        return f.key_result_status(kind, progress, expected, kr["confidence"])

    def _counted_children(self, oid: str, stack: frozenset[str] = frozenset()) -> list[str]:
        """Aligned children that move the parent's figures: ACTIVE or CLOSED, in the parent's
        cycle (a legacy child in another cycle is outside the parent's tree, and its figures)."""
        obj = self._objectives[oid]
        assert obj is not None
        if len(stack) >= MAX_DEPTH:
            return []
        self._load_children([oid])
        return [
            child
            for child in self._children[oid]
            if child not in stack
            and child != oid
            and (row := self._objectives.get(child)) is not None
            and row["state"] in COUNTED_CHILD_STATES
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
        self._measured[oid] = bool(
            (krs and driver != "ALIGNED_OBJECTIVES") or (children and driver != "KEY_RESULTS")
        )
        value = (
            f.objective_progress([(p[0], w) for p, w in krs], [(c[0], w) for c, w in children], driver),
            f.objective_attainment([(p[1], w) for p, w in krs], [(c[1], w) for c, w in children], driver),
        )
        self._progress[oid] = value
        return value

    def _objective_progress(self, oid: str, stack: frozenset[str] = frozenset()) -> float:
        return self._objective_figures(oid, stack)[0]

    def _has_counted_children(self, oid: str) -> bool:
        return bool(self._counted_children(oid))

    def _objective_status(self, oid: str, stack: frozenset[str] = frozenset()) -> f.Status | None:
        """The worst of its key results' statuses (unless driven by children only) and, when it
        has counted children, of its roll-up's status — which is never ACCOMPLISHED while a
        counted child is not."""
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
            rolled = f.status(self._objective_progress(oid), expected)
            if rolled is f.Status.ACCOMPLISHED and any(
                self._objective_status(c, stack | {oid}) is not f.Status.ACCOMPLISHED for c in children
            ):
                rolled = f.Status.ON_TRACK
            statuses.append(rolled)
        worst = f.worst_status(statuses)
        self._statuses[oid] = worst
        return worst

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
            id=UUID(kr["id"]),
            objective_id=UUID(obj["id"]),
            title=kr["title"],
            kind=kr["kind"],
            direction=kr["direction"],
            unit=kr["unit"],
            start=kr["start_value"],
            target=kr["target"],
            current=kr["current_value"],
            weight=kr["weight"],
            source=kr["source"],
            cadence_days=kr["cadence_days"],
            confidence=kr["confidence"],
            last_check_in_at=_dt(kr["last_check_in_at"]),
            check_in_count=kr["check_in_count"],
            score=score,
            score_reason=kr["score_reason"],
            progress=progress,
            attainment=attainment,
            expected_progress=expected,
            status=self._kr_status(kr, progress, expected).value,
            outdated=outdated,
            grade=None if score is None else f.grade(score).value,
            tasks_total=n,
            tasks_done=done,
        )

    def _policy_warnings(self, obj: dict[str, Any], kr_count: int) -> list[str]:
        warnings = []
        if (
            obj["state"] in ("DRAFT", "ACTIVE")
            and obj["driver"] != "ALIGNED_OBJECTIVES"
            and not MIN_KEY_RESULTS <= kr_count <= MAX_KEY_RESULTS
        ):
            warnings.append(
                f"KEY_RESULT_COUNT: {_plural(kr_count, 'key result')}; {MIN_KEY_RESULTS}-{MAX_KEY_RESULTS}"
                " keep an objective focused"
            )
        if obj["state"] == "ACTIVE" and obj["team_id"] is not None:
            n = self._team_active_counts().get((obj["team_id"], obj["cycle_id"]), 0)
            if not MIN_OBJECTIVES <= n <= MAX_OBJECTIVES:
                warnings.append(
                    f"OBJECTIVE_COUNT: the team has {_plural(n, 'active objective')} in this cycle;"
                    f" {MIN_OBJECTIVES}-{MAX_OBJECTIVES} keep a team focused"
                )
        return warnings

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
            id=UUID(obj["id"]),
            cycle_id=UUID(obj["cycle_id"]),
            team_id=_uuid(obj["team_id"]),
            owner=obj["owner"],
            title=obj["title"],
            description=obj["description"],
            driver=obj["driver"],
            weight=obj["weight"],
            state=obj["state"],
            parent_objective_id=_uuid(obj["parent_objective_id"]),
            parent_key_result_id=_uuid(obj["parent_key_result_id"]),
            carried_over_from=_uuid(obj["carried_over_from"]),
            carried_over_to=_uuid(obj["carried_over_to"]),
            learnings=obj["learnings"],
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
            created_at=from_micros(obj["created_at"]),
            updated_at=from_micros(obj["updated_at"]),
            version=obj["version"],
        )

    # ------------------------------------------------------------------ cycles and teams
    def _cycle_view(self, d: dict[str, Any]) -> CycleView:
        return CycleView(
            id=UUID(d["id"]),
            name=d["name"],
            start=datetime.fromisoformat(d["start_date"]).date(),
            end=datetime.fromisoformat(d["end_date"]).date(),
            state=d["state"],
            expected_progress=self._cycle_expected(d, self.at),
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

    @staticmethod
    def _team_view(d: dict[str, Any]) -> TeamView:
        return TeamView(
            id=UUID(d["id"]),
            name=d["name"],
            parent_team_id=_uuid(d["parent_team_id"]),
            members=dict(sorted(orjson.loads(d["members"]).items())),
        )

    def teams(self) -> list[TeamView]:
        rows = self.tx.fetchall(
            f"SELECT {_cols(TEAMS)} FROM proj_teams WHERE org = ? ORDER BY name, id", [self.org]
        )
        return [self._team_view(_as_dict(TEAMS, r)) for r in rows]

    def teams_by_ids(self, ids: list[UUID]) -> list[TeamView | None]:
        found: dict[str, TeamView] = {}
        keys = list(dict.fromkeys(str(i) for i in ids))
        for chunk in _chunks(keys):
            for r in self.tx.fetchall(
                f"SELECT {_cols(TEAMS)} FROM proj_teams WHERE org = ? AND id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            ):
                d = _as_dict(TEAMS, r)
                found[d["id"]] = self._team_view(d)
        return [found.get(str(i)) for i in ids]

    # ------------------------------------------------------------------ objectives
    def objectives_by_ids(self, ids: list[UUID]) -> list[ObjectiveView | None]:
        self._load_objectives([str(i) for i in ids])
        return [self.objective_view(str(i)) for i in ids]

    def objectives(self, flt: ObjectiveFilter, first: int, after: str | None) -> Page[ObjectiveView]:
        n = page_size(first)
        where, params = self._objective_where(flt)
        total = self.tx.fetchone(
            f"SELECT COUNT(*) FROM proj_objectives WHERE org = ?{where}", [self.org, *params]
        )
        if after is not None:
            where += " AND seq > ?"
            params.append(decode_cursor("o", after))
        ids = self._objective_rows(where, params, f"ORDER BY seq LIMIT {n + 1}")
        items = [v for i in ids[:n] if (v := self.objective_view(i)) is not None]
        return Page(
            items=items,
            cursors=[encode_cursor("o", self._objectives[str(v.id)]["seq"]) for v in items],  # type: ignore[index]
            total_count=int(total[0]) if total else 0,
            has_next_page=len(ids) > n,
            has_previous_page=after is not None,
        )

    @staticmethod
    def _objective_where(flt: ObjectiveFilter) -> tuple[str, list[Any]]:
        where, params = "", list[Any]()
        if flt.cycle_id is not None:
            where += " AND cycle_id = ?"
            params.append(str(flt.cycle_id))
        if flt.team_id is not None:
            where += " AND team_id = ?"
            params.append(str(flt.team_id))
        if flt.owner is not None:
            where += " AND owner = ?"
            params.append(flt.owner)
        if flt.states:
            where += f" AND state IN ({_marks(len(flt.states))})"
            params.extend(flt.states)
        if flt.parent_objective_id is not None:
            where += " AND parent_objective_id = ?"
            params.append(str(flt.parent_objective_id))
        if flt.unaligned_only:
            where += " AND parent_objective_id IS NULL AND parent_key_result_id IS NULL"
        return where, params

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
            kids = [node(c, seen | {c}) for c in children[oid] if c not in seen and len(seen) < MAX_DEPTH]
            return TreeNode(objective=views[oid], children=kids)

        return [node(r, frozenset({r})) for r in roots]

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
            if not MIN_OBJECTIVES <= n <= MAX_OBJECTIVES:
                warnings.append(
                    f'OBJECTIVE_COUNT: team "{self._team_name(str(team))}" has'
                    f" {_plural(n, 'active objective')} in this cycle;"
                    f" {MIN_OBJECTIVES}-{MAX_OBJECTIVES} keep a team focused"
                )
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

    def _alignment_counts(self, cycle_id: str, team_id: str | None) -> tuple[int, int]:
        """(non-cancelled tasks of the cycle, those linked to a key result). A linked task belongs
        to its key result's cycle and objective's team (whatever it was created with), an
        unlinked one (or one whose key result was removed) to the cycle and team it names."""
        rows = self.tx.fetchall(
            "SELECT t.key_result_id, t.cycle_id, t.team_id, o.cycle_id, o.team_id FROM proj_tasks t "
            "LEFT JOIN proj_key_results k ON k.id = t.key_result_id AND k.org = t.org "
            "LEFT JOIN proj_objectives o ON o.id = k.objective_id AND o.org = t.org "
            "WHERE t.org = ? AND t.state <> 'CANCELLED' AND (t.cycle_id = ? OR o.cycle_id = ?)",
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

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _task_view(d: dict[str, Any]) -> TaskView:
        return TaskView(
            id=UUID(d["id"]),
            title=d["title"],
            description=d["description"],
            impact=d["impact"],
            assignee=d["assignee"],
            state=d["state"],
            key_result_id=_uuid(d["key_result_id"]),
            objective_id=_uuid(d["objective_id"]),
            cycle_id=_uuid(d["cycle_id"]),
            team_id=_uuid(d["team_id"]),
            created_at=from_micros(d["created_at"]),
            updated_at=from_micros(d["updated_at"]),
        )

    def task(self, task_id: UUID) -> TaskView | None:
        """One task by id (None: not in this org)."""
        row = self.tx.fetchone(
            f"SELECT {_cols(TASKS)} FROM proj_tasks WHERE org = ? AND id = ?", [self.org, str(task_id)]
        )
        return None if row is None else self._task_view(_as_dict(TASKS, row))

    def tasks(self, flt: TaskFilter, first: int, after: str | None) -> Page[TaskView]:
        n = page_size(first)
        where, params = "", list[Any]()
        for column, value in (
            ("cycle_id", flt.cycle_id),
            ("team_id", flt.team_id),
            ("key_result_id", flt.key_result_id),
            ("objective_id", flt.objective_id),
            ("assignee", flt.assignee),
        ):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(str(value))
        if flt.states:
            where += f" AND state IN ({_marks(len(flt.states))})"
            params.extend(flt.states)
        if flt.unaligned_only:
            where += " AND key_result_id IS NULL"
        total = self.tx.fetchone(f"SELECT COUNT(*) FROM proj_tasks WHERE org = ?{where}", [self.org, *params])
        if after is not None:
            where += " AND seq > ?"
            params.append(decode_cursor("t", after))
        rows = [
            _as_dict(TASKS, r)
            for r in self.tx.fetchall(
                f"SELECT {_cols(TASKS)} FROM proj_tasks WHERE org = ?{where} ORDER BY seq LIMIT {n + 1}",
                [self.org, *params],
            )
        ]
        return Page(
            items=[self._task_view(d) for d in rows[:n]],
            cursors=[encode_cursor("t", d["seq"]) for d in rows[:n]],
            total_count=int(total[0]) if total else 0,
            has_next_page=len(rows) > n,
            has_previous_page=after is not None,
        )

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
                unaligned.append(PrioritizedTask(task=self._task_view(d), priority=0.0, aligned=False))
                continue
            total_weight = sum(k["weight"] for k in krs)
            share = kr["weight"] / total_weight if total_weight else 0.0
            priority = f.task_priority(f.Impact(d["impact"]), share, self._kr_progress(kr)[0])
            aligned.append((priority, d["seq"], PrioritizedTask(self._task_view(d), priority, True)))
        aligned.sort(key=lambda item: (-item[0], item[1]))
        return ([p for _, _, p in aligned] + unaligned)[:n]

    # ------------------------------------------------------------------ check-ins and audit
    def check_ins(self, key_result_id: UUID, first: int, after: str | None) -> Page[CheckInView]:
        n = page_size(first)
        where, params = " AND key_result_id = ?", list[Any]([str(key_result_id)])
        total = self.tx.fetchone(
            f"SELECT COUNT(*) FROM proj_check_ins WHERE org = ?{where}", [self.org, *params]
        )
        if after is not None:
            where += " AND position < ?"
            params.append(decode_cursor("c", after))
        rows = [
            _as_dict(CHECK_INS, r)
            for r in self.tx.fetchall(
                f"SELECT {_cols(CHECK_INS)} FROM proj_check_ins WHERE org = ?{where} "
                f"ORDER BY position DESC LIMIT {n + 1}",
                [self.org, *params],
            )
        ]
        items = [
            CheckInView(
                position=d["position"],
                key_result_id=UUID(d["key_result_id"]),
                objective_id=UUID(d["objective_id"]),
                value_before=d["value_before"],
                value=d["value"],
                confidence=d["confidence"],
                note=d["note"],
                author=d["author"],
                at=from_micros(d["at"]),
                task_id=_uuid(d["task_id"]),
            )
            for d in rows[:n]
        ]
        return Page(
            items=items,
            cursors=[encode_cursor("c", c.position) for c in items],
            total_count=int(total[0]) if total else 0,
            has_next_page=len(rows) > n,
            has_previous_page=after is not None,
        )

    @staticmethod
    def _audit_entry(d: dict[str, Any]) -> AuditEntry:
        return AuditEntry(
            position=d["position"],
            at=from_micros(d["at"]),
            aggregate_type=d["aggregate_type"],
            aggregate_id=UUID(d["aggregate_id"]),
            version=d["version"],
            event_type=d["event_name"],
            actor=d["actor"],
            correlation_id=d["correlation_id"],
            causation_id=d["causation_id"],
            payload=orjson.loads(d["payload"]),
        )

    def audit_log(self, flt: AuditFilter, first: int, after: str | None) -> Page[AuditEntry]:
        n = page_size(first)
        where, params = "", list[Any]()
        if flt.aggregate_id is not None:
            where += " AND aggregate_id = ?"
            params.append(str(flt.aggregate_id))
        if flt.aggregate_types:  # any case: objective, OBJECTIVE and Objective are the same
            types = list(dict.fromkeys(AGGREGATE_TYPES.get(t.lower(), t) for t in flt.aggregate_types))
            where += f" AND aggregate_type IN ({_marks(len(types))})"
            params.extend(types)
        if flt.actor is not None:
            where += " AND actor = ?"
            params.append(flt.actor)
        if flt.event_types:
            marks = _marks(len(flt.event_types))
            where += f" AND (event_type IN ({marks}) OR event_name IN ({marks}))"
            params.extend([*flt.event_types, *flt.event_types])
        if flt.since is not None:
            where += " AND at >= ?"
            params.append(to_micros(flt.since))
        if flt.until is not None:
            where += " AND at <= ?"
            params.append(to_micros(flt.until))
        total = self.tx.fetchone(f"SELECT COUNT(*) FROM proj_audit WHERE org = ?{where}", [self.org, *params])
        if after is not None:
            where += " AND position > ?"
            params.append(decode_cursor("a", after))
        rows = [
            _as_dict(AUDIT, r)
            for r in self.tx.fetchall(
                f"SELECT {_cols(AUDIT)} FROM proj_audit WHERE org = ?{where} ORDER BY position LIMIT {n + 1}",
                [self.org, *params],
            )
        ]
        items = [self._audit_entry(d) for d in rows[:n]]
        return Page(
            items=items,
            cursors=[encode_cursor("a", e.position) for e in items],
            total_count=int(total[0]) if total else 0,
            has_next_page=len(rows) > n,
            has_previous_page=after is not None,
        )

    def _aggregate_rows(self, aggregate_id: str) -> list[Row]:
        return self.tx.fetchall(
            f"SELECT {_cols(AUDIT)} FROM proj_audit WHERE org = ? AND aggregate_id = ? ORDER BY version",
            [self.org, aggregate_id],
        )

    def _objective_of_key_result(self, key_result_id: str) -> str | None:
        """The objective a key result belongs (or, removed, belonged) to, within this org."""
        row = self.tx.fetchone(
            "SELECT objective_id FROM proj_key_results WHERE org = ? AND id = ?", [self.org, key_result_id]
        )
        if row is not None:
            return str(row[0])
        row = self.tx.fetchone(  # removed since: its KeyResultAdded names it
            "SELECT aggregate_id FROM proj_audit WHERE org = ? AND event_name = 'KeyResultAdded' "
            "AND aggregate_type = 'Objective' AND payload LIKE ? ORDER BY position LIMIT 1",
            [self.org, f'%"key_result_id":"{key_result_id}"%'],
        )
        return None if row is None else str(row[0])

    def history(self, aggregate_id: UUID) -> list[AuditEntry]:
        """Oldest first; Revised-style events get `before` with the values they replaced. A key
        result's id answers the events of its objective that concern that key result."""
        rows = self._aggregate_rows(str(aggregate_id))
        if rows:
            return self._history(rows)
        objective_id = self._objective_of_key_result(str(aggregate_id))
        if objective_id is None:
            return []
        kr_id = str(aggregate_id)
        return [
            e
            for e in self._history(self._aggregate_rows(objective_id))
            if str(e.payload.get("key_result_id")) == kr_id
        ]

    def _history(self, rows: Sequence[Row]) -> list[AuditEntry]:
        entries = []
        state: dict[str, Any] = {}
        krs: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = self._audit_entry(_as_dict(AUDIT, r))
            payload = entry.payload
            name = entry.event_type.rpartition(".")[2]
            kr_id = str(payload.get("key_result_id"))
            changes = payload.get("changes")
            if entry.version == 1:
                state.update(payload)
            elif isinstance(changes, dict):
                target = krs.setdefault(kr_id, {}) if name == "KeyResultRevised" else state
                payload["before"] = {k: target.get(k) for k in changes}
                target.update(changes)
            elif name == "KeyResultAdded":
                krs[kr_id] = dict(payload)
            elif name == "KeyResultCheckedIn":
                krs.setdefault(kr_id, {})["current"] = payload.get("value")
            elif name in SETTER_EVENTS:
                payload["before"] = {k: state.get(k) for k in payload}
                state.update(payload)
            entries.append(entry)
        return entries
