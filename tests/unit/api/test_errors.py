"""Error masking and codes (no I/O): typed errors show, anything else is 'Unexpected error.'."""

from __future__ import annotations

import asyncio

import pytest
import strawberry

from api.errors import MASKED_MESSAGE, BadInputError, ErrorCodes, mask_errors
from okr.domain.errors import ObjectiveNotFoundError


@strawberry.type
class Query:
    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("SELECT * FROM secret_table WHERE password = 'hunter2'")

    @strawberry.field
    def bad(self) -> str:
        raise BadInputError("first must be between 1 and 100", field="first")

    @strawberry.field
    def missing(self) -> str:
        raise ObjectiveNotFoundError("objective x not found", field="objectiveId")


SCHEMA = strawberry.Schema(query=Query, extensions=[ErrorCodes, mask_errors])


def _errors(query: str) -> list[dict[str, object]]:
    result = asyncio.run(SCHEMA.execute(query))
    assert result.errors
    return [e.formatted for e in result.errors]


def test_unexpected_errors_are_masked() -> None:
    """A resolver's unexpected exception shows neither its message nor SQL: INTERNAL_SERVER_ERROR."""
    [error] = _errors("{ boom }")
    assert error["message"] == MASKED_MESSAGE
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in str(error)


def test_typed_errors_keep_message_code_and_field() -> None:
    """API and domain errors keep their message, code and field."""
    [bad] = _errors("{ bad }")
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    [missing] = _errors("{ missing }")
    assert missing["message"] == "objective x not found"
    assert missing["extensions"] == {"code": "OBJECTIVE_NOT_FOUND", "field": "objectiveId"}


def test_request_errors_are_coded() -> None:
    """Parse and validation errors describe the request and carry a code."""
    [parse] = _errors("{ boom ")
    assert parse["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    [invalid] = _errors("{ nothing }")
    assert invalid["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_strawberry_keeps_the_operation_name_the_client_sent() -> None:
    """SingleOperation reads `_provided_operation_name`: pinned to the installed strawberry, as
    `operation_name` falls back to the first operation's name when the client sent none."""
    from strawberry.types import ExecutionContext

    from api.extensions import requested_operation

    sent = ExecutionContext(query="{ a }", schema=SCHEMA, allowed_operations=(), provided_operation_name="B")
    unsent = ExecutionContext(query="{ a }", schema=SCHEMA, allowed_operations=())
    assert requested_operation(sent) == "B"
    assert requested_operation(unsent) is None


def test_a_document_with_two_operations_needs_an_operation_name() -> None:
    from api.extensions import OperationNameRequired, SingleOperation

    schema = strawberry.Schema(query=Query, extensions=[SingleOperation])
    with pytest.raises(OperationNameRequired) as refused:
        asyncio.run(schema.execute("query A { bad } query B { missing }"))
    assert refused.value.as_http_error_reason().startswith("the document has 2 operations (A, B)")
    named = asyncio.run(schema.execute("query A { bad } query B { missing }", operation_name="B"))
    assert named.errors and "objective x not found" in named.errors[0].message
