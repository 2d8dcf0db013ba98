"""A long-lived subscription's memory stays flat per event (no I/O: strawberry in process).

graphql-core 3.3 memoises collected sub-fields in a dict shared by a subscription's per-event
executors, keyed by the id of each event's field lists: without api.schema's
PerEventExecutionContext that dict gained entries on every event for the life of the
subscription."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema import PerEventExecutionContext


@strawberry.type
class Inner:
    a: int
    b: str


@strawberry.type
class Item:
    n: int

    @strawberry.field
    def inner(self) -> list[Inner]:
        return [Inner(a=self.n, b="x"), Inner(a=-self.n, b="y")]


@strawberry.type
class Query:
    ok: bool = True


def _schema(context_class: type[Any]) -> strawberry.Schema:
    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def items(self, count: int) -> AsyncGenerator[Item, None]:
            for n in range(count):
                yield Item(n=n)

    return strawberry.Schema(query=Query, subscription=Subscription, execution_context_class=context_class)


def _growth(context_class: type[Any], warm: int = 300, more: int = 1500) -> int:
    """Bytes still allocated after `more` further events than after `warm` events."""

    async def run() -> int:
        results = await _schema(context_class).subscribe(
            "subscription { items(count: 100000) { n inner { a b } } }"
        )
        assert not isinstance(results, strawberry.types.ExecutionResult)
        seen = 0
        base = 0
        async for result in results:
            assert not result.errors
            seen += 1
            if seen == warm:
                gc.collect()
                base = tracemalloc.get_traced_memory()[0]
            if seen == warm + more:
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - base
                await results.aclose()  # type: ignore[attr-defined]
                return grown
        raise AssertionError("the subscription ended early")

    tracemalloc.start()
    try:
        return asyncio.run(run())
    finally:
        tracemalloc.stop()


def test_a_subscriptions_memory_does_not_grow_with_its_events() -> None:
    """1,500 more events keep well under 100 kB; graphql-core's own executor grows several
    times more over the same events (so the measure can tell)."""
    ours = _growth(PerEventExecutionContext)
    theirs = _growth(StrawberryGraphQLCoreExecutionContext)
    assert ours < 100_000, ours
    assert theirs > 3 * max(ours, 1), (ours, theirs)
