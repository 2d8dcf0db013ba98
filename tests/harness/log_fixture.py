"""A log written by a known version of the service, kept as a test fixture, and the API's answers
over it (tests/fixtures/log_v1/): a later version must load that log and answer identically.

    .venv/bin/python -m tests.harness.log_fixture   # rewrites tests/fixtures/log_v1/ (only on purpose)

The scenario is the demo org plus an org `fx` that runs every mutation of the API at least once
(every public event type, idempotency records, snapshots), through real HTTP. The answers are
every query root with every field selected below it, live (with the read model's clock fixed at
`CLOCK`) and as of instants in between.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import graphql
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "fixtures" / "log_v1"
DB_NAME = "okr.sqlite3"
ANSWERS = "answers.json.gz"
SDL_NAME = "okr.graphql"  # the schema as it was when the answers were recorded
DEPTH = 4
#: "Now" for every live answer: after everything in the log (expected progress, health and
#: staleness depend on it).
CLOCK = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def selection(type_: GraphQLObjectType, depth: int) -> str:
    """Every field of `type_` without required arguments, objects recursively to `depth`."""
    parts = []
    for name, field in type_.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is None for a in field.args.values()):
            continue
        named = get_named_type(field.type)
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType) and depth > 0:
            parts.append(f"{name} {{ {selection(named, depth - 1)} }}")
    return " ".join(parts) or "__typename"


def _root(schema: GraphQLSchema, root: str, depth: int = DEPTH) -> str:
    query = schema.query_type
    assert query is not None
    named = get_named_type(query.fields[root].type)
    assert isinstance(named, GraphQLObjectType)
    return selection(named, depth)


def scenario_fx(client: Any) -> None:
    """Every mutation at least once, in one org, with idempotency keys on some."""
    m = client.m
    m("configureOrg", {"strictPolicies": False, "cadenceDays": 14})
    m("configureOrg", {"checkInsOpenToAll": True, "idempotencyKey": "cfg-2"})
    sales = m("createTeam", {"name": "Sales"})["id"]
    emea = m("createTeam", {"name": "Sales EMEA", "parentTeamId": sales})["id"]
    m("addTeamMember", {"teamId": sales, "userId": "sam", "role": "LEAD"})
    m("addTeamMember", {"teamId": emea, "userId": "eve"})
    m("addTeamMember", {"teamId": emea, "userId": "tmp"})
    m("removeTeamMember", {"teamId": emea, "userId": "tmp"})
    q4 = m("scheduleCycle", {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"})["id"]
    q1 = m("scheduleCycle", {"name": "2027-Q1", "start": "2027-01-01", "end": "2027-03-31"})["id"]
    m("startCycle", {"cycleId": q4, "idempotencyKey": "start-q4"})
    m("startCycle", {"cycleId": q4, "idempotencyKey": "start-q4"})  # replayed: nothing written
    top = m("draftObjective", {"cycleId": q4, "title": "Win EMEA", "teamId": sales, "owner": "sam"})["id"]
    m("reviseObjective", {"objectiveId": top, "description": "Two new markets", "weight": 2})
    arr = m(
        "addKeyResult",
        {"objectiveId": top, "title": "ARR", "kind": "NUMERIC", "start": 0, "target": 1000, "unit": "kEUR"},
    )["id"]
    churn = m(
        "addKeyResult",
        {
            "objectiveId": top,
            "title": "Churn",
            "kind": "PERCENTAGE",
            "start": 8,
            "target": 4,
            "cadenceDays": 7,
        },
    )["id"]
    launch = m("addKeyResult", {"objectiveId": top, "title": "Launched", "kind": "BOOLEAN"})["id"]
    extra = m("addKeyResult", {"objectiveId": top, "title": "Extra", "kind": "NUMERIC", "target": 5})["id"]
    m("reviseKeyResult", {"keyResultId": arr, "target": 1200, "weight": 2})
    m("removeKeyResult", {"keyResultId": extra})
    m("activateObjective", {"objectiveId": top})
    child = m("draftObjective", {"cycleId": q4, "title": "Open Madrid", "teamId": emea, "driver": "BOTH"})[
        "id"
    ]
    m("alignObjective", {"objectiveId": child, "parentKeyResultId": arr})
    leads = m("addKeyResult", {"objectiveId": child, "title": "Leads", "kind": "NUMERIC", "target": 50})["id"]
    m(
        "addKeyResult",
        {"objectiveId": child, "title": "Office", "kind": "CURRENCY", "target": 90, "unit": "EUR"},
    )
    latency = m(
        "addKeyResult",
        {"objectiveId": child, "title": "p95", "kind": "THRESHOLD", "target": 300, "direction": "STAY_BELOW"},
    )["id"]
    hires = m(
        "addKeyResult",
        {"objectiveId": child, "title": "Hires", "kind": "NUMERIC", "target": 2, "source": "TASKS"},
    )["id"]
    m("activateObjective", {"objectiveId": child})
    side = m("draftObjective", {"cycleId": q4, "title": "Tidy CRM", "teamId": sales})["id"]
    m("alignObjective", {"objectiveId": side, "parentObjectiveId": child})
    m("alignObjective", {"objectiveId": side, "parentObjectiveId": top})  # realigned: ChildRemoved
    m("addKeyResult", {"objectiveId": side, "title": "Dupes gone", "kind": "PERCENTAGE", "target": 100})
    m("addKeyResult", {"objectiveId": side, "title": "Fields", "kind": "NUMERIC", "target": 10})
    m("activateObjective", {"objectiveId": side})
    dropped = m("draftObjective", {"cycleId": q4, "title": "Podcast"})["id"]
    m("abandonObjective", {"objectiveId": dropped, "reason": "no time"})
    for value, confidence in ((200, 0.6), (450, 0.5), (700, 0.7)):
        m("checkInKeyResult", {"keyResultId": arr, "value": value, "confidence": confidence, "note": "wk"})
    m("checkInKeyResult", {"keyResultId": churn, "value": 6.5, "idempotencyKey": "churn-1"})
    m("checkInKeyResult", {"keyResultId": churn, "value": 6.5, "idempotencyKey": "churn-1"})
    m("checkInKeyResult", {"keyResultId": leads, "value": 20, "confidence": 0.3})
    m("checkInKeyResult", {"keyResultId": latency, "value": 280})
    t1 = m("createTask", {"title": "Hire AE", "keyResultId": leads, "impact": "HIGH", "assignee": "eve"})[
        "id"
    ]
    t2 = m("createTask", {"title": "Pricing page", "teamId": sales, "cycleId": q4})["id"]
    t3 = m("createTask", {"title": "Partner list", "keyResultId": arr, "description": "top 20"})["id"]
    t4 = m("createTask", {"title": "Old idea"})["id"]
    t5 = m("createTask", {"title": "Hire SDR", "keyResultId": hires})["id"]
    m("completeTask", {"taskId": t5})
    m("linkTask", {"taskId": t2, "keyResultId": arr})
    m("linkTask", {"taskId": t3, "keyResultId": None})
    m("assignTask", {"taskId": t2, "assignee": "sam"})
    m("reviseTask", {"taskId": t2, "impact": "HIGH", "title": "Pricing page v2"})
    m("startTask", {"taskId": t1})
    m("completeTask", {"taskId": t1, "value": 35, "confidence": 0.6, "note": "hired"})
    m("startTask", {"taskId": t2})
    m("completeTask", {"taskId": t2})
    m("reopenTask", {"taskId": t2})
    m("cancelTask", {"taskId": t4, "reason": "stale"})
    m("scoreKeyResult", {"keyResultId": launch, "score": 0.7, "reason": "soft launch"})
    m("closeObjective", {"objectiveId": side, "learnings": "fine"})
    m("scoreObjective", {"objectiveId": side, "score": 0.5, "reason": "half done"})
    m("closeCycle", {"cycleId": q4, "closeActiveObjectives": True})
    m("carryOverObjective", {"objectiveId": child, "targetCycleId": q1})
    m("startCycle", {"cycleId": q1})


def build(target: Path = FIXTURE) -> None:
    """Writes the fixture: the log (SQLite, events and snapshots only) and the answers."""
    import tempfile

    from api.app import create_app
    from api.demo import load_demo
    from okr.settings import Settings
    from okr.wiring import build_application

    from .apiserver import SECRET, Client, ThreadedServer, token

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, jwt_secret=SECRET, environment="test", snapshot_interval=5)
        app = build_application(settings)
        load_demo(app, "demo")
        app.close()
        log_only = Path(tmp) / DB_NAME
        with ThreadedServer(create_app(settings)) as server:
            client = Client(server.url, token("fx", user="ada", roles=("admin",)))
            scenario_fx(client)
            client.close()
        _copy_log(data / DB_NAME, log_only)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_only, target / DB_NAME)
        from api.schema import sdl

        (target / SDL_NAME).write_text(sdl())
        result = answers(target / DB_NAME, Path(tmp) / "answers")
    body = json.dumps(result, sort_keys=True, separators=(",", ":")) + "\n"
    (target / ANSWERS).write_bytes(gzip.compress(body.encode(), mtime=0))


def _copy_log(source: Path, target: Path) -> None:
    """Only the event store's tables (the views are rebuilt from the log by the reader)."""
    import sqlite3

    with sqlite3.connect(source) as db:
        db.execute("VACUUM INTO ?", (str(target),))
    with sqlite3.connect(target) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if table not in ("stored_events", "stored_snapshots"):
                db.execute(f'DROP TABLE "{table}"')
        db.commit()
    with sqlite3.connect(target) as db:
        db.execute("VACUUM")


