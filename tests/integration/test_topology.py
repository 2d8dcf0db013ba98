"""The production topology, smaller: separate API, worker and relay processes under load and SIGKILL.

Also pins what the first runs of that scenario found: a PostgreSQL log has gaps (a rolled-back
append still consumes its notification id), and consumers must pass them.
"""

from __future__ import annotations

from datetime import date

import pytest
from eventsourcing.persistence import IntegrityError

from okr.application import system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from projections._db import Database
from projections.runner import Projector, ensure_schema
from projections.views import make_views

pytestmark = pytest.mark.integration


def test_projector_passes_a_gap_left_by_a_rolled_back_append(pg_settings: Settings) -> None:
    """A conflicting save leaves a hole in the notification ids; the views still reach the head."""
    settings = pg_settings.model_copy(update={"aggregate_cache_size": 0})
    app = build_application(settings)
    db = Database(settings)
    views = make_views()
    ensure_schema(db, views)
    projector = Projector(db, app, views)
    try:
        with request_context(system_context("gap-org", "alice")):
            cycle_id = app.schedule_cycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31)).id
            first, second = app.get_cycle(cycle_id), app.get_cycle(cycle_id)
            first.start_cycle()
            app.save(first)
            assert projector.process(100) == 2  # caught up: the next id would be 3
            second.start_cycle()
            with pytest.raises(IntegrityError):
                app.save(second)  # rolled back, but id 3 is spent
            app.close_cycle(cycle_id)
        ids = [n.id for n in app.recorder.select_notifications(1, 100)]
        assert ids == [1, 2, 4]
        projector.process(100)
        assert projector.load_positions() == dict.fromkeys(projector.positions, 4)
    finally:
        db.close()
        app.close()
