"""The issue-9 write-side rules through GraphQL over real HTTP (embedded SQLite): closeCycle with
active objectives, scoreObjective, configureOrg partial changes, team-scoped check-ins, the
first position of a repeated idempotency key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("write-rules")), jwt_secret=SECRET, environment="test"
    )
    with ThreadedServer(create_app(settings)) as server:
        yield server.url


@pytest.fixture
def admin(url: str, org: str) -> Iterator[Client]:
    client = Client(url, token(org))
    yield client
    client.close()


def _errors(payload: dict[str, Any], name: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = payload["data"][name]["errors"]
    return errors


def _active(admin: Client, cycle: str, title: str, team: str | None = None) -> tuple[str, str]:
    objective = admin.m(
        "draftObjective", {"cycleId": cycle, "title": title, **({"teamId": team} if team else {})}
    )
    kr = admin.m(
        "addKeyResult", {"objectiveId": objective["id"], "title": "KR", "kind": "NUMERIC", "target": 10}
    )
    admin.m("addKeyResult", {"objectiveId": objective["id"], "title": "KR2", "kind": "BOOLEAN"})
    admin.m("activateObjective", {"objectiveId": objective["id"]})
    return objective["id"], kr["id"]


def test_close_cycle_and_score_objective_over_graphql(admin: Client) -> None:
    """closeCycle is refused with the active objectives listed, closes and scores them with
    closeActiveObjectives, then the cycle is frozen; scoreObjective needs a CLOSED objective."""
    cycle = admin.m("scheduleCycle", {"name": "Q1", "start": "2026-01-01", "end": "2026-03-31"})["id"]
    planned = _active(admin, cycle, "Early")
    refused = admin.m_raw("checkInKeyResult", {"keyResultId": planned[1], "value": 5})
    assert [e["code"] for e in _errors(refused, "checkInKeyResult")] == ["CYCLE_NOT_ACTIVE"]
    admin.m("startCycle", {"cycleId": cycle})
    admin.m("checkInKeyResult", {"keyResultId": planned[1], "value": 5})
    early = admin.m_raw("scoreObjective", {"objectiveId": planned[0], "score": 0.5, "reason": "x"})
    assert [e["code"] for e in _errors(early, "scoreObjective")] == ["OBJECTIVE_NOT_ACTIVE"]
    other = admin.m("draftObjective", {"cycleId": cycle, "title": "Other"})["id"]
    admin.m("closeObjective", {"objectiveId": planned[0]})
    scored = admin.m(
        "scoreObjective",
        {"objectiveId": planned[0], "score": 0.9, "reason": "worth more", "idempotencyKey": "s1"},
        "replayed objective { id state }",
    )
    assert scored["objective"] == {"id": planned[0], "state": "CLOSED"}
    second = _active(admin, cycle, "Still open")
    closing = admin.m_raw("closeCycle", {"cycleId": cycle})
    error = _errors(closing, "closeCycle")[0]
    assert error["code"] == "CYCLE_HAS_ACTIVE_OBJECTIVES"
    assert f'"Still open" ({second[0]})' in error["message"] and "1 active objective:" in error["message"]
    admin.m("closeCycle", {"cycleId": cycle, "closeActiveObjectives": True})
    frozen = admin.m_raw("reviseObjective", {"objectiveId": other, "title": "late"})
    assert [e["code"] for e in _errors(frozen, "reviseObjective")] == ["CYCLE_CLOSED"]
    again = admin.m(
        "scoreObjective",
        {"objectiveId": planned[0], "score": 0.9, "reason": "worth more", "idempotencyKey": "s1"},
        "replayed",
    )
    assert again["replayed"] and again["position"] == scored["position"]


def test_configure_org_and_check_in_permissions_over_graphql(url: str, admin: Client, org: str) -> None:
    """configureOrg changes only the fields given; members check in on their teams' objectives
    unless checkInsOpenToAll."""
    admin.m("configureOrg", {"strictPolicies": True})
    admin.m("configureApproval", {"approvalRequired": False})  # settings and permissions here, not approvals
    admin.m("configureOrg", {"cadenceDays": 14})
    cycle = admin.m("scheduleCycle", {"name": "Q2", "start": "2026-04-01", "end": "2026-06-30"})["id"]
    admin.m("startCycle", {"cycleId": cycle})
    team = admin.m("createTeam", {"name": "Growth"})["id"]
    admin.m("addTeamMember", {"teamId": team, "userId": "mia"})
    ours = _active(admin, cycle, "Ours", team)
    theirs = _active(admin, cycle, "Theirs")
    # strict policies survived the cadence change: a 5th key result is refused
    for n in range(2):
        admin.m("addKeyResult", {"objectiveId": ours[0], "title": f"more {n}", "kind": "BOOLEAN"})
    fifth = admin.m_raw("addKeyResult", {"objectiveId": ours[0], "title": "fifth", "kind": "BOOLEAN"})
    assert [e["code"] for e in _errors(fifth, "addKeyResult")] == ["POLICY_VIOLATION"]
    member = Client(url, token(org, user="mia", roles=("member",)))
    member.m("checkInKeyResult", {"keyResultId": ours[1], "value": 3})
    outside = member.m_raw("checkInKeyResult", {"keyResultId": theirs[1], "value": 3})
    assert [e["code"] for e in _errors(outside, "checkInKeyResult")] == ["FORBIDDEN"]
    admin.m("configureOrg", {"checkInsOpenToAll": True})
    member.m("checkInKeyResult", {"keyResultId": theirs[1], "value": 3})
    member.close()
