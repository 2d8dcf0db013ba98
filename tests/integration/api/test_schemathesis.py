"""A bounded schemathesis run over every query and mutation of schema/okr.graphql, against a
real uvicorn server with data: no 5xx, and every error is typed (no unmasked or internal error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.settings import Settings

SCHEMA = schemathesis.graphql.from_path(Path(__file__).resolve().parents[3] / "schema" / "okr.graphql")
ORG = "fuzz-org"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), jwt_secret=SECRET, environment="test")
    with ThreadedServer(create_app(settings)) as running:
        client = Client(running.url, token(ORG))
        cycle = client.m("scheduleCycle", {"name": "2026-Q1", "start": "2026-01-01", "end": "2026-03-31"})
        client.m("startCycle", {"cycleId": cycle["id"]})
        objective = client.m("draftObjective", {"cycleId": cycle["id"], "title": "Fuzzed"})
        kr = client.m("addKeyResult", {"objectiveId": objective["id"], "title": "KR", "kind": "PERCENTAGE"})
        client.m("activateObjective", {"objectiveId": objective["id"]})
        client.m("checkInKeyResult", {"keyResultId": kr["id"], "value": 0.5})
        client.m("createTask", {"title": "a task", "keyResultId": kr["id"]})
        client.close()
        yield running.url


@SCHEMA.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_every_error_typed(case: Any, server: str) -> None:
    """Generated operations never get a 5xx, an internal error or an error without a code."""
    auth = {"Authorization": f"Bearer {token(ORG)}"}
    response = case.call(base_url=f"{server}/graphql", headers=auth, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code, error
        assert code != "INTERNAL_SERVER_ERROR", (case.body, error)
        assert "Traceback" not in error["message"]
    data = body.get("data") or {}
    for payload in data.values() if isinstance(data, dict) else []:
        if isinstance(payload, dict):
            for error in payload.get("errors") or []:
                if "code" in error:  # when the generated query selected it
                    assert error["code"], error
