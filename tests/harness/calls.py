"""A command class bound to an application as a plain callable, for tests that pass "the
command" around before running it (tables of commands that must all fail alike)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from okr.application import CommandResult, OkrApplication
from okr.commands import Command


def bound(app: OkrApplication, command: type[Command]) -> Callable[..., CommandResult]:
    """`bound(app, CheckInKeyResult)(kr, value=5)` runs `app.execute(CheckInKeyResult(kr, value=5))`;
    an `idempotency_key=` keyword goes to execute."""

    def run(*args: Any, idempotency_key: str | None = None, **fields: Any) -> CommandResult:
        return app.execute(command(*args, **fields), idempotency_key=idempotency_key)

    run.__name__ = command.command_name
    return run
