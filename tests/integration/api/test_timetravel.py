"""Time travel through the real HTTP API: every field reachable from an `asOf` root answers as of
that instant — nested key results, check-ins, cycle, team, parents — never live values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.schema import build_schema
from harness.apiserver import SECRET, Client, ThreadedServer, token
from okr.domain.context import utc_now
from okr.settings import Settings

pytestmark = pytest.mark.integration

DEPTH = 4  # object levels below each root (connections count edges and node as levels)


def _selection(schema: GraphQLSchema, type_: GraphQLObjectType, depth: int) -> str:
    """Every field of `type_` without required arguments, objects recursively to `depth`."""
    parts = []
    for name, field in type_.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is None for a in field.args.values()):
            continue
        named = get_named_type(field.type)
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType) and depth > 0:
            parts.append(f"{name} {{ {_selection(schema, named, depth - 1)} }}")
    return " ".join(parts) or "__typename"


def _root_query(schema: GraphQLSchema, as_of: bool) -> str:
    """The four asOf roots, selecting everything reachable below them."""
    query = schema.query_type
    assert query is not None
    arg = ", asOf: $at" if as_of else ""
    fields = []
    for root, args in (
        ("objective", "id: $objective"),
        ("keyResult", "id: $keyResult"),
        ("tree", "cycleId: $cycle"),
        ("dashboard", "cycleId: $cycle"),
    ):
        named = get_named_type(query.fields[root].type)
        assert isinstance(named, GraphQLObjectType)
        fields.append(f"{root}({args}{arg}) {{ {_selection(schema, named, DEPTH)} }}")
        if as_of:
            assert "asOf" in query.fields[root].args
    header = "$objective: ID!, $keyResult: ID!, $cycle: ID!" + (", $at: DateTime!" if as_of else "")
    return f"query Everything({header}) {{ {' '.join(fields)} }}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, GraphQLSchema]]:
    config = Settings(
        data_dir=tmp_path_factory.mktemp("api-timetravel"),
        jwt_secret=SECRET,
        environment="test",
        max_query_depth=40,
        max_query_tokens=200_000,
        max_aliases=100,
    )
    app = create_app(config)
    with ThreadedServer(app) as server:
        # the live dashboard is cached for up to 1 s (its `at` is when it was computed): this
        # test compares instants exactly, so every live dashboard is computed afresh
        app.state.services.dashboards.ttl = 0.0
        yield server.url, app, build_schema(config)._schema


class World:
    """One org's scenario, driven through the API; ids of what exists."""

    def __init__(self, client: Client) -> None:
        self.client = client
        now = utc_now().date()
        self.cycle = client.m(
            "scheduleCycle",
            {
                "name": "Q",
                "start": (now - timedelta(days=30)).isoformat(),
                "end": (now + timedelta(days=60)).isoformat(),
            },
        )["id"]
        client.m("startCycle", {"cycleId": self.cycle})
        self.team = client.m("createTeam", {"name": "Growth"})["id"]
        self.parent = client.m(
            "draftObjective",
            {"cycleId": self.cycle, "title": "Parent", "teamId": self.team, "driver": "BOTH"},
        )["id"]
        self.child = client.m("draftObjective", {"cycleId": self.cycle, "title": "Child"})["id"]
        self.krs = [
            client.m(
                "addKeyResult",
                {"objectiveId": self.parent, "title": "MQLs", "kind": "NUMERIC", "start": 0, "target": 400},
            )["id"],
            client.m("addKeyResult", {"objectiveId": self.parent, "title": "Launch", "kind": "BOOLEAN"})[
                "id"
            ],
            client.m(
                "addKeyResult",
                {"objectiveId": self.child, "title": "Hours", "kind": "NUMERIC", "start": 9, "target": 1},
            )["id"],
        ]
        client.m("activateObjective", {"objectiveId": self.parent})
        client.m("activateObjective", {"objectiveId": self.child})
        self.tasks: list[str] = []

    def apply(self, op: tuple[Any, ...]) -> None:
        """One command; refused ones (payload errors) are part of the scenario too."""
        kind, c = op[0], self.client
        if kind == "check_in":
            kr = self.krs[op[1] % len(self.krs)]
            value = float(op[2] > 200) if kr == self.krs[1] else op[2]
            c.m_raw("checkInKeyResult", {"keyResultId": kr, "value": value, "confidence": op[3]})
        elif kind == "align":
            target = {"parentKeyResultId": self.krs[0]} if op[1] else {"parentObjectiveId": self.parent}
            c.m_raw("alignObjective", {"objectiveId": self.child, **target})
        elif kind == "unalign":
            c.m_raw("alignObjective", {"objectiveId": self.child})
        elif kind == "retarget" and self.krs:
            c.m_raw(
                "reviseKeyResult", {"keyResultId": self.krs[0], "target": op[1], "title": f"MQLs {op[1]:.0f}"}
            )
        elif kind == "add_kr":
            oid = self.parent if op[1] else self.child
            payload = c.m_raw(
                "addKeyResult",
                {"objectiveId": oid, "title": "extra", "kind": "NUMERIC", "start": 0, "target": 10},
            )
            if payload["data"] and payload["data"]["addKeyResult"]["id"]:
                self.krs.append(payload["data"]["addKeyResult"]["id"])
        elif kind == "remove_kr" and len(self.krs) > 3:
            c.m_raw("removeKeyResult", {"keyResultId": self.krs.pop()})
        elif kind == "task":
            payload = c.m_raw("createTask", {"title": "t", "keyResultId": self.krs[op[1] % len(self.krs)]})
            if payload["data"] and payload["data"]["createTask"]["id"]:
                self.tasks.append(payload["data"]["createTask"]["id"])
        elif kind == "complete" and self.tasks:
            c.m_raw("completeTask", {"taskId": self.tasks[op[1] % len(self.tasks)]})
        elif kind == "member":
            c.m_raw("addTeamMember", {"teamId": self.team, "userId": f"user{op[1]}", "role": "MEMBER"})
        elif kind == "close_child":
            c.m_raw("closeObjective", {"objectiveId": self.child, "learnings": "done"})
        elif kind == "rename":
            c.m_raw("reviseObjective", {"objectiveId": self.parent, "title": f"Parent {op[1]}"})


