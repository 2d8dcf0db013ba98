"""Errors raised by an extension hook before execution (waiting for X-Consistent-With) are masked
like resolver errors: a database failure there used to reach the client verbatim."""

from __future__ import annotations

import asyncio
import logging

import pytest

from api.errors import BadInputError
from api.schema import build_schema
from okr.settings import Settings


class _HookContext:
    """The attributes the extensions read; `consistent` fails as the database would."""

    header_position = 5
    header_error = None
    authenticated = False

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    async def consistent(self, position: int | None) -> None:
        raise self.failure

    def reset_loaders(self) -> None:
        pass


def _errors(failure: Exception) -> list[dict[str, object]]:
    schema = build_schema(Settings())
    result = asyncio.run(schema.execute("{ __typename }", context_value=_HookContext(failure)))
    return [{"message": e.message, **(e.extensions or {})} for e in result.errors or ()]


def test_unexpected_hook_failure_is_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A database error in the consistency wait answers 'Unexpected error.' and is logged, not shown."""
    secret = "connection to server at 10.1.2.3 failed: password authentication failed for user okr"
    with caplog.at_level(logging.ERROR):
        errors = _errors(RuntimeError(secret))
    assert errors == [{"message": "Unexpected error.", "code": "INTERNAL_SERVER_ERROR"}]
    assert secret in caplog.text


def test_typed_hook_failure_stays_visible() -> None:
    """A typed error from the same hook (a malformed header) keeps its message and code."""
    errors = _errors(BadInputError("x-consistent-with must be a log position", field="X-Consistent-With"))
    assert errors == [
        {
            "message": "x-consistent-with must be a log position",
            "code": "BAD_USER_INPUT",
            "field": "X-Consistent-With",
        }
    ]
