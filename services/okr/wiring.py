"""Builds the write-side application from Settings (the edge: settings -> eventsourcing env)."""

from __future__ import annotations

import random
import time

from eventsourcing.persistence import IntegrityError, InternalError, OperationalError, ProgrammingError

from okr.application import OkrApplication
from okr.settings import Settings

_STARTUP_ATTEMPTS = 5


def build_application(settings: Settings) -> OkrApplication:
    """Creates the application (and its tables, idempotently).

    Several processes starting at once race on PostgreSQL's `CREATE TABLE IF NOT EXISTS`
    ("tuple concurrently updated", or a unique violation on the catalog); the loser tries again.
    """
    env = settings.eventsourcing_env()
    env["OKR_SNAPSHOT_INTERVAL"] = str(settings.snapshot_interval)
    for attempt in range(1, _STARTUP_ATTEMPTS + 1):
        try:
            return OkrApplication(env, retries=settings.command_retries)
        except (IntegrityError, InternalError, OperationalError, ProgrammingError):
            if attempt == _STARTUP_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.05, 0.2) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover
