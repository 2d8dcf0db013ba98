"""Input the write side refuses (no I/O): text no store can hold (NUL, lone surrogates) in every
free-text field and the idempotency key, and cycle dates the read side cannot compute with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from okr import commands as cmd
from okr.application import OkrApplication
from okr.domain import RequestContext
from okr.domain.errors import InvalidCycleDatesError, ValidationError


def _seed(app: OkrApplication) -> dict[str, str]:
    cycle = app.execute(cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
    app.execute(cmd.StartCycle(cycle_id=cycle))
    objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
    kr = app.execute(cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", target=400)).id
    app.execute(cmd.ActivateObjective(objective_id=objective))
    team = app.execute(cmd.CreateTeam(name="Growth")).id
    return {"cycle": str(cycle), "objective": str(objective), "kr": str(kr), "team": str(team)}


COMMANDS: dict[str, Callable[[OkrApplication, dict[str, str], str], Any]] = {
    "objective title": lambda app, ids, bad: app.execute(
        cmd.DraftObjective(cycle_id=ids["cycle"], title=f"a{bad}b")
    ),
    "objective description": lambda app, ids, bad: app.execute(
        cmd.ReviseObjective(objective_id=ids["objective"], description=bad)
    ),
    "check-in note": lambda app, ids, bad: app.execute(
        cmd.CheckInKeyResult(key_result_id=ids["kr"], value=5, note=f"n{bad}")
    ),
    "team member": lambda app, ids, bad: app.execute(
        cmd.AddTeamMember(team_id=ids["team"], user_id=f"u{bad}")
    ),
    "task assignee": lambda app, ids, bad: app.execute(cmd.CreateTask(title="t", assignee=f"u{bad}")),
    "key result unit": lambda app, ids, bad: app.execute(
        cmd.AddKeyResult(objective_id=ids["objective"], title="k", kind="NUMERIC", target=2, unit=bad)
    ),
    "idempotency key": lambda app, ids, bad: app.execute(cmd.CreateTeam(name="t"), idempotency_key=f"k{bad}"),
}


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_text_no_store_can_hold_is_refused(
    memory_app: OkrApplication, ctx: RequestContext, command: str, bad: str
) -> None:
    """NUL (PostgreSQL text refuses it: the views would fail on the event forever) and lone
    surrogates (not UTF-8) are INVALID_INPUT and append nothing."""
    ids = _seed(memory_app)
    before = memory_app.max_position()
    with pytest.raises(ValidationError) as refused:
        COMMANDS[command](memory_app, ids, bad)
    assert refused.value.code == "INVALID_INPUT"
    assert memory_app.max_position() == before


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2026, 1, 1), date(9999, 12, 31)), (date(1, 1, 1), date(2026, 3, 31))],
    ids=["end-date-max", "start-year-1"],
)
def test_cycle_dates_outside_the_supported_years_are_refused(
    memory_app: OkrApplication, ctx: RequestContext, start: date, end: date
) -> None:
    """A cycle ending on date.max made every later cycles/objectives read of its org overflow (a 500)."""
    with pytest.raises(InvalidCycleDatesError):
        memory_app.execute(cmd.ScheduleCycle(name="Forever", start=start, end=end))
    assert memory_app.max_position() == 0
    assert memory_app.execute(
        cmd.ScheduleCycle(name="Ok", start=date(1900, 1, 1), end=date(2999, 12, 31))
    ).position