operations = st.one_of(
    st.tuples(
        st.just("check_in"),
        st.integers(0, 5),
        st.floats(0, 500, allow_nan=False),
        st.none() | st.floats(0, 1, allow_nan=False),
    ),
    st.tuples(st.just("align"), st.booleans()),
    st.tuples(st.just("unalign")),
    st.tuples(st.just("retarget"), st.floats(450, 900, allow_nan=False)),
    st.tuples(st.just("add_kr"), st.booleans()),
    st.tuples(st.just("remove_kr")),
    st.tuples(st.just("task"), st.integers(0, 5)),
    st.tuples(st.just("complete"), st.integers(0, 5)),
    st.tuples(st.just("member"), st.integers(0, 3)),
    st.tuples(st.just("close_child")),
    st.tuples(st.just("rename"), st.integers(0, 9)),
)


def _variables(world: World, at: datetime | None = None) -> dict[str, Any]:
    variables = {"objective": world.parent, "keyResult": world.krs[0], "cycle": world.cycle}
    if at is not None:
        variables["at"] = at.isoformat()
    return variables


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=8))
def test_every_field_below_an_as_of_root_equals_the_live_answer_then(
    served: tuple[str, Any, GraphQLSchema], ops: list[tuple[Any, ...]]
) -> None:
    """Random command sequences: at each recorded instant, the whole asOf response (every nested
    field) equals what the live API answered at that instant."""
    url, app, schema = served
    read_model = app.state.services.read_model
    client = Client(url, token(f"tt-api-{uuid4().hex[:8]}"))
    live_query, as_of_query = _root_query(schema, as_of=False), _root_query(schema, as_of=True)
    try:
        world = World(client)
        recorded: list[tuple[datetime, dict[str, Any], dict[str, Any]]] = []
        for op in [("noop",), *ops]:
            world.apply(op)
            position = app.state.services.app.max_position()
            read_model.wait_for(position, 10)
            at = utc_now()
            read_model.clock = lambda at=at: at  # the live API answers "now" = that instant
            try:
                live = client.q(live_query, _variables(world), **{"X-Consistent-With": str(position)})
            finally:
                read_model.clock = utc_now
            recorded.append((at, _variables(world, at), live))
        for at, variables, live in recorded:
            assert client.q(as_of_query, variables) == live, at
    finally:
        client.close()


