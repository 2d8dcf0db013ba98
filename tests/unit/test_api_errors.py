"""Error masking and codes (no I/O): typed errors show, anything else is 'Unexpected error.'."""

from __future__ import annotations

import asyncio

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
