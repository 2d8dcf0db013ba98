"""Replay: random command sequences, rebuilt from the stored events, give identical state."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.domain.errors import DomainError
from okr.domain.internal import ChildrenIndex, CycleIndex
from okr.domain.key_result import KeyResult

OPS = st.sampled_from(
    [
        "draft",
        "add_kr",
        "activate",
        "check_in",
        "revise_kr",
        "remove_kr",
        "score",
        "close",
        "abandon",
        "align",
        "task",
        "link",
        "complete",
        "complete_value",
        "reopen",
        "cancel",
        "carry",
        "revise",
        "start_task",
        "score_objective",
        "close_cycle",
    ]
)
VALUES = st.one_of(
    st.floats(min_value=-1000, max_value=1000, allow_nan=False),
    st.sampled_from([float("nan"), float("inf"), 1e16, 0.0, 1.0]),
)
STEP = st.tuples(OPS, st.integers(0, 50), st.integers(0, 50), VALUES, st.floats(0, 1.2))


def _normalise(value: Any) -> Any:
    if isinstance(value, KeyResult):
        return _normalise(vars(value))
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if k != "_pending_events"}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _state(aggregate: object) -> dict[str, Any]:
    result = _normalise(dict(vars(aggregate)))
    assert isinstance(result, dict)
    return result


def _run(app: OkrApplication, steps: list[tuple[str, int, int, float, float]]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    cycles = [
        app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id,
        app.execute(cmd.ScheduleCycle(name="Q2", start=date(2026, 4, 1), end=date(2026, 6, 30))).id,
    ]
    app.execute(cmd.StartCycle(cycle_id=cycles[0]))  # check-ins go into ACTIVE cycles only
    ids.update(cycles)
    objectives = [app.execute(cmd.DraftObjective(cycle_id=cycles[0], title=f"Seed {n}")).id for n in range(2)]
    krs = [
        app.execute(
            cmd.AddKeyResult(
                objective_id=o,
                title=f"Seed KR {n}",
                kind="NUMERIC",
                start=0,
                target=100 * (n + 1),
                source="TASKS" if n == 2 else "CHECK_INS",
            )
        ).id
        for o in objectives
        for n in range(3)
    ]
    app.execute(cmd.ActivateObjective(objective_id=objectives[0]))
    tasks = [app.execute(cmd.CreateTask(title=f"Seed task {n}", key_result_id=krs[n])).id for n in range(3)]

    def pick(items: list[uuid.UUID], i: int) -> uuid.UUID | None:
        return items[i % len(items)] if items else None

    for op, i, j, value, fraction in steps:
        o, k, t = pick(objectives, i), pick(krs, j), pick(tasks, i)
        try:
            if op == "draft":
                objectives.append(app.execute(cmd.DraftObjective(cycle_id=cycles[i % 2], title=f"O{i}")).id)
            elif op == "add_kr" and o:
                kind = ["NUMERIC", "PERCENTAGE", "BOOLEAN", "THRESHOLD"][j % 4]
                krs.append(
                    app.execute(
                        cmd.AddKeyResult(
                            objective_id=o,
                            title=f"K{j}",
                            kind=kind,
                            start=0,
                            target=value,
                            source="TASKS" if j % 5 == 0 else "CHECK_INS",
                        )
                    ).id
                )
            elif op == "activate" and o:
                app.execute(cmd.ActivateObjective(objective_id=o))
            elif op == "check_in" and k:
                app.execute(cmd.CheckInKeyResult(key_result_id=k, value=value, confidence=fraction))
            elif op == "revise_kr" and k:
                app.execute(cmd.ReviseKeyResult(key_result_id=k, target=value, weight=fraction or None))
            elif op == "remove_kr" and k:
                app.execute(cmd.RemoveKeyResult(key_result_id=k))
            elif op == "score" and k:
                app.execute(
                    cmd.ScoreKeyResult(key_result_id=k, score=fraction, reason="judgement" if i % 2 else "")
                )
            elif op == "close" and o:
                app.execute(cmd.CloseObjective(objective_id=o, learnings="learned"))
            elif op == "abandon" and o:
                app.execute(cmd.AbandonObjective(objective_id=o))
            elif op == "align" and o:
                other = pick(objectives, j)
                app.execute(cmd.AlignObjective(objective_id=o, parent_objective_id=other))
            elif op == "task":
                tasks.append(
                    app.execute(
                        cmd.CreateTask(
                            title=f"T{i}",
                            impact=["HIGH", "MEDIUM", "LOW"][i % 3],
                            key_result_id=k if j % 2 else None,
                        )
                    ).id
                )
            elif op == "link" and t:
                app.execute(cmd.LinkTask(task_id=t, key_result_id=k if j % 3 else None))
            elif op == "complete" and t:
                app.execute(cmd.CompleteTask(task_id=t))
            elif op == "complete_value" and t:
                app.execute(cmd.CompleteTask(task_id=t, value=value))
            elif op == "reopen" and t:
                app.execute(cmd.ReopenTask(task_id=t))
            elif op == "cancel" and t:
                app.execute(cmd.CancelTask(task_id=t))
            elif op == "start_task" and t:
                app.execute(cmd.StartTask(task_id=t))
            elif op == "carry" and o:
                res = app.execute(cmd.CarryOverObjective(objective_id=o, target_cycle_id=cycles[(i + 1) % 2]))
                objectives.append(res.id)
                krs.extend(kr.id for kr in app.get_objective(res.id).key_results.values())
            elif op == "revise" and o:
                app.execute(cmd.ReviseObjective(objective_id=o, title=f"Revised {value}"))
            elif op == "score_objective" and o:
                app.execute(
                    cmd.ScoreObjective(objective_id=o, score=fraction, reason="judgement" if i % 2 else "")
                )
            elif op == "close_cycle" and i % 7 == 0:
                app.execute(cmd.CloseCycle(cycle_id=cycles[j % 2], close_active_objectives=bool(i % 2)))
        except DomainError:
            pass
    ids.update(objectives)
    ids.update(tasks)
    # the write side's indexes are aggregates too (snapshotted like the others)
    indexes = [*(CycleIndex.id_for(c) for c in cycles), *(ChildrenIndex.id_for(o) for o in objectives)]
    for candidate in indexes:
        try:
            app.repository.get(candidate)
        except AggregateNotFoundError:
            continue
        ids.add(candidate)
    return ids


@settings(max_examples=40, deadline=None)
@given(st.lists(STEP, min_size=5, max_size=60))
def test_replay_rebuilds_identical_state(steps: list[tuple[str, int, int, float, float]]) -> None:
    """Loading (snapshot + events, through the JSON mapper) equals folding every event from version 1."""
    app = OkrApplication(
        {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": ":memory:",
            "OKR_SNAPSHOT_INTERVAL": "3",
        }
    )
    with request_context(system_context(f"org-{uuid.uuid4().hex[:6]}", "alice")):
        ids = _run(app, steps)
    for aggregate_id in ids:
        loaded = app.repository.get(aggregate_id)
        folded: Any = None
        for domain_event in app.events.get(aggregate_id):
            folded = domain_event.mutate(folded)  # type: ignore[attr-defined]
        assert _state(loaded) == _state(folded)
