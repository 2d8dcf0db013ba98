"""Per-operation schema extensions: fresh DataLoaders and latency metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import cast

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionContext

from okr.observability import observe_request


class RequestMetrics(SchemaExtension):
    """Records each operation's latency (okr_graphql_request_duration_seconds)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        kind = "unknown"
        with contextlib.suppress(Exception):
            kind = self.execution_context.operation_type.value
        observe_request(self.execution_context.operation_name, kind, time.perf_counter() - started)


class FreshLoaders(SchemaExtension):
    """Each operation starts with empty DataLoaders, also on a long-lived WebSocket context, and
    frees its time-travel snapshots when it ends."""

    def on_operation(self) -> Iterator[None]:
        reset = getattr(self.execution_context.context, "reset_loaders", None)
        if callable(reset):
            reset()
        yield
        if callable(reset):
            reset()


class ConsistencyHeader(SchemaExtension):
    """`X-Consistent-With: <position>`: the whole request waits for the views before executing,
    so every field (nested ones too) sees that write. A malformed header is refused here."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        consistent = getattr(context, "consistent", None)
        if callable(consistent) and (
            getattr(context, "header_position", None) or getattr(context, "header_error", None)
        ):
            await consistent(None)
        yield


class TokenNotExpired(SchemaExtension):
    """Every operation runs on a live token: a WebSocket connection outlives its token, and its
    later queries and mutations must not (subscriptions also check on every event)."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if getattr(context, "authenticated", False):
            context.check_not_expired()
        yield


class OperationNameRequired(CannotGetOperationTypeError):
    """A document with several operations and no operationName (the spec: refuse, run nothing)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(None)
        self.names = names

    def as_http_error_reason(self) -> str:
        return (
            f"the document has {len(self.names)} operations ({', '.join(self.names)}):"
            " say which one to run with operationName"
        )


class SingleOperation(SchemaExtension):
    """Refuses a document with several operations when no operationName picks one (strawberry
    would run the first), before anything is validated or executed.

    `ExecutionContext.operation_name` answers the first operation's name when the client sent
    none, so the name the client sent is read from `_provided_operation_name` (a unit test
    pins that attribute to the installed strawberry)."""

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is None or requested_operation(self.execution_context) is not None:
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            raise OperationNameRequired([d.name.value if d.name else "(anonymous)" for d in operations])


def requested_operation(execution_context: ExecutionContext) -> str | None:
    """The operationName of the request as the client sent it (None: not sent)."""
    return cast("str | None", getattr(execution_context, "_provided_operation_name", None))
