"""`okr remind [--once]`: the check-in reminder scheduler as a worker process.

It reads the read model (the views `okr serve` or `okr project` keep up to date; it runs no
runners itself) and appends CheckInDue / CheckInOverdue to the log, which the relay publishes on
`<prefix>.<org>.reminder.>`. Several workers (and `okr serve` replicas with OKR_REMINDERS=true)
may run at once: a reminder is emitted once whoever decides it first. `--once` runs one pass and
exits 0; otherwise a pass every OKR_REMINDER_INTERVAL_S seconds until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from bootstrap import runtime
from okr.reminders import ReminderScheduler
from okr.settings import load_settings


def run(args: argparse.Namespace) -> int:
    """CLI target of `okr remind`."""
    settings = load_settings()
    with runtime(settings, run_projections=False, run_relay=False, run_reminders=False) as rt:
        scheduler = ReminderScheduler(rt.app, rt.read_model, interval=settings.reminder_interval_s)
        if getattr(args, "once", False):
            print(scheduler.run_once(), flush=True)
            return 0
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"reminding every {settings.reminder_interval_s:g} s", flush=True)
        while not stop.is_set():
            report = scheduler.run_once()
            if report.due or report.overdue:
                print(report, flush=True)
            stop.wait(settings.reminder_interval_s)
        return 0
