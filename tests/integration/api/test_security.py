"""Security and input limits of the GraphQL API, over real HTTP/WebSocket against uvicorn
(embedded SQLite): authentication, tenancy, roles, query limits, invalid input."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from api.app import create_app
from harness.apiserver import SECRET, Client, Subscription, ThreadedServer, token
from okr.settings import Settings


class Api:
    def __init__(self, server: ThreadedServer, fastapi_app: Any) -> None:
        self.server = server
        self.fastapi_app = fastapi_app
        self.url = server.url
        self.clients: list[Client] = []

    def count(self) -> int:
        """Events in the log (unchanged after a refused request)."""
        return int(self.fastapi_app.state.services.app.max_position())

    def client(self, bearer: str | None) -> Client:
        client = Client(self.url, bearer)
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api-security"),
        jwt_secret=SECRET,
        environment="test",
        cors_origins=["https://app.example.com"],
        max_query_depth=8,
        max_aliases=10,
        max_query_tokens=800,
    )
    fastapi_app = create_app(settings)
    with ThreadedServer(fastapi_app) as server:
        api = Api(server, fastapi_app)
        yield api
        for client in api.clients:
            client.close()


@pytest.fixture
def seeded(api: Api, org: str) -> dict[str, str]:
    """An org with an active objective and one key result; returns ids and an admin client's token."""
    admin = api.client(token(org))
    cycle = admin.m("scheduleCycle", {"name": "2026-Q1", "start": "2026-01-01", "end": "2026-03-31"})
    admin.m("startCycle", {"cycleId": cycle["id"]})  # check-ins go into ACTIVE cycles only
    objective = admin.m("draftObjective", {"cycleId": cycle["id"], "title": "Grow"})
    kr = admin.m(
        "addKeyResult", {"objectiveId": objective["id"], "title": "MQLs", "kind": "NUMERIC", "target": 400}
    )
    activated = admin.m("activateObjective", {"objectiveId": objective["id"]})
    return {
        "cycle": cycle["id"],
        "objective": objective["id"],
        "kr": kr["id"],
        "org": org,
        "position": str(activated["position"]),
    }


def _alg_none(org: str) -> str:
    def enc(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    claims = {"sub": "eve", "org": org, "roles": ["admin"], "exp": 4102444800}
    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}."


