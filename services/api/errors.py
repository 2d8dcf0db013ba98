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

    Errors without a path come from parsing, validation or variable coercion (graphql-core's and
    strawberry's messages about the request itself) — or from an extension hook that failed before
    execution (a database error while waiting for X-Consistent-With): those are masked too."""
    original = error.original_error
    if error.path is None:
        return not (original is None or isinstance(original, (GraphQLError, *EXPOSED)) or _library(original))
    return not isinstance(original, EXPOSED)


def _library(error: Exception) -> bool:
    """strawberry's and graphql-core's own errors describe the request (operation type, input)."""
    return type(error).__module__.split(".", 1)[0] in ("strawberry", "graphql")


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, EXPOSED):
        return str(getattr(original, "code", "BAD_REQUEST"))
    if error.message == MASKED_MESSAGE and original is None:
        return "INTERNAL_SERVER_ERROR"
    message = error.message
    if (
        "exceeds maximum operation depth" in message
        or "aliases found. Allowed" in message
        or "Document contains more than" in message
    ):
        return "QUERY_TOO_COMPLEX"
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") or "cannot represent" in message or "got invalid value" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Adds `extensions.code` (and `field` where known) to every error. Runs after masking:
    list it before MaskErrors (extensions exit in reverse order)."""

    def on_operation(self) -> Iterator[None]:
        yield
        add_codes(getattr(self.execution_context.result, "errors", None))


def add_codes(errors: list[GraphQLError] | None) -> None:
    """Sets `extensions.code` (and `field`) on errors that have none yet."""
    for error in errors or ():
        extensions = dict(error.extensions or {})
        if "code" in extensions:
            continue
        extensions["code"] = error_code(error)
        field = getattr(error.original_error, "field", None)
        if field:
            extensions.setdefault("field", field)
        error.extensions = extensions


def mask_unexpected(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    """MaskErrors for errors raised outside the operation's hooks (a failing extension hook
    becomes a pre-execution error that MaskErrors never sees)."""
    if not errors:
        return errors
    return [
        GraphQLError(MASKED_MESSAGE, nodes=e.nodes, path=e.path, original_error=None) if should_mask(e) else e
        for e in errors
    ]


def mask_errors() -> MaskErrors:
    return MaskErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE)
