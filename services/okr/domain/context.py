"""The request context: who acts, for which org, under which correlation — never command args.

Events read these through ContextVar default factories, so no command signature carries them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

ORG_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class RequestContext:
    """Who is acting: tenant, user, correlation and causation (the command id)."""

    org_id: str
    actor: str
    roles: frozenset[str] = frozenset({"admin"})
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        if not ORG_ID_PATTERN.match(self.org_id):
            msg = f"org id must match {ORG_ID_PATTERN.pattern}: {self.org_id!r}"
            raise ValueError(msg)
        if not 1 <= len(self.actor) <= 200:
            msg = "actor must be 1-200 characters"
            raise ValueError(msg)


_current: ContextVar[RequestContext | None] = ContextVar("okr_request_context", default=None)


class NoRequestContextError(RuntimeError):
    """A command ran outside `request_context(...)`."""


def current_context() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        msg = "no request context: wrap the command in okr.domain.request_context(...)"
        raise NoRequestContextError(msg)
    return ctx


def maybe_context() -> RequestContext | None:
    return _current.get()


@contextmanager
def request_context(ctx: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def now() -> datetime:
    """The context's clock (tests and `okr demo` may backdate), else the real UTC time."""
    ctx = _current.get()
    return ctx.clock() if ctx is not None else utc_now()


def new_command_context(ctx: RequestContext) -> RequestContext:
    """Same actor, org, correlation and clock, with a fresh causation (command) id."""
    return RequestContext(
        org_id=ctx.org_id,
        actor=ctx.actor,
        roles=ctx.roles,
        correlation_id=ctx.correlation_id,
        causation_id=str(uuid.uuid4()),
        clock=ctx.clock,
    )