BAD_TOKENS = {
    "none": lambda org: None,
    "expired": lambda org: token(org, ttl=timedelta(seconds=-30)),
    "other-key": lambda org: token(org, secret="another-secret-another-secret-another-secret"),
    "alg-none": _alg_none,
    "garbage": lambda org: "not.a.jwt",
    "no-org-claim": lambda org: jwt.encode({"sub": "eve", "roles": ["admin"], "exp": 4102444800}, SECRET),
    "unknown-role": lambda org: token(org, roles=("root",)),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_untrusted_tokens_are_refused(api: Api, seeded: dict[str, str], kind: str) -> None:
    """No token, expired, wrong key, alg none, garbage or bad claims: 401 UNAUTHENTICATED, nothing written."""
    before = api.count()
    client = api.client(BAD_TOKENS[kind](seeded["org"]))
    for query, variables in [
        ("{ me { userId } }", {}),
        (
            "mutation($k: ID!) { checkInKeyResult(input: {keyResultId: $k, value: 5}) { position } }",
            {"k": seeded["kr"]},
        ),
    ]:
        response = client.post(query, variables)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert api.count() == before


def test_websocket_without_valid_token_is_closed(api: Api, org: str) -> None:
    """A graphql-transport-ws connection_init without a valid token is closed with 4403."""
    ws_url = api.url.replace("http", "ws") + "/graphql"
    for payload in ({}, {"Authorization": f"Bearer {token(org, secret='x' * 40)}"}):
        with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403


def test_other_orgs_ids_answer_not_found(api: Api, seeded: dict[str, str]) -> None:
    """Another org's ids: queries answer null/empty, mutations NOT_FOUND errors, nothing written."""
    intruder = api.client(token(f"org-{uuid.uuid4().hex[:8]}", user="eve"))
    data = intruder.q(
        """query($o: ID!, $k: ID!, $c: ID!) {
             objective(id: $o) { id } keyResult(id: $k) { id } cycle(id: $c) { id }
             checkIns(keyResultId: $k) { totalCount } history(aggregateId: $o) { position }
             objectives { totalCount } }""",
        {"o": seeded["objective"], "k": seeded["kr"], "c": seeded["cycle"]},
        **{"X-Consistent-With": seeded["position"]},  # the views hold the data, and still answer null
    )
    assert data["objective"] is None
    assert data["keyResult"] is None
    assert data["cycle"] is None
    assert data["checkIns"]["totalCount"] == 0
    assert data["history"] == []
    assert data["objectives"]["totalCount"] == 0
    before = api.count()
    attempts = [
        ("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 5}),
        ("activateObjective", {"objectiveId": seeded["objective"]}),
        ("draftObjective", {"cycleId": seeded["cycle"], "title": "Steal"}),
        ("createTask", {"title": "Sneak", "keyResultId": seeded["kr"]}),
    ]
    for name, payload in attempts:
        result = intruder.m_raw(name, payload)["data"][name]
        assert result["position"] is None
        assert result["errors"][0]["code"].endswith("NOT_FOUND"), result
    assert api.count() == before


def test_viewer_can_read_but_not_mutate(api: Api, seeded: dict[str, str]) -> None:
    """A viewer's mutation answers FORBIDDEN and writes nothing; reads work."""
    viewer = api.client(token(seeded["org"], user="vic", roles=("viewer",)))
    seen = viewer.q("{ objectives { totalCount } }", None, **{"X-Consistent-With": seeded["position"]})
    assert seen["objectives"]["totalCount"] == 1  # without the header this raced the views
    before = api.count()
    for name, payload in [
        ("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 5}),
        ("createTask", {"title": "x"}),
        ("scheduleCycle", {"name": "Q9", "start": "2026-04-01", "end": "2026-06-30"}),
    ]:
        result = viewer.m_raw(name, payload)["data"][name]
        assert [e["code"] for e in result["errors"]] == ["FORBIDDEN"]
    assert api.count() == before


def test_member_checks_in_but_cannot_draft(api: Api, seeded: dict[str, str]) -> None:
    """Roles as in DESIGN.md: a member checks in, but drafting objectives needs lead or admin."""
    member = api.client(token(seeded["org"], user="mia", roles=("member",)))
    admin = api.client(token(seeded["org"]))
    team = admin.m("createTeam", {"name": "Growth"})["id"]
    position = admin.m("addTeamMember", {"teamId": team, "userId": "mia"})["position"]
    me = member.q("{ me { userId teams { name } } }", None, **{"X-Consistent-With": str(position)})
    assert me["me"] == {"userId": "mia", "teams": [{"name": "Growth"}]}
    outside = member.m_raw("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 10})
    assert outside["data"]["checkInKeyResult"]["errors"][0]["code"] == "FORBIDDEN"  # not her team's
    admin.m("reviseObjective", {"objectiveId": seeded["objective"], "teamId": team})
    assert member.m("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 10})["position"] > 0
    result = member.m_raw("draftObjective", {"cycleId": seeded["cycle"], "title": "Mine"})
    assert result["data"]["draftObjective"]["errors"][0]["code"] == "FORBIDDEN"


def test_depth_alias_and_token_bombs_are_refused(api: Api, seeded: dict[str, str]) -> None:
    """Queries deeper than the limit, with too many aliases or tokens are refused before running."""
    client = api.client(token(seeded["org"]))
    deep = "{ objectives { edges { node " + "{ parentObjective " * 9 + "{ id }" + " }" * 9 + " } } }"
    aliases = "{ " + " ".join(f"a{i}: me {{ userId }}" for i in range(50)) + " }"
    tokens = "{ me { " + " ".join(["userId"] * 900) + " } }"
    for query in (deep, aliases, tokens):
        result = client.raw(query)
        assert result.get("data") is None, result
        assert result["errors"], result
        assert result["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", result


def _body(kr: str, value: str) -> str:
    return (
        '{"query": "mutation($i: CheckInKeyResultInput!) { checkInKeyResult(input: $i) '
        '{ position errors { code } } }", "variables": {"i": {"keyResultId": "'
        + kr
        + '", "value": '
        + value
        + "}}}"
    )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e16"])
def test_non_finite_and_huge_numbers_get_typed_errors(api: Api, seeded: dict[str, str], value: str) -> None:
    """NaN, ±infinity, 1e400 and out-of-range numbers: a typed error, and the event count is unchanged."""
    before = api.count()
    response = httpx.post(
        f"{api.url}/graphql",
        content=_body(seeded["kr"], value),
        headers={"Authorization": f"Bearer {token(seeded['org'])}", "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400), response.text
    result = response.json()
    payload = (result.get("data") or {}).get("checkInKeyResult")
    codes = (
        [e["code"] for e in payload["errors"]]
        if payload
        else [e["extensions"]["code"] for e in result["errors"]]
    )
    assert codes, result
    assert all(codes), result
    assert payload is None or payload["position"] is None
    assert api.count() == before


def test_number_literal_1e400_in_the_query_is_refused(api: Api, seeded: dict[str, str]) -> None:
    """An inline 1e400 literal (parsed as infinity) gets a typed error and writes nothing."""
    client = api.client(token(seeded["org"]))
    before = api.count()
    result = client.raw(
        "mutation($k: ID!) { checkInKeyResult(input: {keyResultId: $k, value: 1e400})"
        " { position errors { code field } } }",
        {"k": seeded["kr"]},
    )
    payload = (result.get("data") or {}).get("checkInKeyResult")
    codes = (
        [e["code"] for e in payload["errors"]]
        if payload
        else [e["extensions"]["code"] for e in result["errors"]]
    )
    assert codes in (["INVALID_VALUE"], ["BAD_USER_INPUT"], ["GRAPHQL_VALIDATION_FAILED"]), result
    assert api.count() == before


def test_huge_titles_are_refused(api: Api, seeded: dict[str, str]) -> None:
    """A 1 MB title is refused by the body limit (413); a 200 kB one by the domain (INVALID_INPUT)."""
    client = api.client(token(seeded["org"]))
    before = api.count()
    response = client.post(
        "mutation($i: DraftObjectiveInput!) { draftObjective(input: $i) { position } }",
        {"i": {"cycleId": seeded["cycle"], "title": "x" * 1_048_576}},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    result = client.m_raw("draftObjective", {"cycleId": seeded["cycle"], "title": "x" * 200_000})
    errors = result["data"]["draftObjective"]["errors"]
    assert errors[0]["code"] == "INVALID_INPUT"
    assert errors[0]["field"] == "title"
    assert api.count() == before


def test_unknown_enum_values_get_typed_errors(api: Api, seeded: dict[str, str]) -> None:
    """An unknown enum value, in a variable or inline, is a typed error; nothing is written."""
    client = api.client(token(seeded["org"]))
    before = api.count()
    result = client.raw(
        "mutation($i: AddKeyResultInput!) { addKeyResult(input: $i) { position } }",
        {"i": {"objectiveId": seeded["objective"], "title": "x", "kind": "EXPONENTIAL"}},
    )
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    result = client.raw('mutation { createTask(input: {title: "t", impact: HUGE}) { position } }')
    assert result["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert api.count() == before


def test_malformed_ids_get_typed_errors(api: Api, seeded: dict[str, str]) -> None:
    """Malformed ids: mutations answer a NOT_FOUND error naming the field, queries BAD_USER_INPUT."""
    client = api.client(token(seeded["org"]))
    before = api.count()
    for name, payload, field in [
        ("checkInKeyResult", {"keyResultId": "not-a-uuid", "value": 1}, "keyResultId"),
        ("activateObjective", {"objectiveId": "'; DROP TABLE x; --"}, "objectiveId"),
        ("startTask", {"taskId": "1" * 500}, "taskId"),
    ]:
        errors = client.m_raw(name, payload)["data"][name]["errors"]
        assert errors[0]["code"].endswith("NOT_FOUND")
        assert errors[0]["field"] == field
    result = client.raw('{ objective(id: "nope") { id } }')
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert api.count() == before


def test_bad_cursor_and_page_size_are_typed_errors(api: Api, seeded: dict[str, str]) -> None:
    """first > 100 and forged cursors are typed errors, not 500s or silently cut pages."""
    client = api.client(token(seeded["org"]))
    result = client.raw("{ objectives(first: 101) { totalCount } }")
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    result = client.raw('{ objectives(after: "forged!") { totalCount } }')
    assert result["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


def test_cors_allows_configured_origins_only(api: Api) -> None:
    """Preflights from configured origins are allowed; others get no CORS headers."""

    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            f"{api.url}/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    assert (
        preflight("https://app.example.com").headers["access-control-allow-origin"]
        == "https://app.example.com"
    )
    assert "access-control-allow-origin" not in preflight("https://evil.example.com").headers


def test_graphiql_only_in_development(api: Api, tmp_path: Path) -> None:
    """Outside development the IDE is off (404); health endpoints need no token."""
    assert httpx.get(f"{api.url}/graphql", headers={"Accept": "text/html"}).status_code == 404
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.url}/readyz").json()
    assert ready["status"] == "ok"
    assert ready["checks"]["database"]["ok"]
    assert ready["checks"]["views"]["ok"]
    dev = create_app(Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="development"))
    with ThreadedServer(dev) as server:
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()


def test_consistent_with_a_future_position_is_refused_at_once(api: Api, seeded: dict[str, str]) -> None:
    """consistentWith beyond the log's head answers BAD_USER_INPUT immediately instead of waiting."""
    client = api.client(token(seeded["org"]))
    result = client.raw("query($p: Int) { cycles(consistentWith: $p) { id } }", {"p": api.count() + 1000})
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "consistentWith"}
    response = client.post("{ cycles { id } }", None, **{"X-Consistent-With": str(api.count() + 1000)})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_metrics_count_requests_and_command_outcomes(api: Api, seeded: dict[str, str]) -> None:
    """/metrics exports request latency and command outcomes (ok, rejected) without a token."""
    client = api.client(token(seeded["org"], user="vic", roles=("viewer",)))
    client.m_raw("createTeam", {"name": "no"})
    text = httpx.get(f"{api.url}/metrics").text
    assert "okr_graphql_request_duration_seconds" in text
    assert 'okr_commands_total{command="create_team",outcome="rejected"}' in text
    assert 'command="activate_objective",outcome="ok"' in text
    from projections.views import VIEW_NAMES

    for view in VIEW_NAMES:  # each view's lag, refreshed from the stored positions by the scrape
        assert f'okr_lag_positions{{component="{view}"}}' in text
        assert f'okr_lag_seconds{{component="{view}"}}' in text


def test_subscription_ends_when_its_token_expires(api: Api, seeded: dict[str, str]) -> None:
    """A subscription opened with a short-lived token gets UNAUTHENTICATED once the token expired."""
    # exp is whole seconds (truncated): a 2 s token could expire 1 s after minting, before the
    # first event arrived on a loaded machine; wait for the token's own exp instead of 2.2 s
    short = token(seeded["org"], ttl=timedelta(seconds=3))
    expires = jwt.decode(short, options={"verify_signature": False})["exp"]
    query = "subscription($after: Int) { events(afterPosition: $after) { position } }"
    writer = api.client(token(seeded["org"]))
    with Subscription(api.url, short, query, {"after": api.count()}) as live:
        writer.m("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 1})
        assert live.next()["events"]["position"] > 0
        time.sleep(max(0.0, expires - time.time() + 0.05))
        writer.m("checkInKeyResult", {"keyResultId": seeded["kr"], "value": 2})
        with pytest.raises(AssertionError, match="UNAUTHENTICATED") as ended:
            live.next()
        assert "token expired" in str(ended.value)


def test_websocket_accepts_a_handshake_header_and_refuses_foreign_origins(api: Api, org: str) -> None:
    """A bearer token on the handshake authenticates; browsers from unlisted origins are refused."""
    ws_url = api.url.replace("http", "ws") + "/graphql"
    headers = {"Authorization": f"Bearer {token(org)}"}
    with connect(ws_url, subprotocols=["graphql-transport-ws"], additional_headers=headers) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
    allowed = {**headers, "Origin": "https://app.example.com"}
    with connect(ws_url, subprotocols=["graphql-transport-ws"], additional_headers=allowed) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
    foreign = {**headers, "Origin": "https://evil.example.com"}
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, subprotocols=["graphql-transport-ws"], additional_headers=foreign)  # type: ignore[list-item]
    assert refused.value.response.status_code == 403
