"""Per-request DataLoaders: a dashboard-sized request is a handful of read-model calls, not one
per row; loaders are never shared between requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.settings import Settings


class CountingReadModel:
    """Delegates to the real read model and counts calls per method (a spy, not a stub)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return target(*args, **kwargs)

        return call


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ThreadedServer, Any]]:
    app = create_app(Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test"))
    with ThreadedServer(app) as server:
        yield server, app


def test_dashboard_request_is_a_handful_of_read_model_calls(
    served: tuple[ThreadedServer, Any], org: str
) -> None:
    """12 objectives with teams, cycles, parents and key results: each relation is one batch call."""
    server, app = served
    client = Client(server.url, token(org))
    cycle = client.m("scheduleCycle", {"name": "Q", "start": "2026-01-01", "end": "2026-12-31"})["id"]
    teams = [client.m("createTeam", {"name": f"team {i}"})["id"] for i in range(3)]
    parent = client.m("draftObjective", {"cycleId": cycle, "title": "parent"})["id"]
    position = 0
    for i in range(11):
        oid = client.m("draftObjective", {"cycleId": cycle, "title": f"o{i}", "teamId": teams[i % 3]})["id"]
        client.m("addKeyResult", {"objectiveId": oid, "title": "kr", "kind": "BOOLEAN"})
        position = client.m("alignObjective", {"objectiveId": oid, "parentObjectiveId": parent})["position"]
    spy = CountingReadModel(app.state.services.read_model)
    app.state.services.read_model = spy
    data = client.q(
        """query($c: ID!) {
          dashboard(cycleId: $c) { objectivesTotal }
          objectives(filter: {cycleId: $c}, first: 50) { edges { node {
            title team { name parent { name } } cycle { name } parentObjective { title team { name } }
            keyResults { title objective { title } }
          } } }
        }""",
        {"c": cycle},
        **{"X-Consistent-With": str(position)},
    )
    assert data["dashboard"]["objectivesTotal"] == 12
    assert len(data["objectives"]["edges"]) == 12
    calls = {k: v for k, v in spy.calls.items() if k not in ("wait_for", "position")}
    assert sum(calls.values()) <= 6, calls
    assert calls.get("teams_by_ids", 0) <= 2
    assert calls.get("cycles", 0) <= 1
    client.close()


def test_loaders_do_not_leak_between_requests(served: tuple[ThreadedServer, Any], org: str) -> None:
    """A second request sees a renamed objective: loaders cache within one request only."""
    server, _ = served
    client = Client(server.url, token(org))
    cycle = client.m("scheduleCycle", {"name": "Q", "start": "2026-01-01", "end": "2026-12-31"})["id"]
    drafted = client.m("draftObjective", {"cycleId": cycle, "title": "before"})
    oid = drafted["id"]
    query = "query($o: ID!, $p: Int) { objective(id: $o, consistentWith: $p) { title } }"
    assert client.q(query, {"o": oid, "p": drafted["position"]})["objective"]["title"] == "before"
    position = client.m("reviseObjective", {"objectiveId": oid, "title": "after"})["position"]
    assert client.q(query, {"o": oid, "p": position})["objective"]["title"] == "after"
    client.close()


def test_dashboard_reflects_a_write_right_after_it(served: tuple[ThreadedServer, Any], org: str) -> None:
    """The dashboard cache never hides a processed write: read-your-writes holds for dashboards."""
    server, _ = served
    client = Client(server.url, token(org))
    cycle = client.m("scheduleCycle", {"name": "Q", "start": "2026-01-01", "end": "2026-12-31"})["id"]
    query = "query($c: ID!) { dashboard(cycleId: $c) { objectivesTotal } }"
    for expected in range(1, 4):
        position = client.m("draftObjective", {"cycleId": cycle, "title": f"o{expected}"})["position"]
        seen = client.q(query, {"c": cycle}, **{"X-Consistent-With": str(position)})
        assert seen["dashboard"]["objectivesTotal"] == expected
        assert client.q(query, {"c": cycle})["dashboard"]["objectivesTotal"] == expected
    client.close()
