"""The series forecasts are fitted to (projections/forecast.py), batched over key results.

Check-ins come from the check-ins view, the latest MAX_SERIES inside each request's window;
task tallies (Objective.KeyResultTaskRecorded) from the audit view, the log's index. Both are
append-only, so a bound on time (and on log position) reads what the log held at that instant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from projections._db import Tx
from projections.model import MAX_SERIES, ForecastSeries, SeriesPoint, SeriesRequest, TaskTally
from projections.queries.base import _chunks, _marks
from projections.views import AUDIT, CHECK_INS, from_micros, to_micros

TASK_RECORDED = "KeyResultTaskRecorded"


def _position_bound(until_position: int | None) -> tuple[str, list[Any]]:
    return ("", []) if until_position is None else (" AND position <= ?", [until_position])


def _check_ins(
    tx: Tx, org: str, kr_ids: Sequence[str], since: datetime, until: datetime, until_position: int | None
) -> dict[str, list[SeriesPoint]]:
    bound, extra = _position_bound(until_position)
    out: dict[str, list[SeriesPoint]] = defaultdict(list)
    for chunk in _chunks(list(kr_ids)):
        rows = tx.fetchall(
            "SELECT key_result_id, at, value FROM ("
            " SELECT key_result_id, at, value, position,"
            " ROW_NUMBER() OVER (PARTITION BY key_result_id ORDER BY position DESC) AS newest"
            f" FROM {CHECK_INS.physical()} WHERE org = ? AND key_result_id IN ({_marks(len(chunk))})"
            f" AND at >= ? AND at <= ?{bound}"
            f") latest WHERE newest <= {MAX_SERIES} ORDER BY key_result_id, position",
            [org, *chunk, to_micros(since), to_micros(until), *extra],
        )
        for kr_id, at, value in rows:
            out[kr_id].append(SeriesPoint(from_micros(int(at)), float(value)))
    return out


def _tallies(
    tx: Tx, org: str, objective_ids: Sequence[str], until: datetime, until_position: int | None
) -> dict[str, list[TaskTally]]:
    bound, extra = _position_bound(until_position)
    out: dict[str, list[TaskTally]] = defaultdict(list)
    for chunk in _chunks(list(objective_ids)):
        rows = tx.fetchall(
            f"SELECT at, payload FROM {AUDIT.physical()} WHERE org = ? AND aggregate_id IN"
            f" ({_marks(len(chunk))}) AND event_name = ? AND at <= ?{bound} ORDER BY position",
            [org, *chunk, TASK_RECORDED, to_micros(until), *extra],
        )
        for at, payload in rows:
            data = orjson.loads(payload)
            weight = data.get("weight")
            out[str(data["key_result_id"])].append(
                TaskTally(
                    at=from_micros(int(at)),
                    task_id=str(data["task_id"]),
                    weight=None if weight is None else float(weight),
                    done=bool(data.get("done")),
                )
            )
    return out


def forecast_series(
    tx: Tx, org: str, requests: Sequence[SeriesRequest], until_position: int | None = None
) -> list[ForecastSeries]:
    """The series of each request (same order). Requests sharing a window (a cycle, one
    instant) are read with one query; task tallies with one query per instant."""
    by_window: dict[tuple[datetime, datetime], set[str]] = defaultdict(set)
    by_until: dict[datetime, set[str]] = defaultdict(set)
    for r in requests:
        if r.from_tasks:
            by_until[r.until].add(str(r.objective_id))
        else:
            by_window[(r.since, r.until)].add(str(r.key_result_id))
    check_ins = {
        window: _check_ins(tx, org, sorted(ids), *window, until_position) for window, ids in by_window.items()
    }
    tallies = {
        until: _tallies(tx, org, sorted(ids), until, until_position) for until, ids in by_until.items()
    }
    out = []
    for r in requests:
        kr = str(r.key_result_id)
        if r.from_tasks:
            out.append(ForecastSeries(check_ins=[], tallies=list(tallies[r.until].get(kr, []))))
        else:
            out.append(ForecastSeries(check_ins=list(check_ins[(r.since, r.until)].get(kr, [])), tallies=[]))
    return out
