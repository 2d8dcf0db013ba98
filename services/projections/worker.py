"""`okr project [--name NAME]`: projection runners as a worker process.

Runs until SIGTERM or SIGINT, then finishes the current batch (whose positions are committed
with it) and exits 0. Several workers of the same view may run at once: they serialise on the
view's position row (PostgreSQL) or the database write lock (SQLite) and skip what another
already applied. `OKR_PROJECTION_BATCH` (default 1000) caps the events per transaction.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from projections._db import Database
from projections.runner import PositionSignal, Projector, Runner, ensure_schema
from projections.views import make_views

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    """CLI target of `okr project`."""
    from okr.settings import load_settings
    from okr.wiring import build_application

    try:
        views = make_views(getattr(args, "name", None))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    batch = int(os.environ.get("OKR_PROJECTION_BATCH", "1000"))
    if not 1 <= batch <= 100_000:
        print("OKR_PROJECTION_BATCH must be 1-100000", file=sys.stderr)
        return 2
    settings = load_settings()
    app = build_application(settings)
    db = Database(settings)
    ensure_schema(db, views)
    projector = Projector(db, app, views)
    start = dict(projector.load_positions())
    runner = Runner(projector, PositionSignal(), poll_interval=0.05, batch_size=batch)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.start()
    print(f"projecting {', '.join(f'{k} from {v}' for k, v in start.items())}", flush=True)
    while not stop.wait(0.5):
        if not runner.alive:
            print("runner stopped unexpectedly", file=sys.stderr)
            return 1
    runner.stop()
    print(f"stopped at {', '.join(f'{k} {v}' for k, v in projector.positions.items())}", flush=True)
    return 0
