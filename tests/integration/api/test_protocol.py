"""The GraphQL-over-HTTP protocol edge, over real HTTP against uvicorn (embedded SQLite): bodies
that are not a GraphQL request, documents with several operations, introspection and
suggestions in production, and token subjects that would spoof the audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from harness.apiserver import SECRET, ThreadedServer, token
from okr.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api-protocol"), jwt_secret=SECRET, environment="test"
    )
    fastapi_app = create_app(settings)
    with ThreadedServer(fastapi_app) as running:
        yield running.url, fastapi_app


def _post(
    url: str, body: bytes, bearer: str | None, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return httpx.post(f"{url}/graphql", content=body, headers=headers, timeout=30)


def _request_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """The single GraphQL-shaped error of a refused request (JSON, `errors[0].extensions.code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"errors"}, body
    (error,) = body["errors"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


NOT_A_REQUEST = {
    "a string": b'"x"',
    "a number": b"5",
    "null": b"null",
    "true": b"true",
    "an empty list": b"[]",
    "a list of strings": b'["x"]',
    "invalid UTF-8": b'{"query": "{ me { userId } }\xff\xfe"}',
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "deeply nested variables": b'{"query": "{ me { userId } }", "variables": {"a": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}}",
    "truncated JSON": b'{"query": ',
    "operationName not a string": b'{"query": "{ me { userId } }", "operationName": 5}',
}


@pytest.mark.parametrize("body", NOT_A_REQUEST.values(), ids=NOT_A_REQUEST.keys())
def test_a_body_that_is_no_graphql_request_is_a_400_with_a_code(
    server: tuple[str, Any], org: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a 500 and no traceback in the log: the client gets a 400 and the reason, as JSON."""
    url, fastapi_app = server
    before = fastapi_app.state.services.app.max_position()
    with caplog.at_level(logging.ERROR):
        error = _request_error(_post(url, body, token(org)))
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert fastapi_app.state.services.app.max_position() == before


def test_other_refused_requests_are_graphql_shaped_too(server: tuple[str, Any], org: str) -> None:
    """A wrong content type, a missing query, a GET of a query: JSON errors with codes, never text."""
    url, _ = server
    wrong_type = _request_error(_post(url, b"{ me { userId } }", token(org), "text/plain"))
    assert wrong_type["extensions"]["code"] == "BAD_REQUEST"
    no_query = _request_error(_post(url, b"{}", token(org)))
    assert no_query["extensions"]["code"] == "BAD_REQUEST"
    assert "query" in no_query["message"].lower()


def test_several_operations_without_operation_name_are_refused(server: tuple[str, Any], org: str) -> None:
    """The spec: with more than one operation, operationName is required; nothing runs, nothing is stored."""
    url, fastapi_app = server
    before = fastapi_app.state.services.app.max_position()
    document = 'mutation A { createTeam(input: {name: "Sales"}) { id } } query B { me { userId } }'
    body = httpx.post(
        f"{url}/graphql",
        json={"query": document},
        headers={"Authorization": f"Bearer {token(org)}"},
        timeout=30,
    )
    error = _request_error(body)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "operationName" in error["message"] and "A, B" in error["message"]
    assert fastapi_app.state.services.app.max_position() == before
    unknown = httpx.post(
        f"{url}/graphql",
        json={"query": document, "operationName": "C"},
        headers={"Authorization": f"Bearer {token(org)}"},
        timeout=30,
    )
    assert _request_error(unknown)["extensions"]["code"] == "BAD_REQUEST"
    chosen = httpx.post(
        f"{url}/graphql",
        json={"query": document, "operationName": "B"},
        headers={"Authorization": f"Bearer {token(org)}"},
        timeout=30,
    )
    assert chosen.status_code == 200
    assert chosen.json()["data"]["me"]["userId"] == "alice"
    assert fastapi_app.state.services.app.max_position() == before


INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = "{ cycels { id } }"


def _graphql(url: str, org: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token(org)}"}, timeout=30
    )
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize(
    ("environment", "introspection", "open_"),
    [
        ("production", None, False),
        ("production", True, True),
        ("development", None, True),
        ("test", False, False),
    ],
)
def test_introspection_and_suggestions_follow_the_environment(
    tmp_path: Path, org: str, environment: str, introspection: bool | None, open_: bool
) -> None:
    """Production answers neither `__schema` nor "Did you mean" unless OKR_INTROSPECTION=true."""
    settings = Settings(
        data_dir=tmp_path,
        jwt_secret=SECRET,
        environment=environment,  # type: ignore[arg-type]
        introspection=introspection,
        **({"cors_origins": ["https://app.example.com"]} if environment == "production" else {}),
    )
    with ThreadedServer(create_app(settings)) as running:
        schema = _graphql(running.url, org, INTROSPECTION)
        typo = _graphql(running.url, org, TYPO)
        variable = _graphql(running.url, org, "{ objectives(filter: {states: [ACTIVEE]}) { nodes { id } } }")
    if open_:
        assert schema["data"]["__schema"]["queryType"]["name"] == "Query"
        assert "Did you mean 'cycles'" in typo["errors"][0]["message"]
    else:
        assert "data" not in schema or schema["data"] is None
        assert schema["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection" in schema["errors"][0]["message"].lower()
        for result in (typo, variable):
            message = result["errors"][0]["message"]
            assert "Did you mean" not in message and "'cycles'" not in message and "ACTIVE'" not in message, (
                message
            )
            assert result["errors"][0]["extensions"]["code"] in (
                "GRAPHQL_VALIDATION_FAILED",
                "BAD_USER_INPUT",
            )


@pytest.mark.parametrize(
    "sub",
    ["\u200b", "\u200b\u200d\u2060", "\ufeff", "alice\u202egnp.exe", "\u2066bob\u2069", "   "],
    ids=["zero-width", "zero-width run", "bom", "rlo override", "isolate", "blank"],
)
def test_token_subjects_that_spoof_the_audit_log_are_refused(
    server: tuple[str, Any], org: str, sub: str
) -> None:
    """The token's `sub` becomes every event's actor: invisible-only and bidi-control subjects are 401."""
    url, _ = server
    response = _post(url, b'{"query": "{ me { userId } }"}', token(org, user=sub))
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "sub" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("sub", ["zoë", "👩\u200d💻 dev", "José Müller", "李雷"])
def test_ordinary_subjects_with_accents_and_emoji_are_kept(
    server: tuple[str, Any], org: str, sub: str
) -> None:
    url, _ = server
    response = _post(url, b'{"query": "{ me { userId } }"}', token(org, user=sub))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"]["userId"] == sub
