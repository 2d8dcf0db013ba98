"""Subscriptions (graphql-transport-ws), scoped to the token's org, fed by api.feed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from api import _doc as doc
from api.context import Context, parse_uuid
from api.errors import ApiError, BadInputError, NotFoundApiError
from api.feed import FeedEvent, TooManySubscriptionsError
from api.reports import Event
from api.types import Objective

Info = strawberry.Info[Context, None]
MAX_FILTER_VALUES = 50


@strawberry.input
class EventFilter:
    aggregate_types: list[str] | None = strawberry.field(
        default=None, description="Cycle, Team, Objective, Task, Organization"
    )
    event_types: list[str] | None = strawberry.field(
        default=None, description='"KeyResultCheckedIn" or "Objective.KeyResultCheckedIn"'
    )
    aggregate_id: strawberry.ID | None = None

    def matcher(self) -> tuple[frozenset[str], frozenset[str], str | None]:
        types = frozenset(self.aggregate_types or ())
        events = frozenset(self.event_types or ())
        if len(types) > MAX_FILTER_VALUES or len(events) > MAX_FILTER_VALUES:
            raise BadInputError(f"filters take at most {MAX_FILTER_VALUES} values")
        aggregate = None if self.aggregate_id is None else str(parse_uuid(self.aggregate_id, "aggregateId"))
        return types, events, aggregate


def to_event(e: FeedEvent) -> Event:
    return Event(
        position=e.position,
        at=e.at,
        aggregate_type=e.aggregate_type,
        aggregate_id=strawberry.ID(str(e.aggregate_id)),
        version=e.version,
        event_type=e.event_type,
        actor=e.actor,
        correlation_id=e.correlation_id,
        causation_id=e.causation_id,
        payload=cast(JSON, e.payload),
    )


async def _check_after(ctx: Context, after_position: int | None) -> None:
    """A resume position must be one the log has reached (as `consistentWith` in queries): one
    beyond the head would be accepted and never yield."""
    if after_position is None:
        return
    if after_position < 0:
        raise BadInputError("afterPosition must be a log position (>= 0)", field="afterPosition")
    if after_position > await asyncio.to_thread(ctx.app.max_position):
        raise BadInputError(
            f"afterPosition {after_position} is beyond the last written position", field="afterPosition"
        )


async def _feed(
    ctx: Context, after: int | None, accept: Callable[[FeedEvent], bool]
) -> AsyncIterator[FeedEvent]:
    """The org's feed for one subscription: admitted under the per-token and per-process caps,
    replayed through the read model's audit view, and ended at the token's `exp` by a timer
    (UNAUTHENTICATED "token expired", then complete), whether or not an event comes."""
    ctx.check_not_expired()
    principal, settings, feed = ctx.principal, ctx.services.settings, ctx.services.feed
    key = (principal.org, principal.token_id)  # the token: its jti, else a digest of it
    try:
        slot = feed.limits.admit(key, settings.max_subscriptions_per_token, settings.max_subscriptions)
        slot.__enter__()
    except TooManySubscriptionsError as exc:
        raise ApiError(str(exc), code="TOO_MANY_SUBSCRIPTIONS") from None
    source = feed.subscribe(principal.org, after, accept, views=ctx.read_model)
    loop = asyncio.get_running_loop()
    deadline = None if principal.expires_at is None else loop.time() + (principal.expires_at - time.time())
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    event = await anext(source)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ApiError(
                    "token expired: reconnect with a fresh token", code="UNAUTHENTICATED"
                ) from None
            ctx.check_not_expired()
            yield event
    finally:
        await cast(AsyncGenerator[FeedEvent, None], source).aclose()
        slot.__exit__(None, None, None)


@strawberry.type
class Subscription:
    @doc.subscription("This org's events as they happen (in log order).")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        after_position: Annotated[
            int | None,
            strawberry.argument(description="Resume after this log position (default: from now on)."),
        ] = None,
    ) -> AsyncGenerator[Event, None]:
        ctx = info.context
        await _check_after(ctx, after_position)
        types, names, aggregate = (filter or EventFilter()).matcher()

        def accept(e: FeedEvent) -> bool:
            return (
                (not types or e.aggregate_type in types)
                and (not names or e.event_type in names or e.qualified_type in names)
                and (aggregate is None or str(e.aggregate_id) == aggregate)
            )

        async for event in _feed(ctx, after_position, accept):
            yield to_event(event)

    @doc.subscription("The objective each time it changes (after the views caught up).")
    async def objective_changed(
        self,
        info: Info,
        id: strawberry.ID,
        after_position: Annotated[
            int | None,
            strawberry.argument(
                description="Also report changes after this log position (default: from now on)."
            ),
        ] = None,
    ) -> AsyncGenerator[Objective, None]:
        ctx = info.context
        await _check_after(ctx, after_position)
        org, oid = ctx.org, parse_uuid(id, "id")
        if not (await ctx.read(lambda: ctx.read_model.objectives_by_ids(org, [oid])))[0]:
            raise NotFoundApiError(f"objective {oid} not found", field="id")

        def accept(e: FeedEvent) -> bool:
            return e.aggregate_id == oid

        async for event in _feed(ctx, after_position, accept):
            await ctx.consistent(event.position)
            ctx.reset_loaders()  # nested fields (team, cycle) must not come from an earlier event
            view = (await ctx.read(lambda: ctx.read_model.objectives_by_ids(org, [oid])))[0]
            if view is not None:
                yield Objective.from_view(view)
