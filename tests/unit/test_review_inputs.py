"""Review findings pinned without I/O: text no store can hold, cycle dates the read side cannot
compute with, forged cursors, and token claims that slipped through (org with a final newline,
a non-numeric exp, a control character in the user)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import pytest

from api.auth import AuthenticationError, JwtKeys, decode_token, mint
from okr import commands as cmd
from okr.application import OkrApplication
from okr.domain import RequestContext
from okr.domain.errors import InvalidCycleDatesError, ValidationError
from projections.model import InvalidCursorError
from projections.queries import decode_cursor, encode_cursor

SECRET = "s" * 64
HS = JwtKeys("HS256", SECRET, SECRET)


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


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("o", 10**19),  # overflowed SQLite's INTEGER and PostgreSQL's bigint: a 500
        encode_cursor("o", 10**40),
    ],
    ids=["19-digits", "40-digits"],
)
def test_cursors_beyond_64_bits_are_invalid(cursor: str) -> None:
    """A forged cursor whose number cannot be a stored position is an InvalidCursorError."""
    with pytest.raises(InvalidCursorError):
        decode_cursor("o", cursor)
    assert decode_cursor("o", encode_cursor("o", 2**62)) == 2**62


def _token(**claims: object) -> str:
    now = datetime.now(tz=UTC)
    body: dict[str, object] = {"sub": "alice", "org": "acme", "roles": ["admin"]}
    body["exp"] = now + timedelta(hours=1)
    body.update(claims)
    return jwt.encode(body, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"org": "acme\n"},  # ORG_ID_PATTERN.match admits a final newline: another tenant id
        {"exp": "4102444800"},  # PyJWT accepts a numeric string: the WebSocket never expired
        {"sub": "alice\x00"},  # the actor of every event: NUL cannot be stored
        {"sub": "alice\nadmin"},
    ],
    ids=["org-final-newline", "exp-string", "sub-nul", "sub-newline"],
)
def test_token_claims_that_slipped_through_are_refused(claims: dict[str, object]) -> None:
    """Claims that decoded before the review are now UNAUTHENTICATED."""
    with pytest.raises(AuthenticationError):
        decode_token(_token(**claims), HS)
    assert decode_token(_token(), HS).org == "acme"


def test_minting_refuses_an_org_with_a_final_newline() -> None:
    """`okr token` cannot mint a token for 'acme\\n' either."""
    with pytest.raises(ValueError, match="org id"):
        mint(HS, org="acme\n", user="alice", roles=["admin"])
