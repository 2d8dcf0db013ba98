"""The README's GraphQL section runs as written against the demo org (so it cannot rot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from api.app import create_app
from api.demo import load_demo
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.settings import Settings
from okr.wiring import build_application

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## GraphQL API")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def test_readme_graphql_examples_run_against_the_demo_org(tmp_path: Path) -> None:
    """The pasted query returns the demo's objectives; the check-in mutation succeeds and is read back."""
    section = _section()
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    headers = json.loads(next(body for lang, body in blocks if lang == "json"))
    assert headers["Authorization"].startswith("Bearer ")
    query, mutation = [body for lang, body in blocks if lang == "graphql"]
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test")
    app = build_application(settings)
    load_demo(app, "demo")
    loaded = app.max_position()
    app.close()
    with ThreadedServer(create_app(settings)) as server:
        client = Client(server.url, token("demo", user="gia", roles=("lead",)))
        # the new server's views catch up with the demo in the background: wait for them
        data = client.q(query, None, **{"X-Consistent-With": str(loaded)})
        titles = {e["node"]["title"] for e in data["objectives"]["edges"]}
        assert "Delight customers with fast, first-time-right support" in titles
        assert data["prioritizedTasks"]
        mqls = next(
            kr for e in data["objectives"]["edges"] for kr in e["node"]["keyResults"] if kr["title"] == "MQLs"
        )
        result = client.q(mutation, {"kr": mqls["id"]})["checkInKeyResult"]
        assert result["errors"] == []
        assert result["keyResult"]["current"] == 380
        assert result["keyResult"]["progress"] == 0.95
        client.close()
