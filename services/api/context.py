"""Per-process services and the per-request context (principal, DataLoaders, consistency)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from api.auth import AuthenticationError, JwtKeys, Principal, bearer_token, decode_token
from api.cache import PositionCache
from api.errors import ApiError, BadInputError
from okr.application import OkrApplication
from okr.domain import RequestContext, request_context
from okr.settings import Settings
from projections.model import (
    ApprovalView,
    CheckInView,
    CommentView,
    CycleView,
    Dashboard,
    ForecastSeries,
    InstantReads,
    KeyResultView,
    ObjectiveView,
    Page,
    ReadModel,
    SeriesRequest,
    TaskView,
    TeamView,
    TreeNode,
)

if TYPE_CHECKING:
    from api.feed import EventFeed
    from projections.runtime import RunnerHandle
    from relay.positions import PositionStore
    from relay.service import RelayService

T = TypeVar("T")

CONSISTENCY_HEADER = "x-consistent-with"
MAX_CONSISTENCY_WAIT_S = 10.0
DASHBOARD_TTL_S = 1.0  # dashboards are reused while the views stand still, for at most 1 s


@dataclass
class Services:
    """Everything a request may use; built once in the app's lifespan."""

    settings: Settings
    app: OkrApplication
    read_model: ReadModel
    keys: JwtKeys
    feed: EventFeed
    writer: Executor | None = None  # commands run here (None: the default executor)
    runners: RunnerHandle | None = None  # the view runners, when they run in this process
    relay: RelayService | None = None  # the NATS relay, when it runs in this process
    relay_positions: PositionStore | None = None  # the relay's stored position (NATS configured)
    dashboards: PositionCache[Dashboard] = field(init=False)

    def __post_init__(self) -> None:
        self.dashboards = PositionCache(self.read_model.position, ttl=DASHBOARD_TTL_S)


def parse_uuid(value: str, field_name: str) -> UUID:
    """Malformed ids are a typed BAD_USER_INPUT error, never a 500."""
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise BadInputError(f"{field_name} {str(value)[:80]!r} is not a valid id", field=field_name) from None


def _in_context(ctx: RequestContext, fn: Callable[[], T]) -> T:
    with request_context(ctx):
        return fn()


class Context(BaseContext):
    """The strawberry context of one request (or one WebSocket connection)."""

    def __init__(self, services: Services, principal: Principal | None, auth_error: str | None) -> None:
        super().__init__()
        self.services = services
        self._principal = principal
        self.auth_error = auth_error
        self.header_position: int | None = None
        self.header_error: str | None = None  # a malformed X-Consistent-With
        self._readers: dict[Instant | None, Reader] = {}

    # ------------------------------------------------------------------ identity
    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise ApiError(self.auth_error or "authentication required", code="UNAUTHENTICATED")
        return self._principal

    def check_not_expired(self) -> None:
        """Long-lived subscriptions end when their token expires."""
        if self.principal.expired:
            raise ApiError("token expired: reconnect with a fresh token", code="UNAUTHENTICATED")

    @property
    def authenticated(self) -> bool:
        return self._principal is not None

    def authenticate(self, authorization: str | None) -> None:
        """For WebSockets: the token may come in the connection_init payload."""
        try:
            self._principal = decode_token(bearer_token(authorization), self.services.keys)
            self.auth_error = None
        except AuthenticationError as exc:
            self.auth_error = str(exc)
            raise

    @property
    def org(self) -> str:
        return self.principal.org

    # ------------------------------------------------------------------ calls
    @property
    def app(self) -> OkrApplication:
        return self.services.app

    @property
    def read_model(self) -> ReadModel:
        return self.services.read_model

    async def write(self, fn: Callable[[], T]) -> T:
        """Runs a command on the writer threads under the caller's request context."""
        call = functools.partial(_in_context, self.principal.request_context(), fn)
        writer = self.services.writer
        if writer is None:
            return await asyncio.to_thread(call)
        return await asyncio.get_running_loop().run_in_executor(writer, call)

    async def read_as_caller(self, fn: Callable[[], T]) -> T:
        """A blocking read of the write side (aggregates) under the caller's request context."""
        return await asyncio.to_thread(_in_context, self.principal.request_context(), fn)

    async def read(self, fn: Callable[[], T]) -> T:
        """Runs a blocking read-model call in a worker thread."""
        return await asyncio.to_thread(fn)

    async def consistent(self, position: int | None) -> None:
        """Waits until the views reached max(position, X-Consistent-With) (read-your-writes)."""
        if self.header_error is not None:
            raise BadInputError(self.header_error, field="X-Consistent-With")
        if position is not None and position < 0:
            raise BadInputError("consistentWith must be a log position (>= 0)", field="consistentWith")
        wanted = max(position or 0, self.header_position or 0)
        if wanted <= 0:
            return
        if wanted <= self.services.feed.head:
            pass  # written already: wait for the views below
        elif wanted > await asyncio.to_thread(self.app.max_position):
            # never wait for a position nobody has written (it could hold a thread for seconds)
            raise BadInputError(
                f"consistentWith {wanted} is beyond the last written position", field="consistentWith"
            )
        await asyncio.to_thread(self.read_model.wait_for, wanted, MAX_CONSISTENCY_WAIT_S)

    # ------------------------------------------------------------------ readers (per request)
    def reset_loaders(self) -> None:
        """Forget cached loads and snapshots (a WebSocket connection keeps one context for many
        operations, and a subscription resolves each event afresh). Readers are only dropped,
        not closed: an operation running beside this one on the same connection may still hold
        one; a snapshot's in-memory database is freed with its last reference."""
        self._readers = {}

    def reader(self, when: Instant | None = None) -> Reader:
        """The reads of one instant in this request: live (None), as of a time or a log
        position (a snapshot from the log), or live once the views reached a write. Every
        nested field resolves through the reader of the object it hangs off, so one `asOf`
        root answers every field below it as of the same instant."""
        reader = self._readers.get(when)
        if reader is None:
            reader = Reader(self, when)
            self._readers[when] = reader
        return reader

    @property
    def objectives(self) -> DataLoader[UUID, ObjectiveView | None]:
        return self.reader().objectives

    @property
    def teams(self) -> DataLoader[UUID, TeamView | None]:
        return self.reader().teams

    @property
    def cycles(self) -> DataLoader[UUID, CycleView | None]:
        return self.reader().cycles


