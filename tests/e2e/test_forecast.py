"""Forecasts through a real server on the demo org: the README's example, and time travel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.app import create_app
from api.demo import load_demo
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.settings import Settings
from okr.wiring import build_application

README = Path(__file__).resolve().parents[2] / "README.md"

KEY_RESULT = """
query KR($id: ID!, $asOf: DateTime) {
  keyResult(id: $id, asOf: $asOf) {
    title checkInCount
    forecast { value low high probabilityOfTarget method basedOnCheckIns at }
    forecastUnavailable { reason message }
    checkIns(first: 100) { nodes { at value } }
  }
}
"""


def _readme_query() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Forecasts")
    end = text.find("\n## ", start)
    return re.findall(r"```graphql\n(.*?)```", text[start:end], re.S)[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, dict[str, str], int]]:
    tmp = tmp_path_factory.mktemp("forecast")
    settings = Settings(data_dir=tmp, jwt_secret=SECRET, environment="test")
    app = build_application(settings)
    ids = load_demo(app, "demo")
    loaded = app.max_position()
    app.close()
    with ThreadedServer(create_app(settings)) as server:
        client = Client(server.url, token("demo", user="gia", roles=("lead",)))
        client.q("{ __typename }", None, **{"X-Consistent-With": str(loaded)})
        yield client, ids, loaded
        client.close()


def test_the_readme_forecast_example_runs_against_the_demo(demo: tuple[Client, dict[str, str], int]) -> None:
    """Every active key result has a forecast or a reason; the support objective's are rolled up."""
    client, _, loaded = demo
    data = client.q(_readme_query(), None, **{"X-Consistent-With": str(loaded)})
    objectives = {o["title"]: o for o in data["objectives"]["nodes"]}
    for objective in objectives.values():
        assert (objective["forecast"] is None) != (objective["forecastUnavailable"] is None)
        for kr in objective["keyResults"]:
            assert (kr["forecast"] is None) != (kr["forecastUnavailable"] is None)
            if kr["forecast"] is not None:
                fc = kr["forecast"]
                assert fc["low"] <= fc["value"] <= fc["high"] and 0 <= fc["probabilityOfTarget"] <= 1
                tasks = kr["title"] == "Localized landing pages live"  # the demo's task-driven one
                assert fc["method"] == ("TASK_COMPLETION_TREND" if tasks else "DAMPED_TREND")
                assert fc["basedOnCheckIns"] >= 3
            elif kr["title"] != "Reseller agreement signed":
                assert kr["forecastUnavailable"]["reason"] == "TOO_FEW_CHECK_INS"
    support = objectives["Delight customers with fast, first-time-right support"]
    if all(kr["checkInCount"] >= 3 for kr in support["keyResults"]):  # from the quarter's 3rd week
        assert support["forecast"]["basedOnForecasts"] == 3
        progress = [kr["forecast"]["progress"] for kr in support["keyResults"]]
        assert support["forecast"]["progress"] == pytest.approx(sum(progress) / 3, abs=1e-3)
    dach = objectives["Open the DACH market"]
    milestone = next(kr for kr in dach["keyResults"] if kr["title"] == "Reseller agreement signed")
    assert milestone["forecastUnavailable"]["reason"] == "MILESTONE"
    assert dach["forecastUnavailable"]["reason"] == "MISSING_FORECASTS"


def test_an_as_of_forecast_uses_only_the_check_ins_up_to_that_instant(
    demo: tuple[Client, dict[str, str], int],
) -> None:
    """Last quarter's key result as of its 6th week: fitted to the 6 check-ins then, not the 12."""
    client, ids, _ = demo
    carried = client.q(
        "query($id: ID!) { objective(id: $id) { carriedOverFromId } }", {"id": ids["carriedOver"]}
    )
    previous = client.q(
        "query($id: ID!) { objective(id: $id) { keyResults { id title } } }",
        {"id": carried["objective"]["carriedOverFromId"]},
    )
    kr_id = next(
        kr["id"]
        for kr in previous["objective"]["keyResults"]
        if kr["title"] == "Activation rate of new trials"
    )
    history = client.q(KEY_RESULT, {"id": kr_id})["keyResult"]
    assert history["forecastUnavailable"]["reason"] == "CYCLE_ENDED"
    times = sorted(c["at"] for c in history["checkIns"]["nodes"])
    assert len(times) == 12
    sixth = datetime.fromisoformat(times[5]) + timedelta(hours=1)
    early = client.q(KEY_RESULT, {"id": kr_id, "asOf": sixth.isoformat()})["keyResult"]
    assert early["checkInCount"] == 6
    assert early["forecast"]["basedOnCheckIns"] == 6
    later = client.q(KEY_RESULT, {"id": kr_id, "asOf": (sixth + timedelta(days=21)).isoformat()})["keyResult"]
    assert later["forecast"]["basedOnCheckIns"] == 9
    assert later["forecast"] != early["forecast"]


def test_a_later_check_in_changes_the_live_forecast_but_not_the_as_of_one(
    demo: tuple[Client, dict[str, str], int],
) -> None:
    """A wild check-in now moves today's MQLs forecast; asOf just before it answers as before."""
    client, ids, _ = demo
    before = client.q(KEY_RESULT, {"id": ids["mqls"]})["keyResult"]
    if before["forecast"] is None:
        pytest.skip("the demo's quarter is younger than three weekly check-ins")
    cut = datetime.now(tz=UTC)
    mutation = """mutation($kr: ID!) {
      checkInKeyResult(input: {keyResultId: $kr, value: 5000}) { position errors { code } }
    }"""
    result = client.q(mutation, {"kr": ids["mqls"]})["checkInKeyResult"]
    assert result["errors"] == []
    live = client.q(KEY_RESULT, {"id": ids["mqls"]}, **{"X-Consistent-With": str(result["position"])})[
        "keyResult"
    ]
    assert live["forecast"]["basedOnCheckIns"] == before["forecast"]["basedOnCheckIns"] + 1
    assert live["forecast"]["value"] > before["forecast"]["value"]
    as_of = client.q(KEY_RESULT, {"id": ids["mqls"], "asOf": cut.isoformat()})["keyResult"]
    assert as_of["forecast"] == before["forecast"]
