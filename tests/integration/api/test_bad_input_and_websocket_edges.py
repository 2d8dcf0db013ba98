"""Bad input and WebSocket edge cases over real HTTP/WebSocket against uvicorn: bad input reaching
the stores, WebSocket operations after the token expired, malformed consistency requests,
subscriptions posted as plain HTTP; and a NUL title on PostgreSQL no longer stalls every org's
views."""

from __future__ import annotations

import asyncio
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
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.app import create_app
from api.feed import EventFeed, FeedEvent
from harness.apiserver import SECRET, Client, ThreadedServer, server_process, token
from okr import commands as cmd
from okr.application import system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application


class Api:
    def __init__(self, server: ThreadedServer, fastapi_app: Any) -> None:
        self.url = server.url
        self.fastapi_app = fastapi_app

    def count(self) -> int:
        return int(self.fastapi_app.state.services.app.max_position())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("review-api"), jwt_secret=SECRET, environment="test")
    fastapi_app = create_app(settings)
    with ThreadedServer(fastapi_app) as server:
        yield Api(server, fastapi_app)


@pytest.fixture
def admin(api: Api, org: str) -> Iterator[Client]:
    client = Client(api.url, token(org))
    yield client
    client.close()


def _codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors") or ()]


def _cursor(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def test_forged_cursors_beyond_64_bits_are_typed_errors(admin: Client, api: Api) -> None:
    """A cursor holding a 20-digit number was a masked 500 (SQLite INTEGER overflow); now INVALID_CURSOR."""
    kr = str(uuid.uuid4())
    big = {kind: _cursor(kind, 10**19) for kind in "otac"}
    for query in (
        f'{{ objectives(after: "{big["o"]}") {{ totalCount }} }}',
        f'{{ tasks(after: "{big["t"]}") {{ totalCount }} }}',
        f'{{ auditLog(after: "{big["a"]}") {{ totalCount }} }}',
        f'{{ checkIns(keyResultId: "{kr}", after: "{big["c"]}") {{ totalCount }} }}',
    ):
        assert _codes(admin.raw(query)) == ["INVALID_CURSOR"], query


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
def test_filter_strings_no_store_can_compare_are_typed_errors(admin: Client, bad: str) -> None:
    """Filter strings with NUL or a lone surrogate are BAD_USER_INPUT (were masked 500s from the store)."""
    for query, variables in [
        ("query($v: String) { objectives(filter: {owner: $v}) { totalCount } }", {"v": f"a{bad}"}),
        ("query($v: String) { tasks(filter: {assignee: $v}) { totalCount } }", {"v": f"a{bad}"}),
        ("query($v: String) { auditLog(filter: {actor: $v}) { totalCount } }", {"v": f"a{bad}"}),
        ("query($v: [String!]) { auditLog(filter: {eventTypes: $v}) { totalCount } }", {"v": [f"a{bad}"]}),
    ]:
        body = json.dumps({"query": query, "variables": variables})  # json keeps a lone surrogate escaped
        response = admin.http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        assert _codes(response.json()) == ["BAD_USER_INPUT"], (query, response.text)


def test_nul_in_a_mutation_is_invalid_input_and_writes_nothing(admin: Client, api: Api) -> None:
    """A NUL in a title is INVALID_INPUT from the domain; the log is unchanged."""
    cycle = admin.m("scheduleCycle", {"name": "Q1", "start": "2026-01-01", "end": "2026-03-31"})
    before = api.count()
    result = admin.m_raw("draftObjective", {"cycleId": cycle["id"], "title": "a\x00b"})
    assert [e["code"] for e in result["data"]["draftObjective"]["errors"]] == ["INVALID_INPUT"]
    assert api.count() == before


def test_a_cycle_ending_on_date_max_is_refused_and_reads_keep_working(admin: Client) -> None:
    """scheduleCycle up to 9999-12-31 was stored, and every later `cycles` read of the org overflowed."""
    result = admin.m_raw("scheduleCycle", {"name": "Forever", "start": "2026-01-01", "end": "9999-12-31"})
    assert [e["code"] for e in result["data"]["scheduleCycle"]["errors"]] == ["INVALID_CYCLE_DATES"]
    position = admin.m("scheduleCycle", {"name": "Q1", "start": "2026-01-01", "end": "2026-03-31"})[
        "position"
    ]
    data = admin.q("query($p: Int) { cycles(consistentWith: $p) { name } }", {"p": position})
    assert data["cycles"] == [{"name": "Q1"}]


@pytest.mark.parametrize("header", ["abc", "-5", "1" * 30])
def test_malformed_consistency_header_is_a_typed_error(admin: Client, header: str) -> None:
    """A garbage or negative X-Consistent-With was silently ignored (no wait); now BAD_USER_INPUT."""
    result = admin.raw("{ cycles { id } }", None, **{"X-Consistent-With": header})
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "X-Consistent-With"}


def test_negative_consistent_with_is_a_typed_error(admin: Client) -> None:
    """consistentWith: -1 is BAD_USER_INPUT, not a silent no-wait."""
    result = admin.raw("{ cycles(consistentWith: -1) { id } }")
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "consistentWith"}