def recorded_answers() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(gzip.decompress((FIXTURE / ANSWERS).read_bytes()))
    return result


def answers(log: Path, workdir: Path) -> dict[str, Any]:
    """Serves a copy of `log` with the current code and asks every root (see the module doc)."""
    from api.app import create_app
    from okr.settings import Settings

    from .apiserver import SECRET, Client, ThreadedServer, token

    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, workdir / DB_NAME)
    settings = Settings(
        data_dir=workdir,
        jwt_secret=SECRET,
        environment="test",
        max_query_depth=40,
        max_query_tokens=200_000,
        max_aliases=100,
    )
    # the selections come from the SDL the answers were recorded with: fields added later are
    # not asked (additive changes keep the old answers), removed or changed ones fail
    schema = graphql.build_schema((log.parent / SDL_NAME).read_text())
    fastapi_app = create_app(settings)
    out: dict[str, Any] = {}
    with ThreadedServer(fastapi_app) as server:
        services = fastapi_app.state.services
        services.dashboards.ttl = 0.0
        head = services.app.max_position()
        services.read_model.wait_for(head, 60)
        services.read_model.clock = lambda: CLOCK
        for org in ("demo", "fx"):
            client = Client(server.url, token(org, user="auditor", roles=("viewer",)))
            out[org] = _org_answers(client, schema, head)
            client.close()
    return out


