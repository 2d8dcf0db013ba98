"""Per-process services and the per-request context (principal, DataLoaders, consistency)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
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
from projections.model import CycleView, Dashboard, ObjectiveView, ReadModel, TeamView

if TYPE_CHECKING:
    from api.feed import EventFeed

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
    extras: dict[str, Any] = field(default_factory=dict)
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
        self._loaders: dict[str, DataLoader[Any, Any]] = {}

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

    # ------------------------------------------------------------------ loaders (per request)
    def reset_loaders(self) -> None:
        """Forget cached loads (a WebSocket connection keeps one context for many operations)."""
        self._loaders.clear()

    def _loader(self, name: str, load: Callable[[list[Any]], Any]) -> DataLoader[Any, Any]:
        loader = self._loaders.get(name)
        if loader is None:
            loader = DataLoader(load_fn=load)
            self._loaders[name] = loader
        return loader

    @property
    def objectives(self) -> DataLoader[UUID, ObjectiveView | None]:
        org = self.org

        async def load(ids: list[UUID]) -> list[ObjectiveView | None]:
            return await self.read(lambda: self.read_model.objectives_by_ids(org, list(ids)))

        return self._loader("objectives", load)

    @property
    def teams(self) -> DataLoader[UUID, TeamView | None]:
        org = self.org

        async def load(ids: list[UUID]) -> list[TeamView | None]:
            return await self.read(lambda: self.read_model.teams_by_ids(org, list(ids)))

        return self._loader("teams", load)

    @property
    def cycles(self) -> DataLoader[UUID, CycleView | None]:
        org = self.org

        async def load(ids: list[UUID]) -> list[CycleView | None]:
            found = {c.id: c for c in await self.read(lambda: self.read_model.cycles(org))}
            return [found.get(i) for i in ids]

        return self._loader("cycles", load)