@dataclass(frozen=True)
class Instant:
    """What a part of a response is read at.

    - `time`: as of that moment (`asOf`) — a snapshot rebuilt from the log;
    - `position`: as of that log position — a snapshot (a replayed mutation's first result);
    - `after`: the live views once they reached that position (a mutation's own write)."""

    time: datetime | None = None
    position: int | None = None
    after: int | None = None

    @property
    def historical(self) -> bool:
        return self.time is not None or self.position is not None


class Reader:
    """All reads of one instant for one request, with their DataLoaders.

    A historical reader builds its snapshot once (on first use) and answers every field from
    it; a live reader reads the view tables (after waiting for `after`, if given)."""

    def __init__(self, ctx: Context, when: Instant | None) -> None:
        self.ctx = ctx
        self.when = when
        self._ready = asyncio.Lock()
        self._done = when is None
        self._snapshot: InstantReads | None = None
        self._closed = False
        self.objectives: DataLoader[UUID, ObjectiveView | None] = DataLoader(load_fn=self._objectives)
        self.teams: DataLoader[UUID, TeamView | None] = DataLoader(load_fn=self._teams)
        self.cycles: DataLoader[UUID, CycleView | None] = DataLoader(load_fn=self._cycles)
        self.comment_counts: DataLoader[str, int] = DataLoader(load_fn=self._comment_counts)
        self.approvals: DataLoader[UUID, ApprovalView | None] = DataLoader(load_fn=self._approvals)

    async def _prepare(self) -> InstantReads | None:
        if self._done:
            return self._snapshot
        async with self._ready:
            if not self._done:
                when = self.when
                assert when is not None
                if when.historical:
                    org, read_model = self.ctx.org, self.ctx.read_model
                    self._snapshot = await asyncio.to_thread(
                        read_model.snapshot, org, as_of=when.time, position=when.position
                    )
                    if self._closed:  # the operation ended while the snapshot was built
                        self._snapshot.close()
                else:
                    await self.ctx.consistent(when.after)
                self._done = True
        if self._closed:
            raise ApiError("this operation has ended", code="BAD_REQUEST")
        return self._snapshot

    def close(self) -> None:
        self._closed = True
        if self._snapshot is not None:
            self._snapshot.close()

    async def _call(self, historical: Callable[[InstantReads], T], live: Callable[[ReadModel, str], T]) -> T:
        snapshot = await self._prepare()
        if snapshot is not None:
            return await asyncio.to_thread(historical, snapshot)
        read_model, org = self.ctx.read_model, self.ctx.org
        return await asyncio.to_thread(live, read_model, org)

    @property
    def at(self) -> datetime | None:
        """The instant the figures are evaluated at (None: now)."""
        return None if self.when is None else self.when.time

    # ------------------------------------------------------------------ forecasts
    async def instant(self) -> datetime:
        """The instant the figures are evaluated at: the snapshot's (as of), else now."""
        snapshot = await self._prepare()
        return snapshot.at if snapshot is not None else self.ctx.read_model.now()

    @functools.cached_property
    def series(self) -> DataLoader[SeriesRequest, ForecastSeries]:
        """The forecasts' series, batched over key results, as of this reader's instant."""
        return DataLoader(load_fn=self._series)

    @functools.cached_property
    def trees(self) -> DataLoader[UUID, list[TreeNode]]:
        return DataLoader(load_fn=self._trees)

    @functools.cached_property
    def memo(self) -> dict[object, Any]:
        """Results of this instant that several fields of one request share (forecasts)."""
        return {}

    async def _series(self, requests: list[SeriesRequest]) -> list[ForecastSeries]:
        await self._prepare()
        when, read_model, org = self.when, self.ctx.read_model, self.ctx.org
        position = None if when is None else when.position
        if when is not None and when.historical:
            # every view up to the instant (the snapshot waited for the log's index only)
            head = position if position is not None else await asyncio.to_thread(self.ctx.app.max_position)
            await asyncio.to_thread(read_model.wait_for, head, MAX_CONSISTENCY_WAIT_S)
        keys = list(requests)
        return await asyncio.to_thread(read_model.forecast_series, org, keys, position)

    async def _trees(self, cycle_ids: list[UUID]) -> list[list[TreeNode]]:
        return [await self.tree(cycle_id) for cycle_id in cycle_ids]

    # ------------------------------------------------------------------ loaders
    async def _objectives(self, ids: list[UUID]) -> list[ObjectiveView | None]:
        keys = list(ids)
        return await self._call(
            lambda s: s.objectives_by_ids(keys), lambda r, o: r.objectives_by_ids(o, keys)
        )

    async def _teams(self, ids: list[UUID]) -> list[TeamView | None]:
        keys = list(ids)
        return await self._call(lambda s: s.teams_by_ids(keys), lambda r, o: r.teams_by_ids(o, keys))

    async def _cycles(self, ids: list[UUID]) -> list[CycleView | None]:
        found = {c.id: c for c in await self._call(lambda s: s.cycles(), lambda r, o: r.cycles(o))}
        return [found.get(i) for i in ids]

    # ------------------------------------------------------------------ queries
    async def objective(self, objective_id: UUID) -> ObjectiveView | None:
        return await self.objectives.load(objective_id)

    async def cycle(self, cycle_id: UUID) -> CycleView | None:
        return await self.cycles.load(cycle_id)

    async def key_result(self, key_result_id: UUID) -> KeyResultView | None:
        return await self._call(
            lambda s: s.key_result(key_result_id), lambda r, o: r.key_result(o, key_result_id)
        )

    async def tree(self, cycle_id: UUID) -> list[TreeNode]:
        return await self._call(lambda s: s.tree(cycle_id), lambda r, o: r.tree(o, cycle_id))

    async def dashboard(self, cycle_id: UUID, team_id: UUID | None) -> Dashboard:
        return await self._call(
            lambda s: s.dashboard(cycle_id, team_id), lambda r, o: r.dashboard(o, cycle_id, team_id)
        )

    async def task(self, task_id: UUID) -> TaskView | None:
        return await self._call(lambda s: s.task(task_id), lambda r, o: r.task(o, task_id))

    async def check_ins(self, key_result_id: UUID, first: int, after: str | None) -> Page[CheckInView]:
        return await self._call(
            lambda s: s.check_ins(key_result_id, first, after),
            lambda r, o: r.check_ins(o, key_result_id, first, after),
        )

    # ------------------------------------------------------------------ discussion
    async def _comment_counts(self, subject_ids: list[str]) -> list[int]:
        keys = list(subject_ids)
        return await self._call(lambda s: s.comment_counts(keys), lambda r, o: r.comment_counts(o, keys))

    async def _approvals(self, ids: list[UUID]) -> list[ApprovalView | None]:
        keys = list(ids)
        return await self._call(lambda s: s.approvals(keys), lambda r, o: r.approvals(o, keys))

    async def comments(self, subject_id: str, first: int, after: str | None) -> Page[CommentView]:
        return await self._call(
            lambda s: s.comments(subject_id, first, after),
            lambda r, o: r.comments(o, subject_id, first, after),
        )

    async def replies(self, thread_id: UUID, first: int, after: str | None) -> Page[CommentView]:
        return await self._call(
            lambda s: s.replies(thread_id, first, after),
            lambda r, o: r.replies(o, thread_id, first, after),
        )

    async def comment(self, comment_id: UUID) -> CommentView | None:
        return await self._call(lambda s: s.comment(comment_id), lambda r, o: r.comment(o, comment_id))