def _org_answers(client: Any, schema: GraphQLSchema, head: int) -> dict[str, Any]:
    q = client.q
    out: dict[str, Any] = {"head": head}
    out["cycles"] = q(f"{{ cycles {{ {_root(schema, 'cycles')} }} }}")["cycles"]
    out["teams"] = q(f"{{ teams {{ {_root(schema, 'teams')} }} }}")["teams"]
    objectives = q("{ objectives(first: 100) { edges { node { id keyResults { id } } } } }")["objectives"]
    ids = [e["node"]["id"] for e in objectives["edges"]]
    krs = [kr["id"] for e in objectives["edges"] for kr in e["node"]["keyResults"]]
    instants = _instants(client)
    for cycle in out["cycles"]:
        cid = cycle["id"]
        for root in ("tree", "dashboard"):
            sel = _root(schema, root)
            out[f"{root}:{cid}"] = q(f'{{ {root}(cycleId: "{cid}") {{ {sel} }} }}')[root]
            for at in instants:
                out[f"{root}:{cid}@{at}"] = q(f'{{ {root}(cycleId: "{cid}", asOf: "{at}") {{ {sel} }} }}')[
                    root
                ]
        for root in ("prioritizedTasks", "unalignedTasks"):
            sel = _root(schema, root)
            out[f"{root}:{cid}"] = q(f'{{ {root}(cycleId: "{cid}", first: 100) {{ {sel} }} }}')[root]
    for oid in ids:
        sel = _root(schema, "objective")
        out[f"objective:{oid}"] = q(f'{{ objective(id: "{oid}") {{ {sel} }} }}')["objective"]
        out[f"objective:{oid}@{instants[0]}"] = q(
            f'{{ objective(id: "{oid}", asOf: "{instants[0]}") {{ {sel} }} }}'
        )["objective"]
        out[f"history:{oid}"] = q(f'{{ history(aggregateId: "{oid}") {{ {_root(schema, "history")} }} }}')[
            "history"
        ]
    for kid in krs:
        sel = _root(schema, "keyResult")
        out[f"keyResult:{kid}"] = q(f'{{ keyResult(id: "{kid}") {{ {sel} }} }}')["keyResult"]
        out[f"checkIns:{kid}"] = q(
            f'{{ checkIns(keyResultId: "{kid}", first: 100) {{ {_root(schema, "checkIns")} }} }}'
        )["checkIns"]
    out["tasks"] = q(f"{{ tasks(first: 100) {{ {_root(schema, 'tasks')} }} }}")["tasks"]
    out["auditLog"] = _all_audit(client, schema)
    return out


def _instants(client: Any) -> list[str]:
    """Three instants inside the org's history: a quarter, half and three quarters through."""
    times = sorted(
        e["node"]["at"]
        for e in client.q("{ auditLog(first: 100) { edges { node { at } } } }")["auditLog"]["edges"]
    )
    return [times[len(times) * k // 4] for k in (1, 2, 3)]


def _all_audit(client: Any, schema: GraphQLSchema) -> list[Any]:
    sel = _root(schema, "auditLog")
    entries: list[Any] = []
    after = None
    while True:
        cursor = "null" if after is None else json.dumps(after)
        page = client.q(f"{{ auditLog(first: 100, after: {cursor}) {{ {sel} }} }}")["auditLog"]
        entries.extend(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return entries
        after = page["pageInfo"]["endCursor"]


if __name__ == "__main__":
    build()
    print(f"wrote {FIXTURE}")
