"""The composition root: settings -> store -> application -> read model -> runners -> relay.

Every process (`okr serve`, `okr project`, `okr relay`, `okr replay`, tests and benchmarks) wires
the same parts here and nowhere else; the API adds its own (keys, the live feed, the writer
pool) on top of a `Runtime`. Everything `runtime()` starts is stopped in reverse order, also when
a later step fails.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from okr.application import OkrApplication
from okr.reminders import ReminderScheduler
from okr.settings import Settings
from okr.wiring import build_application
from projections.runtime import RunnerHandle, SqlReadModel, build_read_model, start_runners
from relay.positions import PositionStore, open_position_store
from relay.service import RelayService

log = logging.getLogger(__name__)

__all__ = ["Runtime", "build_application", "runtime"]


@dataclass(frozen=True)
class Runtime:
    """The parts of one process. `runners`: the view runners when they run in this process;
    `relay`: the NATS relay when it runs here; `relay_positions`: the relay's stored position
    (read-only, for its lag wherever it runs) when NATS is configured."""

    settings: Settings
    app: OkrApplication
    read_model: SqlReadModel
    runners: RunnerHandle | None = None
    relay: RelayService | None = None
    relay_positions: PositionStore | None = None
    reminders: ReminderScheduler | None = None


@contextlib.contextmanager
def runtime(
    settings: Settings,
    *,
    run_projections: bool = True,
    run_relay: bool | None = None,
    run_reminders: bool | None = None,
) -> Iterator[Runtime]:
    """Builds and starts the parts; `run_relay` defaults to "when OKR_NATS_URL is set",
    `run_reminders` (the check-in reminder scheduler) to OKR_REMINDERS (on in development)."""
    with contextlib.ExitStack() as stack:
        app = build_application(settings)
        stack.callback(_quietly, app.close)
        read_model = build_read_model(settings, app)
        stack.callback(_quietly, read_model.close)
        runners = None
        if run_projections:
            runners = start_runners(settings, app, read_model=read_model)
            stack.callback(_quietly, runners.stop)
        relay = None
        relay_positions = None
        if settings.nats_url:
            if run_relay if run_relay is not None else True:
                relay = RelayService(settings, app)
                relay.start()
                stack.callback(_quietly, relay.stop)
            relay_positions = open_position_store(settings)
            stack.callback(_quietly, relay_positions.close)
        reminders = None
        if run_reminders if run_reminders is not None else settings.reminders_enabled:
            reminders = ReminderScheduler(app, read_model, interval=settings.reminder_interval_s)
            reminders.start()
            stack.callback(_quietly, reminders.stop)
        yield Runtime(settings, app, read_model, runners, relay, relay_positions, reminders=reminders)


def _quietly(stop: object) -> None:
    """Runs a stop/close; a failure is logged and the next one still runs."""
    try:
        stop()  # type: ignore[operator]
    except Exception:
        log.exception("stopping %s failed", getattr(stop, "__qualname__", stop))
