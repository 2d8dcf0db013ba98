"""Command handlers, one module per aggregate: `@handles(CommandClass)` registers a function
`(app, command) -> Outcome` that loads what it needs through the application's lookups, lets the
aggregates check their rules, and returns every aggregate to save in one atomic write.

`OkrApplication.execute` looks the handler up in `HANDLERS`; a unit test checks that every
command in `okr.commands.COMMANDS` has exactly one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from okr.commands import Command
from okr.domain.base import OkrAggregate

if TYPE_CHECKING:
    from okr.application import OkrApplication

C = TypeVar("C", bound=Command)


@dataclass
class Outcome:
    """What a handler hands back: the aggregates to save (atomically) and the result."""

    save: list[OkrAggregate]
    id: UUID
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)


Handler = Callable[["OkrApplication", Any], Outcome]
HANDLERS: dict[type[Command], Handler] = {}


def handles(
    command: type[C],
) -> Callable[[Callable[[OkrApplication, C], Outcome]], Callable[[OkrApplication, C], Outcome]]:
    """Registers the decorated function as the handler of `command` (once)."""

    def register(handler: Callable[[OkrApplication, C], Outcome]) -> Callable[[OkrApplication, C], Outcome]:
        if command in HANDLERS:
            msg = f"{command.__name__} already has a handler"
            raise RuntimeError(msg)
        HANDLERS[command] = handler
        return handler

    return register


def _register_all() -> None:
    from okr.handlers import cycles, key_results, objectives, organization, tasks, teams

    _ = (cycles, key_results, objectives, organization, tasks, teams)
    from okr.handlers import reminders

    _ = (reminders,)
    from okr.handlers import approvals, comments

    _ = (approvals, comments)


_register_all()
