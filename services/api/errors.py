"""Errors the API shows as they are (typed, with `extensions.code`) — everything else is masked."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from okr.domain.errors import DomainError
from projections.model import ConsistencyTimeoutError, InvalidCursorError

MASKED_MESSAGE = "Unexpected error."


class ApiError(Exception):
    """An expected failure of a query or subscription (not of a mutation: those use payloads)."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class BadInputError(ApiError):
    code = "BAD_USER_INPUT"


class ForbiddenError(ApiError):
    code = "FORBIDDEN"


class NotFoundApiError(ApiError):
    code = "NOT_FOUND"


EXPOSED = (ApiError, DomainError, ConsistencyTimeoutError, InvalidCursorError)


def should_mask(error: GraphQLError) -> bool:
    """Mask resolver failures that are not one of our typed errors.

    Errors without a path come from parsing, validation or variable coercion: graphql-core's
    messages about the request itself, never about our internals."""
    if error.path is None:
        return False
    return not isinstance(error.original_error, EXPOSED)


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, EXPOSED):
        return str(getattr(original, "code", "BAD_REQUEST"))
    if error.message == MASKED_MESSAGE and original is None:
        return "INTERNAL_SERVER_ERROR"
    message = error.message
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") or "cannot represent" in message or "got invalid value" in message:
        return "BAD_USER_INPUT"
    if "exceeds maximum operation depth" in message or "maximum" in message.lower():
        return "QUERY_TOO_COMPLEX"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Adds `extensions.code` (and `field` where known) to every error. Runs after masking:
    list it before MaskErrors (extensions exit in reverse order)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        for error in errors:
            extensions = dict(error.extensions or {})
            extensions.setdefault("code", error_code(error))
            field = getattr(error.original_error, "field", None)
            if field:
                extensions.setdefault("field", field)
            error.extensions = extensions


def mask_errors() -> MaskErrors:
    return MaskErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE)