def test_as_of_before_anything_existed_and_in_the_future(served: tuple[str, Any, GraphQLSchema]) -> None:
    """Before the org's first event everything is null/empty; a future asOf is BAD_USER_INPUT."""
    url, _, _ = served
    client = Client(url, token(f"tt-api-{uuid4().hex[:8]}"))
    try:
        before = utc_now() - timedelta(seconds=5)
        world = World(client)
        data = client.q(
            "query($o: ID!, $k: ID!, $at: DateTime!) { objective(id: $o, asOf: $at) { id }"
            " keyResult(id: $k, asOf: $at) { id } }",
            {"o": world.parent, "k": world.krs[0], "at": before.isoformat()},
        )
        assert data == {"objective": None, "keyResult": None}
        unknown = client.raw(
            "query($c: ID!, $at: DateTime!) { dashboard(cycleId: $c, asOf: $at) { objectivesTotal } }",
            {"c": world.cycle, "at": before.isoformat()},
        )
        assert unknown["errors"][0]["extensions"]["code"] == "CYCLE_NOT_FOUND"
        future = (datetime.now(tz=UTC) + timedelta(hours=1)).isoformat()
        for root in ("objective(id: $x", "keyResult(id: $x", "tree(cycleId: $x", "dashboard(cycleId: $x"):
            body = client.raw(
                f"query($x: ID!, $at: DateTime!) {{ {root}, asOf: $at) {{ __typename }} }}",
                {"x": world.cycle, "at": future},
            )
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", root
            assert "future" in body["errors"][0]["message"]
    finally:
        client.close()


def test_nested_check_ins_and_parents_as_of_an_earlier_instant(
    served: tuple[str, Any, GraphQLSchema],
) -> None:
    """The reported defect: objective(asOf).keyResults.checkIns showed later check-ins, and
    keyResult(asOf).objective answered live state (CLOSED, 0.93) where it was DRAFT, 0.0."""
    url, _, _ = served
    client = Client(url, token(f"tt-api-{uuid4().hex[:8]}"))
    try:
        now = utc_now().date()
        cycle = client.m(
            "scheduleCycle",
            {
                "name": "Q",
                "start": (now - timedelta(days=10)).isoformat(),
                "end": (now + timedelta(days=80)).isoformat(),
            },
        )["id"]
        client.m("startCycle", {"cycleId": cycle})
        oid = client.m("draftObjective", {"cycleId": cycle, "title": "O"})["id"]
        kr = client.m(
            "addKeyResult", {"objectiveId": oid, "title": "k", "kind": "NUMERIC", "start": 0, "target": 100}
        )["id"]
        client.m("addKeyResult", {"objectiveId": oid, "title": "k2", "kind": "BOOLEAN"})
        t_draft = utc_now()
        client.m("activateObjective", {"objectiveId": oid})
        client.m("checkInKeyResult", {"keyResultId": kr, "value": 40})
        t_one = utc_now()
        client.m("checkInKeyResult", {"keyResultId": kr, "value": 93})
        client.m("reviseObjective", {"objectiveId": oid, "title": "O later"})
        position = client.m("closeObjective", {"objectiveId": oid})["position"]
        query = (
            "query($o: ID!, $k: ID!, $at: DateTime!) {"
            " objective(id: $o, asOf: $at) { title state keyResults { current checkIns { totalCount"
            "   edges { node { value } } } } cycle { state } }"
            " keyResult(id: $k, asOf: $at) { current objective { title state progress"
            "   keyResults { current checkIns { totalCount } } } } }"
        )
        draft = client.q(query, {"o": oid, "k": kr, "at": t_draft.isoformat()})
        assert draft["objective"]["state"] == "DRAFT"
        assert draft["objective"]["keyResults"][0]["checkIns"]["totalCount"] == 0
        assert draft["keyResult"]["objective"] == {
            "title": "O",
            "state": "DRAFT",
            "progress": 0.0,
            "keyResults": [
                {"current": 0.0, "checkIns": {"totalCount": 0}},
                {"current": 0.0, "checkIns": {"totalCount": 0}},
            ],
        }
        one = client.q(query, {"o": oid, "k": kr, "at": t_one.isoformat()})
        assert one["objective"]["state"] == "ACTIVE"
        assert one["objective"]["keyResults"][0]["checkIns"] == {
            "totalCount": 1,
            "edges": [{"node": {"value": 40.0}}],
        }
        assert one["keyResult"]["objective"]["state"] == "ACTIVE"
        assert one["keyResult"]["objective"]["progress"] == 0.2
        live = client.q(
            "query($o: ID!) { objective(id: $o) { title state } }",
            {"o": oid},
            **{"X-Consistent-With": str(position)},
        )
        assert live["objective"] == {"title": "O later", "state": "CLOSED"}
    finally:
        client.close()
