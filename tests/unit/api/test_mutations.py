"""The mutations table (api.mutations): one mutation per command, inputs that map field by field,
and the typed conversion of an input into its command (no I/O)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields

import pytest
import strawberry
from strawberry.types.base import get_object_definition

from api import inputs as i
from api import types as t
from api.mutations import MUTATIONS, Mutation, MutationPayload, Spec, check_table, input_fields, to_command
from okr import commands as c
from okr.domain import formulas, key_result, objective, team


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_command_has_exactly_one_mutation_in_the_commands_order() -> None:
    """MUTATIONS lists okr.commands.COMMANDS once each, in order, and the Mutation type has one
    field per command: `<command>(input: <Command>Input!): <Command>Payload!`."""
    assert [spec.command for spec in MUTATIONS] == list(c.COMMANDS)
    definition = get_object_definition(Mutation, strict=True)
    assert [f.python_name for f in definition.fields] == [spec.name for spec in MUTATIONS]
    for spec, field in zip(MUTATIONS, definition.fields, strict=True):
        name = spec.command.__name__
        assert field.graphql_name is None or field.graphql_name == _camel(spec.name)
        [argument] = field.arguments
        assert argument.python_name == "input"
        assert argument.type is spec.input
        assert spec.input.__name__ == f"{name}Input"
        payload = field.type
        assert isinstance(payload, type)
        assert payload.__name__ == f"{name}Payload"
        assert issubclass(payload, spec.result)
        assert issubclass(payload, MutationPayload)
    check_in = next(spec for spec in MUTATIONS if spec.command is c.CheckInKeyResult)
    assert check_in.name == "check_in_key_result"  # the class name, not command_name "check_in"


def test_every_input_field_maps_to_a_command_field_and_back() -> None:
    """Each input's fields (but idempotencyKey) are exactly its command's dataclass fields."""
    check_table(MUTATIONS)
    for spec in MUTATIONS:
        assert input_fields(spec.input) == {f.name for f in fields(spec.command)}, spec.name
        definition = get_object_definition(spec.input, strict=True)
        assert "idempotency_key" in {f.python_name for f in definition.fields}


@strawberry.input
class CancelTaskInput:
    task_id: strawberry.ID
    reason: str = ""
    why: str = ""
    idempotency_key: str | None = None


@strawberry.input
class StartTaskInput:
    idempotency_key: str | None = None


def _with(command: type[c.Command], spec: Spec) -> tuple[Spec, ...]:
    return tuple(spec if s.command is command else s for s in MUTATIONS)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (MUTATIONS[:-1], "once, in order"),
        ((*MUTATIONS, MUTATIONS[0]), "once, in order"),
        ((MUTATIONS[1], MUTATIONS[0], *MUTATIONS[2:]), "once, in order"),
        (_with(c.CancelTask, Spec(c.CancelTask, CancelTaskInput, MutationPayload)), "input only ['why']"),
        (_with(c.StartTask, Spec(c.StartTask, StartTaskInput, MutationPayload)), "command only ['task_id']"),
        (_with(c.StartTask, Spec(c.StartTask, i.ReopenTaskInput, MutationPayload)), "not StartTaskInput"),
    ],
)
def test_a_table_that_disagrees_with_the_commands_is_refused(table: tuple[Spec, ...], message: str) -> None:
    """A missing, repeated or reordered command, an input field without a command field, a
    command field without an input field, or an input named after another command: TypeError."""
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_table(table)


def test_an_input_converts_to_its_command_with_enum_values_as_strings() -> None:
    """Ids as the client sent them, enums as their plain string values, numbers and None as
    given: the command and its idempotency fingerprint are what the old resolvers passed."""
    given = i.AddKeyResultInput(
        objective_id=strawberry.ID("5c4f0d6e-0000-4000-8000-000000000001"),
        title="MQLs",
        kind=t.KeyResultKind.NUMERIC,
        start=0.0,
        target=400.0,
        source=t.ProgressSource.TASKS,
        direction=t.Direction.DECREASE,
        idempotency_key="k-1",
    )
    command = to_command(c.AddKeyResult, given)
    assert command == c.AddKeyResult(
        objective_id="5c4f0d6e-0000-4000-8000-000000000001",
        title="MQLs",
        kind="NUMERIC",
        start=0.0,
        target=400.0,
        unit="",
        weight=1.0,
        source="TASKS",
        cadence_days=None,
        direction="DECREASE",
    )
    args = command.args()
    assert {type(args[k]) for k in ("objective_id", "kind", "source", "direction")} == {str}
    assert "idempotency_key" not in args
    old = {
        "objective_id": "5c4f0d6e-0000-4000-8000-000000000001",
        "title": "MQLs",
        "kind": "NUMERIC",
        "start": 0.0,
        "target": 400.0,
        "unit": "",
        "weight": 1.0,
        "source": "TASKS",
        "cadence_days": None,
        "direction": "DECREASE",
    }
    assert json.dumps(args, sort_keys=True, default=str) == json.dumps(old, sort_keys=True)


def test_input_defaults_convert_to_the_same_values_as_the_commands_defaults() -> None:
    """An input's defaults (enum defaults included) give the command's own defaults."""
    member = to_command(c.AddTeamMember, i.AddTeamMemberInput(team_id=strawberry.ID("t"), user_id="u"))
    assert member == c.AddTeamMember(team_id="t", user_id="u")
    assert type(member.role) is str
    task = to_command(c.CreateTask, i.CreateTaskInput(title="x"))
    assert task == c.CreateTask(title="x")
    assert type(task.impact) is str
    revise = to_command(c.ReviseKeyResult, i.ReviseKeyResultInput(key_result_id=strawberry.ID("k")))
    assert dataclasses.astuple(revise)[1:] == (None,) * 9


def test_the_api_enums_are_the_domain_str_enums() -> None:
    """The GraphQL enums are the domain's StrEnums themselves; Role alone is the API's own."""
    assert t.KeyResultKind is formulas.KeyResultKind
    assert t.Direction is formulas.Direction
    assert t.Impact is formulas.Impact
    assert t.ProgressDriver is objective.ProgressDriver
    assert t.ProgressSource is key_result.ProgressSource
    assert t.TeamRole is team.TeamRole
    assert all("__strawberry_definition__" in vars(e) for e in t.DOMAIN_ENUMS)
