"""Mutation payloads read their own write (and a repeated idempotency key its first result), and
figures reach clients rounded, never as -0.0 — through a real `okr serve` on both stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from harness.apiserver import Client, server_process, token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_process(tmp_path_factory.mktemp("payloads") / "data") as url:
        yield url


@pytest.fixture(scope="module")
def pg_server(pg_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    schema = f"payloads_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        data = tmp_path_factory.mktemp("payloads-pg") / "data"
        with server_process(data, OKR_DATABASE_URL=pg_database_url, OKR_DATABASE_SCHEMA=schema) as url:
            yield url
    finally:
        with psycopg.connect(pg_database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "pg"])
def server(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_server")
    return url


def _objective(client: Client, *krs: dict[str, object]) -> tuple[str, list[str]]:
    today = datetime.now(tz=UTC).date()
    cycle = client.m(
        "scheduleCycle",
        {
            "name": "Q",
            "start": (today - timedelta(days=20)).isoformat(),
            "end": (today + timedelta(days=70)).isoformat(),
        },
    )["id"]
    client.m("startCycle", {"cycleId": cycle})
    oid = client.m("draftObjective", {"cycleId": cycle, "title": "O"})["id"]
    ids = [client.m("addKeyResult", {"objectiveId": oid, **kr})["id"] for kr in krs]
    client.m("activateObjective", {"objectiveId": oid})
    return oid, ids


NUMERIC = {"title": "n", "kind": "NUMERIC", "start": 0, "target": 100}


def test_complete_task_payload_shows_the_key_result_it_moved(server: str) -> None:
    """completeTask(value) returns its key result with that value, every time (was stale 10/10)."""
    client = Client(server, token(f"pay-{uuid.uuid4().hex[:8]}"))
    try:
        _, (kr, _) = _objective(client, NUMERIC, {"title": "b", "kind": "BOOLEAN"})
        for i in range(10):
            task = client.m("createTask", {"title": f"t{i}", "keyResultId": kr})["id"]
            payload = client.m(
                "completeTask",
                {"taskId": task, "value": 10 * (i + 1)},
                "task { state keyResult { current progress checkInCount } objective { progress } }",
            )
            assert payload["task"]["state"] == "DONE"
            assert payload["task"]["keyResult"] == {
                "current": 10.0 * (i + 1),
                "progress": round(0.1 * (i + 1), 4),
                "checkInCount": i + 1,
            }
    finally:
        client.close()


def test_every_payload_reads_its_own_write(server: str) -> None:
    """Cycle, team, objective and key-result payloads show the state their write produced."""
    client = Client(server, token(f"pay-{uuid.uuid4().hex[:8]}"))
    try:
        oid, (kr, _) = _objective(client, NUMERIC, {"title": "b", "kind": "BOOLEAN"})
        checked = client.m(
            "checkInKeyResult",
            {"keyResultId": kr, "value": 40, "confidence": 0.3},
            "keyResult { current confidence checkIns { totalCount } } objective { confidence }",
        )
        assert checked["keyResult"] == {"current": 40.0, "confidence": 0.3, "checkIns": {"totalCount": 1}}
        assert checked["objective"] == {"confidence": 0.3}
        revised = client.m("reviseObjective", {"objectiveId": oid, "title": "Renamed"}, "objective { title }")
        assert revised["objective"] == {"title": "Renamed"}
        team = client.m("createTeam", {"name": "Support"})["id"]
        member = client.m(
            "addTeamMember", {"teamId": team, "userId": "bo", "role": "LEAD"}, "team { members { userId } }"
        )
        assert member["team"] == {"members": [{"userId": "bo"}]}
    finally:
        client.close()


def test_a_repeated_idempotency_key_returns_the_first_payload(server: str) -> None:
    """Same key later: the first position and the first payload, not today's position and state."""
    client = Client(server, token(f"pay-{uuid.uuid4().hex[:8]}"))
    select = "replayed keyResult { current checkInCount objective { progress keyResults { current } } }"
    try:
        _, (kr, _) = _objective(client, NUMERIC, {"title": "b", "kind": "BOOLEAN"})
        first = client.m(
            "checkInKeyResult", {"keyResultId": kr, "value": 10, "idempotencyKey": "k-1"}, select
        )
        later = client.m("checkInKeyResult", {"keyResultId": kr, "value": 80}, select)
        assert later["position"] > first["position"]
        again = client.m(
            "checkInKeyResult", {"keyResultId": kr, "value": 10, "idempotencyKey": "k-1"}, select
        )
        assert again["position"] == first["position"]
        assert again["id"] == first["id"]
        assert again["replayed"] is True
        assert first["replayed"] is False
        assert again["keyResult"] == first["keyResult"]
        assert again["keyResult"]["current"] == 10.0
    finally:
        client.close()


def test_no_negative_zero_and_rounded_figures_anywhere(server: str) -> None:
    """-0.0 entered or computed never reaches a client; figures carry at most 4 decimals."""
    client = Client(server, token(f"pay-{uuid.uuid4().hex[:8]}"))
    try:
        oid, (down, ratio, _) = _objective(
            client,
            {"title": "down", "kind": "NUMERIC", "start": 0, "target": -10},
            {"title": "ratio", "kind": "NUMERIC", "start": 0, "target": 3},
            {"title": "b", "kind": "BOOLEAN"},
        )
        client.m("checkInKeyResult", {"keyResultId": down, "value": -0.0, "confidence": 0.0})
        position = client.m("checkInKeyResult", {"keyResultId": ratio, "value": 2.58})["position"]
        response = client.post(
            "query($o: ID!) { objective(id: $o) { progress attainment expectedProgress confidence"
            " keyResults { start target current progress attainment expectedProgress confidence"
            " checkIns { edges { node { value valueBefore confidence } } } } } }",
            {"o": oid},
            **{"X-Consistent-With": str(position)},
        )
        assert response.status_code == 200
        assert "-0.0" not in response.text
        assert "-0," not in response.text
        data = response.json()["data"]["objective"]
        figures = [data["progress"], data["attainment"], data["expectedProgress"]]
        for kr in data["keyResults"]:
            figures += [kr["progress"], kr["attainment"], kr["expectedProgress"]]
        assert all(round(x, 4) == x for x in figures)
        assert data["keyResults"][1]["progress"] == 0.86  # 2.58 / 3 = 0.8600000000000001
    finally:
        client.close()


def test_subscriptions_refuse_a_resume_position_beyond_the_log(server: str) -> None:
    """events/objectiveChanged(afterPosition) beyond the head is BAD_USER_INPUT, like consistentWith
    (it was accepted and never yielded)."""
    from harness.apiserver import Subscription

    org = f"pay-{uuid.uuid4().hex[:8]}"
    client = Client(server, token(org))
    try:
        oid, _ = _objective(client, NUMERIC, {"title": "b", "kind": "BOOLEAN"})
        beyond = 2**31 - 1  # the largest GraphQL Int, far beyond this log
        for query, variables in (
            ("subscription($a: Int) { events(afterPosition: $a) { position } }", {"a": beyond}),
            (
                "subscription($o: ID!, $a: Int) { objectiveChanged(id: $o, afterPosition: $a) { id } }",
                {"o": oid, "a": beyond},
            ),
            ("subscription($a: Int) { events(afterPosition: $a) { position } }", {"a": -1}),
        ):
            with Subscription(server, token(org), query, variables) as sub, pytest.raises(Exception) as err:
                sub.next(timeout=10)
            assert "BAD_USER_INPUT" in str(err.value), str(err.value)
            assert "afterPosition" in str(err.value)
    finally:
        client.close()
