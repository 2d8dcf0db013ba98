"""The committed SDL (schema/okr.graphql) is the schema the code builds, and keeps its conventions."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    build_schema,
    find_breaking_changes,
)

from api.schema import sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "okr.graphql"

REQUIRED_MUTATIONS = [
    "scheduleCycle", "createTeam", "addTeamMember", "draftObjective", "reviseObjective",
    "alignObjective", "activateObjective", "addKeyResult", "reviseKeyResult", "removeKeyResult",
    "checkInKeyResult", "scoreKeyResult", "closeObjective", "abandonObjective", "carryOverObjective",
    "createTask", "linkTask", "assignTask", "startTask", "completeTask", "reopenTask", "cancelTask",
]  # fmt: skip
REQUIRED_QUERIES = [
    "me", "cycles", "cycle", "teams", "objective", "objectives", "keyResult", "tree", "dashboard",
    "tasks", "prioritizedTasks", "unalignedTasks", "checkIns", "auditLog", "history",
]  # fmt: skip
MEASURES = [
    "progress", "attainment", "expectedProgress", "status", "outdated", "confidence", "score",
    "grade", "warnings",
]  # fmt: skip


def test_committed_sdl_matches_the_code() -> None:
    """schema/okr.graphql equals the exported schema (run `okr export-schema` after changes)."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == sdl(), (
        "schema/okr.graphql is stale: run okr export-schema"
    )


def test_no_breaking_changes_against_the_committed_sdl() -> None:
    """Reading the committed file as the old schema, the code breaks nothing in it."""
    old = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert find_breaking_changes(old, build_schema(sdl())) == []


def test_every_mutation_takes_one_input_and_returns_its_payload() -> None:
    """name(input: NameInput!): NamePayload! with errors, position and an optional idempotencyKey."""
    schema = build_schema(sdl())
    mutation = schema.mutation_type
    assert mutation is not None
    assert set(REQUIRED_MUTATIONS) <= set(mutation.fields)
    for name, field in mutation.fields.items():
        pascal = name[0].upper() + name[1:]
        assert list(field.args) == ["input"], name
        arg_type = field.args["input"].type
        assert isinstance(arg_type, GraphQLNonNull)
        assert isinstance(arg_type.of_type, GraphQLInputObjectType)
        assert arg_type.of_type.name == f"{pascal}Input"
        key = arg_type.of_type.fields["idempotencyKey"]
        assert not isinstance(key.type, GraphQLNonNull), name
        assert isinstance(field.type, GraphQLNonNull)
        payload = field.type.of_type
        assert isinstance(payload, GraphQLObjectType)
        assert payload.name == f"{pascal}Payload"
        assert {"errors", "position"} <= set(payload.fields), name
        assert [i.name for i in payload.interfaces] == ["MutationPayload"]


def test_queries_and_measures_exist() -> None:
    """The issue's queries exist; objectives and key results expose every measure."""
    schema = build_schema(sdl())
    assert schema.query_type is not None
    assert set(REQUIRED_QUERIES) <= set(schema.query_type.fields)
    for type_name in ("Objective", "KeyResult"):
        obj = schema.get_type(type_name)
        assert isinstance(obj, GraphQLObjectType)
        assert set(MEASURES) <= set(obj.fields), type_name
    subscription = schema.subscription_type
    assert subscription is not None
    assert {"events", "objectiveChanged"} <= set(subscription.fields)


def test_lists_are_connections_with_total_count_and_bounded_first() -> None:
    """Paginated lists return Connections (edges, pageInfo, totalCount) and take first/after."""
    schema = build_schema(sdl())
    assert schema.query_type is not None
    for name in ("objectives", "tasks", "unalignedTasks", "checkIns", "auditLog"):
        field = schema.query_type.fields[name]
        assert {"first", "after"} <= set(field.args), name
        connection = field.type.of_type
        assert isinstance(connection, GraphQLObjectType)
        assert {"edges", "pageInfo", "totalCount"} <= set(connection.fields), name