def test_a_subscription_posted_as_plain_http_is_refused(admin: Client) -> None:
    """A subscription sent as a plain POST was a masked INTERNAL_SERVER_ERROR; now HTTP 400."""
    response = admin.post("subscription { events { position } }")
    assert response.status_code == 400, response.text
    assert "subscriptions are not allowed" in response.text


def test_websocket_operations_stop_when_the_token_expires(api: Api, org: str) -> None:
    """A graphql-transport-ws connection outlives its token: later queries and mutations on it are
    UNAUTHENTICATED and write nothing (before, a mutation went through on an expired token)."""
    ws_url = api.url.replace("http", "ws") + "/graphql"
    short = token(org, ttl=timedelta(seconds=3))  # exp truncates to whole seconds
    with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {short}"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        query = "{ me { userId } }"
        ws.send(json.dumps({"id": "0", "type": "subscribe", "payload": {"query": query}}))
        assert json.loads(ws.recv(timeout=10))["payload"] == {"data": {"me": {"userId": "alice"}}}
        assert json.loads(ws.recv(timeout=10))["type"] == "complete"
        expires = jwt.decode(short, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires - time.time() + 0.05))  # wait for the instant it expires
        before = api.count()
        mutation = 'mutation { createTeam(input: {name: "late"}) { position errors { code } } }'
        for op_id, op in (("1", mutation), ("2", query)):
            ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": op}}))
            message = json.loads(ws.recv(timeout=10))
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert api.count() == before


def test_nul_title_does_not_stall_postgres_views(pg_settings: Settings, org: str) -> None:
    """On PostgreSQL a NUL title used to be stored and then failed the views on every retry, so no
    org read its writes again; now it is refused and another org's write is visible at once."""
    settings = Settings(
        database_url=pg_settings.database_url,
        database_schema=pg_settings.database_schema,
        data_dir=pg_settings.data_dir,
        jwt_secret=SECRET,
        environment="test",
    )
    fastapi_app = create_app(settings)
    with ThreadedServer(fastapi_app) as server:
        client = Client(server.url, token(org))
        other = Client(server.url, token(f"{org}-b"))
        try:
            cycle = client.m("scheduleCycle", {"name": "Q1", "start": "2026-01-01", "end": "2026-03-31"})
            result = client.m_raw("draftObjective", {"cycleId": cycle["id"], "title": "a\x00b"})
            assert [e["code"] for e in result["data"]["draftObjective"]["errors"]] == ["INVALID_INPUT"]
            position = other.m("createTeam", {"name": "Support"})["position"]
            data = other.q("query($p: Int) { teams(consistentWith: $p) { name } }", {"p": position})
            assert data["teams"] == [{"name": "Support"}]
            ready = httpx.get(f"{server.url}/readyz").json()
            assert ready["checks"]["views"]["ok"], ready
        finally:
            client.close()
            other.close()


def test_concurrent_first_subscribers_both_start_from_now(sqlite_settings: Settings) -> None:
    """Two subscriptions opened together on an idle feed both start at the log's head: the second
    one used to start from the stale head of the idle window and replay writes made before it."""
    app = build_application(sqlite_settings)

    def write(name: str) -> int:
        with request_context(system_context("acme")):
            return app.execute(cmd.CreateTeam(name=name)).position

    async def scenario() -> tuple[int, list[list[FeedEvent]]]:
        feed = EventFeed(app, poll_interval=0.05)
        await feed.start()
        try:
            for i in range(3):  # written while nobody listens: the feed's window goes stale
                await asyncio.to_thread(write, f"old {i}")

            async def first_event() -> list[FeedEvent]:
                async for event in feed.subscribe("acme"):
                    return [event]
                return []

            tasks = [asyncio.create_task(first_event()) for _ in range(2)]
            head = await asyncio.to_thread(app.max_position)
            while feed.head < head and not any(t.done() for t in tasks):  # the window moved
                await asyncio.sleep(0.01)
            for _ in range(3):  # the second one computes its cursor (no I/O: a few loop turns)
                await asyncio.sleep(0)
            new = await asyncio.to_thread(write, "new")
            return new, await asyncio.wait_for(asyncio.gather(*tasks), 10)
        finally:
            await feed.stop()

    try:
        new, results = asyncio.run(scenario())
    finally:
        app.close()
    assert [[e.position for e in events] for events in results] == [[new], [new]]


def test_okr_serve_limits_websocket_messages_like_request_bodies(tmp_path: Path, org: str) -> None:
    """`okr serve` closed HTTP bodies above OKR_MAX_BODY_BYTES but took 16 MiB WebSocket messages."""
    with server_process(tmp_path / "data", OKR_MAX_BODY_BYTES="100000") as url:
        ws_url = url.replace("http", "ws") + "/graphql"
        with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"Authorization": f"Bearer {token(org)}"}
            ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
            big = {"query": "mutation($n: String!) { createTeam(input: {name: $n}) { position } }"}
            big["variables"] = {"n": "x" * 200_000}  # type: ignore[assignment]
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": big}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009  # message too big
