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
