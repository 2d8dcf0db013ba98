"""Per-operation schema extensions: fresh DataLoaders and latency metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

from strawberry.extensions import SchemaExtension

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
    """Each operation starts with empty DataLoaders, also on a long-lived WebSocket context."""

    def on_operation(self) -> Iterator[None]:
        reset = getattr(self.execution_context.context, "reset_loaders", None)
        if callable(reset):
            reset()
        yield


class ConsistencyHeader(SchemaExtension):
    """`X-Consistent-With: <position>`: the whole request waits for the views before executing,
    so every field (nested ones too) sees that write."""

    async def on_execute(self) -> AsyncIterator[None]:
        consistent = getattr(self.execution_context.context, "consistent", None)
        if callable(consistent) and getattr(self.execution_context.context, "header_position", None):
            await consistent(None)
        yield
