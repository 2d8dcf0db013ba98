"""End to end through a real `okr serve` process (uvicorn) over HTTP and WebSocket:
the DESIGN worked example, live subscriptions, read-your-writes and stable pagination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from harness.apiserver import Client, Subscription, server_process, token

pytestmark = pytest.mark.e2e

KR_FIELDS = "id title progress attainment status current"


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_process(tmp_path_factory.mktemp("e2e") / "data") as url:
        yield url


@pytest.fixture(scope="module")
def pg_server(pg_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        data = tmp_path_factory.mktemp("e2e-pg") / "data"
        with server_process(data, OKR_DATABASE_URL=pg_database_url, OKR_DATABASE_SCHEMA=schema) as url:
            yield url
    finally:
        with psycopg.connect(pg_database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{'sqlite' if request.param == 'sqlite' else 'pg'}_server")
    return url


@pytest.fixture
def admin(sqlite_server: str, org: str) -> Iterator[Client]:
    client = Client(sqlite_server, token(org))
    yield client
    client.close()


def _active_objective(client: Client, title: str = "Grow pipeline") -> dict[str, str]:
    cycle = client.m("scheduleCycle", {"name": "2026-Q1", "start": "2026-01-01", "end": "2026-12-31"})
    client.m("startCycle", {"cycleId": cycle["id"]})
    objective = client.m("draftObjective", {"cycleId": cycle["id"], "title": title})
    kr = client.m(
        "addKeyResult", {"objectiveId": objective["id"], "title": "MQLs", "kind": "NUMERIC", "target": 400}
    )
    client.m("activateObjective", {"objectiveId": objective["id"]})
    return {"cycle": cycle["id"], "objective": objective["id"], "kr": kr["id"]}


def test_worked_example_of_the_design(server: str, org: str) -> None:
    """MQLs 0→400 at 370 = 0.925; trial-to-paid 0→22 at 19 = 0.864; reporting hours 9→1 at 3 = 0.75."""
    client = Client(server, token(org))
    cycle = client.m("scheduleCycle", {"name": "2026", "start": "2026-01-01", "end": "2026-12-31"})
    client.m("startCycle", {"cycleId": cycle["id"]})
    objective = client.m(
        "draftObjective", {"cycleId": cycle["id"], "title": "Make marketing a growth engine"}
    )
    oid = objective["id"]
    specs = [
        ("MQLs", "NUMERIC", 0, 400, 370, 0.925),
        ("Trial-to-paid %", "PERCENTAGE", 0, 22, 19, 19 / 22),
        ("Reporting hours per week", "NUMERIC", 9, 1, 3, 0.75),
    ]
    krs = []
    for title, kind, start, target, _, _ in specs:
        krs.append(
            client.m(
                "addKeyResult",
                {"objectiveId": oid, "title": title, "kind": kind, "start": start, "target": target},
            )["id"]
        )
    client.m("activateObjective", {"objectiveId": oid})
    position = 0
    for kr_id, (*_, value, _) in zip(krs, specs, strict=True):
        position = client.m("checkInKeyResult", {"keyResultId": kr_id, "value": value, "confidence": 0.8})[
            "position"
        ]
    data = client.q(
        f"query($o: ID!, $p: Int) {{ objective(id: $o, consistentWith: $p) {{ progress attainment status "
        f"keyResults {{ {KR_FIELDS} }} }} }}",
        {"o": oid, "p": position},
    )["objective"]
    by_title = {kr["title"]: kr for kr in data["keyResults"]}
    for title, _, _, _, value, expected in specs:
        assert by_title[title]["current"] == value
        assert by_title[title]["progress"] == round(expected, 4)  # 4 places at the API edge
    assert round(by_title["Trial-to-paid %"]["progress"], 3) == 0.864
    assert data["progress"] == round((0.925 + 19 / 22 + 0.75) / 3, 4)
    single = client.q(
        "query($k: ID!, $p: Int) { keyResult(id: $k, consistentWith: $p) { progress } }",
        {"k": krs[2], "p": position},
    )
    assert single["keyResult"]["progress"] == pytest.approx(0.75)
    client.close()


def test_subscription_receives_another_clients_check_in(server: str, org: str) -> None:
    """A WebSocket subscriber sees a check-in made by another user over HTTP, and nothing of other orgs."""
    writer = Client(server, token(org, user="bob", roles=("member",)))
    ids = _active_objective(Client(server, token(org)))
    # bob is in no team: the org lets every member check in
    Client(server, token(org)).m("configureOrg", {"checkInsOpenToAll": True})
    start = writer.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 1})["position"]
    other_org = f"org-{uuid.uuid4().hex[:8]}"
    events_query = (
        "subscription($after: Int) { events(afterPosition: $after,"
        ' filter: {eventTypes: ["KeyResultCheckedIn"]})'
        " { position aggregateType aggregateId eventType actor payload } }"
    )
    with (
        Subscription(server, token(org, user="alice"), events_query, {"after": start}) as events,
        Subscription(
            server,
            token(org, user="alice"),
            "subscription($o: ID!, $after: Int) {"
            " objectiveChanged(id: $o, afterPosition: $after) { id keyResults { current } progress } }",
            {"o": ids["objective"], "after": start},
        ) as changed,
        Subscription(server, token(other_org), events_query, {"after": 0}) as outsider,
    ):
        position = writer.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 200, "note": "halfway"})[
            "position"
        ]
        event = events.next()["events"]
        assert event["position"] == position
        assert (event["aggregateType"], event["eventType"]) == ("Objective", "KeyResultCheckedIn")
        assert event["aggregateId"] == ids["objective"]
        assert event["actor"] == "bob"
        assert event["payload"]["value"] == 200
        assert event["payload"]["note"] == "halfway"
        objective = changed.next(timeout=15)["objectiveChanged"]
        assert objective["keyResults"][0]["current"] == 200
        assert objective["progress"] == pytest.approx(0.5)
        # the outsider replays the whole log from 0 but sees only its own org's events
        outsider_client = Client(server, token(other_org))
        own = _active_objective(outsider_client)
        mine = outsider_client.m("checkInKeyResult", {"keyResultId": own["kr"], "value": 7})["position"]
        assert outsider.next(timeout=15)["events"]["position"] == mine
        outsider_client.close()
    writer.close()


def test_read_your_writes_with_consistent_with(admin: Client) -> None:
    """A query with consistentWith (or X-Consistent-With) sees the mutation that returned that position."""
    ids = _active_objective(admin)
    for value in (100.0, 150.0, 300.0):
        position = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": value})["position"]
        seen = admin.q(
            "query($k: ID!, $p: Int) { keyResult(id: $k, consistentWith: $p) { current checkInCount } }",
            {"k": ids["kr"], "p": position},
        )["keyResult"]
        assert seen["current"] == value
        header = admin.q(
            "query($k: ID!) { checkIns(keyResultId: $k, first: 1) { edges { node { value } } } }",
            {"k": ids["kr"]},
            **{"X-Consistent-With": str(position)},
        )
        assert header["checkIns"]["edges"][0]["node"]["value"] == value
    payload = admin.m(
        "checkInKeyResult", {"keyResultId": ids["kr"], "value": 400.0}, select="keyResult { current status }"
    )
    assert payload["keyResult"] == {"current": 400.0, "status": "ACCOMPLISHED"}


def test_pagination_is_stable_when_rows_are_inserted_between_pages(admin: Client) -> None:
    """Keyset cursors: inserts between two page requests neither repeat nor skip rows."""
    ids = _active_objective(admin)
    created = [
        admin.m("createTask", {"title": f"task {i}", "keyResultId": ids["kr"]})["id"] for i in range(5)
    ]
    query = (
        "query($f: TaskFilter, $first: Int!, $after: String, $p: Int) {"
        " tasks(filter: $f, first: $first, after: $after, consistentWith: $p)"
        " { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    flt = {"keyResultId": ids["kr"]}
    position = admin.m("createTask", {"title": "task 5", "keyResultId": ids["kr"]})["position"]
    first = admin.q(query, {"f": flt, "first": 3, "p": position})["tasks"]
    assert first["totalCount"] == 6
    assert first["pageInfo"]["hasNextPage"] is True
    page_one = [e["node"]["id"] for e in first["edges"]]
    assert page_one == created[:3]
    late = admin.m("createTask", {"title": "late", "keyResultId": ids["kr"]})
    second = admin.q(
        query, {"f": flt, "first": 3, "after": first["pageInfo"]["endCursor"], "p": late["position"]}
    )["tasks"]
    page_two = [e["node"]["id"] for e in second["edges"]]
    assert page_two[:2] == created[3:5]
    assert not set(page_one) & set(page_two)
    assert second["totalCount"] == 7
    # check-ins are newest first: a new check-in between pages must not shift the next page
    for value in range(1, 6):
        admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": float(value)})
    cq = (
        "query($k: ID!, $after: String, $p: Int) {"
        " checkIns(keyResultId: $k, first: 2, after: $after, consistentWith: $p)"
        " { edges { node { value } } pageInfo { endCursor } } }"
    )
    last = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 6.0})["position"]
    p1 = admin.q(cq, {"k": ids["kr"], "p": last})["checkIns"]
    newer = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 99.0})["position"]
    p2 = admin.q(cq, {"k": ids["kr"], "after": p1["pageInfo"]["endCursor"], "p": newer})["checkIns"]
    values = [e["node"]["value"] for e in p1["edges"] + p2["edges"]]
    assert values == [6.0, 5.0, 4.0, 3.0]


def test_dashboard_tree_and_prioritized_tasks(admin: Client) -> None:
    """The dashboard, tree and prioritized tasks answer for a cycle with aligned objectives and tasks."""
    ids = _active_objective(admin, "Company goal")
    child = admin.m("draftObjective", {"cycleId": ids["cycle"], "title": "Team goal"})["id"]
    admin.m("alignObjective", {"objectiveId": child, "parentKeyResultId": ids["kr"]})
    admin.m("createTask", {"title": "big one", "keyResultId": ids["kr"], "impact": "HIGH"})
    admin.m("createTask", {"title": "stray", "cycleId": ids["cycle"]})
    position = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 100, "confidence": 0.3})[
        "position"
    ]
    data = admin.q(
        """query($c: ID!) {
          dashboard(cycleId: $c) { cycle { name }
            objectivesTotal meanProgress alignmentRatio objectivesAlignedRatio
            countsByStatus { status count } countsByState { state count } policyWarnings }
          tree(cycleId: $c) { objective { title } children { objective { title parentKeyResultId } } }
          prioritizedTasks(cycleId: $c) { priority aligned task { title keyResult { title } } }
          unalignedTasks { totalCount edges { node { title aligned } } }
          objectives(filter: {cycleId: $c}) { edges { node { title confidence warnings cycle { name } } } }
        }""",
        {"c": ids["cycle"]},
        **{"X-Consistent-With": str(position)},  # request-wide: every field waits
    )
    dashboard = data["dashboard"]
    assert dashboard["cycle"] == {"name": "2026-Q1"}
    assert dashboard["objectivesTotal"] == 2
    assert dashboard["alignmentRatio"] == pytest.approx(0.5)
    assert dashboard["objectivesAlignedRatio"] == pytest.approx(0.5)
    assert {c["state"]: c["count"] for c in dashboard["countsByState"]}["ACTIVE"] == 1
    [root] = data["tree"]
    assert root["objective"]["title"] == "Company goal"
    assert root["children"][0]["objective"] == {"title": "Team goal", "parentKeyResultId": ids["kr"]}
    top = data["prioritizedTasks"][0]
    assert (top["task"]["title"], top["aligned"], top["task"]["keyResult"]["title"]) == (
        "big one",
        True,
        "MQLs",
    )
    assert data["prioritizedTasks"][-1]["aligned"] is False
    assert [e["node"]["title"] for e in data["unalignedTasks"]["edges"]] == ["stray"]
    company = next(e["node"] for e in data["objectives"]["edges"] if e["node"]["title"] == "Company goal")
    assert company["confidence"] == pytest.approx(0.3)
    assert company["cycle"]["name"] == "2026-Q1"


def test_history_audit_and_idempotency(admin: Client) -> None:
    """An idempotency key replays the first result; the audit log and history show who did what."""
    ids = _active_objective(admin)
    first = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 10, "idempotencyKey": "k-1"})
    again = admin.q(
        "mutation($i: CheckInKeyResultInput!)"
        " { checkInKeyResult(input: $i) { id replayed errors { code } } }",
        {"i": {"keyResultId": ids["kr"], "value": 10, "idempotencyKey": "k-1"}},
    )["checkInKeyResult"]
    assert again == {"id": first["id"], "replayed": True, "errors": []}
    reused = admin.m_raw("checkInKeyResult", {"keyResultId": ids["kr"], "value": 11, "idempotencyKey": "k-1"})
    assert reused["data"]["checkInKeyResult"]["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    data = admin.q(
        """query($o: ID!, $k: ID!) {
          history(aggregateId: $o) { eventType actor payload }
          auditLog(filter: {aggregateId: $o}, first: 100) { totalCount edges { node { eventType } } }
          checkIns(keyResultId: $k) { totalCount }
        }""",
        {"o": ids["objective"], "k": ids["kr"]},
        **{"X-Consistent-With": str(first["position"])},
    )
    types = [e["eventType"] for e in data["history"]]
    assert types[-1].endswith("KeyResultCheckedIn")
    assert {e["actor"] for e in data["history"]} == {"alice"}
    assert data["auditLog"]["totalCount"] == len(types)
    assert data["checkIns"]["totalCount"] == 1


def test_as_of_answers_from_the_log_as_it_was(admin: Client) -> None:
    """objective/keyResult/dashboard with asOf show the values before a later check-in."""
    ids = _active_objective(admin)
    admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 100})
    position = admin.m("checkInKeyResult", {"keyResultId": ids["kr"], "value": 300})["position"]
    edges = admin.q(
        "query($k: ID!, $p: Int) { checkIns(keyResultId: $k, consistentWith: $p)"
        " { edges { node { value at } } } }",
        {"k": ids["kr"], "p": position},
    )["checkIns"]["edges"]
    first_at = next(e["node"]["at"] for e in edges if e["node"]["value"] == 100)
    data = admin.q(
        """query($o: ID!, $k: ID!, $c: ID!, $t: DateTime!) {
          objective(id: $o, asOf: $t) { progress keyResults { current } }
          keyResult(id: $k, asOf: $t) { current progress }
          now: keyResult(id: $k) { current }
          dashboard(cycleId: $c, asOf: $t) { meanProgress }
        }""",
        {"o": ids["objective"], "k": ids["kr"], "c": ids["cycle"], "t": first_at},
    )
    assert data["keyResult"] == {"current": 100.0, "progress": 0.25}
    assert data["objective"]["keyResults"][0]["current"] == 100.0
    assert data["now"]["current"] == 300.0
    assert data["dashboard"]["meanProgress"] == pytest.approx(0.25)
    naive = admin.raw(
        'query($o: ID!) { objective(id: $o, asOf: "2026-01-01T00:00:00") { id } }', {"o": ids["objective"]}
    )
    assert naive["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_task_lifecycle_and_completion_reporting_a_value(admin: Client) -> None:
    """Task payloads show the task after each write; completing with a value checks in its KR."""
    ids = _active_objective(admin)
    created = admin.m(
        "createTask",
        {"title": "Launch webinar", "keyResultId": ids["kr"], "impact": "HIGH", "assignee": "leo"},
        select="task { title state impact assignee aligned keyResultId }",
    )
    assert created["task"] == {
        "title": "Launch webinar",
        "state": "TODO",
        "impact": "HIGH",
        "assignee": "leo",
        "aligned": True,
        "keyResultId": ids["kr"],
    }
    assert (
        admin.m("startTask", {"taskId": created["id"]}, select="task { state }")["task"]["state"]
        == "IN_PROGRESS"
    )
    done = admin.m(
        "completeTask", {"taskId": created["id"], "value": 120, "confidence": 0.9}, select="task { state }"
    )
    assert done["task"]["state"] == "DONE"
    kr = admin.q(
        "query($k: ID!, $p: Int) { keyResult(id: $k, consistentWith: $p) { current confidence tasksDone } }",
        {"k": ids["kr"], "p": done["position"]},
    )["keyResult"]
    assert kr == {"current": 120.0, "confidence": 0.9, "tasksDone": 1}
    unlinked = admin.m("linkTask", {"taskId": created["id"], "keyResultId": None}, select="task { aligned }")
    assert unlinked["task"]["aligned"] is False
    again = admin.m_raw("completeTask", {"taskId": created["id"]})["data"]["completeTask"]
    assert again["errors"][0]["code"] in ("INVALID_TRANSITION", "RULE_VIOLATION")
