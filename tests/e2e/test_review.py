"""The end-of-cycle review and reviseTeam over real HTTP and WebSocket: the README's example on the
demo org, `okr report`'s JSON equal to the GraphQL data, and a team renamed and moved."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import review as api_review
from api.app import create_app
from api.demo import load_demo
from api.report import CSV_HEADER
from harness.apiserver import SECRET, Client, Subscription, ThreadedServer, token
from okr.settings import Settings
from okr.wiring import build_application

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_query() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### End-of-cycle review")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0)
    (query,) = re.findall(r"```graphql\n(.*?)```", text[start:end], re.S)
    return str(query)


@dataclasses.dataclass
class Demo:
    settings: Settings
    client: Client
    closed: dict[str, Any]  # the demo's closed cycle: id, name


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("review") / "data"
    settings = Settings(data_dir=data, jwt_secret=SECRET, environment="test")
    app = build_application(settings)
    load_demo(app, "demo")
    loaded = app.max_position()
    app.close()
    with ThreadedServer(create_app(settings)) as server:
        client = Client(server.url, token("demo", user="gia", roles=("lead",)))
        cycles = client.q("{ cycles { id name state } }", None, **{"X-Consistent-With": str(loaded)})[
            "cycles"
        ]
        closed = next(c for c in cycles if c["state"] == "CLOSED")
        yield Demo(settings, client, closed)
        client.close()


def test_readme_review_example_runs_against_the_demo_org(demo: Demo) -> None:
    """The README's cycleReview query, pasted with the demo's closed cycle, shows last quarter's
    Growth objective with its score, learnings and the key results it left unfinished."""
    review = demo.client.q(_readme_query(), {"cycle": demo.closed["id"]})["cycleReview"]
    assert review["cycle"]["name"] == demo.closed["name"]
    assert review["summary"]["objectives"] == 1
    assert [t["teamName"] for t in review["teams"]] == ["Growth"]
    (objective,) = review["teams"][0]["objectives"]
    assert objective["title"] == "Launch self-serve onboarding"
    assert objective["grade"] == "GREEN" and objective["learnings"].startswith("Guided flows worked")
    assert {k["title"] for k in objective["carriedOverKeyResults"]} == {
        "Activation rate of new trials",
        "Guided setup flows shipped",
    }
    assert 0 < review["summary"]["checkInDiscipline"] < 1
    assert len(review["summary"]["biggestMovers"]) == 2


def test_an_open_cycle_has_no_review(demo: Demo) -> None:
    """The current quarter is ACTIVE: CYCLE_NOT_CLOSED, with a message saying why."""
    cycles = demo.client.q("{ cycles { id state } }")["cycles"]
    active = next(c for c in cycles if c["state"] == "ACTIVE")
    result = demo.client.raw("query($c: ID!) { cycleReview(cycleId: $c) { closedAt } }", {"c": active["id"]})
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "CYCLE_NOT_CLOSED"
    assert "closed" in error["message"]


def _selection(cls: type) -> str:
    """Every field of a review type, nested types expanded (what `okr report --format json` writes)."""
    hints = typing.get_type_hints(cls, vars(api_review))
    parts = []
    for f in dataclasses.fields(cls):
        if f.name == "when":
            continue
        hint = hints[f.name]
        inner = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        target = inner[0]
        if typing.get_origin(target) is list:
            target = typing.get_args(target)[0]
        name = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f.name)
        parts.append(f"{name} {_selection(target)}" if dataclasses.is_dataclass(target) else name)
    return "{ " + " ".join(parts) + " }"


@dataclasses.dataclass
class Report:
    returncode: int
    stdout: str  # as written (no newline translation: the CSV's CRLF stays)
    stderr: str


def _report(settings: Settings, *args: str) -> Report:
    env = {**os.environ, "OKR_DATA_DIR": str(settings.data_dir), "OKR_JWT_SECRET": SECRET}
    argv = [sys.executable, "-m", "okr.cli", "report", *args]
    done = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    return Report(done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"))


def test_report_json_is_the_graphql_data_and_csv_and_markdown_read_back(demo: Demo) -> None:
    """`okr report --format json` equals cycleReview with every field selected; the CSV parses
    with csv.reader to a header and one row per key result; the Markdown has a table per team."""
    query = "query($c: ID!) { cycleReview(cycleId: $c) " + _selection(api_review.CycleReview) + " }"
    over_http = demo.client.q(query, {"c": demo.closed["id"]})
    result = _report(demo.settings, "--cycle", demo.closed["name"], "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == over_http
    krs = [k for t in over_http["cycleReview"]["teams"] for o in t["objectives"] for k in o["keyResults"]]

    result = _report(demo.settings, "--cycle", demo.closed["name"], "--team", "growth", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "\r\n" in result.stdout  # RFC 4180 line ends
    header, *rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert tuple(header) == CSV_HEADER
    assert [r[header.index("key_result")] for r in rows] == [k["title"] for k in krs]
    assert all(len(r) == len(header) for r in rows)
    learnings = {r[header.index("learnings")] for r in rows}
    assert learnings == {"Guided flows worked; the data-import step still loses a third of trials."}
    assert [float(r[header.index("discipline")]) for r in rows] == [k["discipline"] for k in krs]

    result = _report(demo.settings, "--cycle", demo.closed["id"], "--format", "markdown")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(f"# Review of {demo.closed['name']}")
    assert "\n## Growth\n" in text
    assert (
        "| Objective | Score | Grade |" in text and "| Launch self-serve onboarding | 0.75 | GREEN |" in text
    )
    assert not re.search("[▁▂▃▄▅▆▇█]", text)  # no sparklines


def test_report_refuses_unknown_names_and_open_cycles_with_status_2(demo: Demo) -> None:
    """Unknown cycle, unknown team and an open cycle: a clear message on stderr, exit status 2."""
    cases = {
        ("--cycle", "1999-Q1"): "no cycle named '1999-Q1'",
        ("--cycle", demo.closed["name"], "--team", "Nobody"): "no team named 'Nobody'",
    }
    cycles = demo.client.q("{ cycles { name state } }")["cycles"]
    active = next(c["name"] for c in cycles if c["state"] == "ACTIVE")
    cases[("--cycle", active)] = "CYCLE_NOT_CLOSED"
    for args, message in cases.items():
        result = _report(demo.settings, *args)
        assert result.returncode == 2, (args, result.stdout)
        assert message in result.stderr and result.stdout == ""


def test_revise_team_renames_moves_and_refuses_a_cycle(tmp_path: Path) -> None:
    """reviseTeam renames and moves (the teams view follows; the audit log and history record it;
    a subscriber gets Team.Moved; an idempotency key replays), and never under a sub-team."""
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, environment="test")
    org = f"org-{uuid.uuid4().hex[:8]}"
    with ThreadedServer(create_app(settings)) as server:
        admin = Client(server.url, token(org))
        top = admin.m("createTeam", {"name": "Company"})["id"]
        growth = admin.m("createTeam", {"name": "Growth", "parentTeamId": top})["id"]
        seo = admin.m("createTeam", {"name": "SEO", "parentTeamId": growth})["id"]
        with Subscription(
            server.url,
            token(org),
            'subscription($a: Int) { events(afterPosition: $a, filter: {eventTypes: ["Moved"]})'
            " { aggregateId eventType payload } }",
            {"a": 0},
        ) as events:
            renamed = admin.m(
                "reviseTeam",
                {"teamId": seo, "name": "Search", "topLevel": True},
                "team { name parentTeamId }",
            )
            assert renamed["team"] == {"name": "Search", "parentTeamId": None}
            event = events.next()["events"]
            assert (event["aggregateId"], event["eventType"], event["payload"]) == (
                seo,
                "Moved",
                {"parent_team_id": None},
            )
        moved = admin.m("reviseTeam", {"teamId": top, "parentTeamId": seo}, "team { parentTeamId }")
        assert moved["team"]["parentTeamId"] == seo
        refused = admin.m_raw("reviseTeam", {"teamId": seo, "parentTeamId": growth})["data"]["reviseTeam"]
        assert [e["code"] for e in refused["errors"]] == ["TEAM_HIERARCHY_CYCLE"]  # growth < company < search
        nothing = admin.m_raw("reviseTeam", {"teamId": seo, "name": "Search"})["data"]["reviseTeam"]
        assert [e["code"] for e in nothing["errors"]] == ["INVALID_INPUT"]
        first = admin.m("reviseTeam", {"teamId": growth, "name": "Growth & SEO", "idempotencyKey": "k1"})
        again = admin.q(
            "mutation { reviseTeam(input: {teamId: "
            + json.dumps(growth)
            + ', name: "Growth & SEO", idempotencyKey: "k1"}) { position replayed errors { code } } }'
        )["reviseTeam"]
        assert again == {"position": first["position"], "replayed": True, "errors": []}
        teams = admin.q(
            "{ teams { id name parentTeamId } }", None, **{"X-Consistent-With": str(first["position"])}
        )
        assert {t["id"]: (t["name"], t["parentTeamId"]) for t in teams["teams"]} == {
            top: ("Company", seo),
            growth: ("Growth & SEO", top),
            seo: ("Search", None),
        }
        audit = admin.q(
            '{ auditLog(filter: {aggregateTypes: ["Team"], eventTypes: ["Moved", "Renamed"]}) '
            "{ edges { node { aggregateId eventType actor payload } } } }"
        )["auditLog"]["edges"]
        assert [(e["node"]["aggregateId"], e["node"]["eventType"]) for e in audit] == [
            (seo, "Renamed"),
            (seo, "Moved"),
            (top, "Moved"),
            (growth, "Renamed"),
        ]
        history = admin.q("query($t: ID!) { history(aggregateId: $t) { eventType payload } }", {"t": top})
        moved_entry = history["history"][-1]
        assert moved_entry["eventType"] == "Moved"
        assert moved_entry["payload"]["before"] == {"parent_team_id": None}
        admin.close()
