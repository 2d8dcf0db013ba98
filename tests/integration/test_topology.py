"""The production topology, smaller: separate API, worker and relay processes under load and SIGKILL.

Also pins what the first runs of that scenario found: a PostgreSQL log has gaps (a rolled-back
append still consumes its notification id), and consumers must pass them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from harness import topology
from harness.servers import fresh_database
from okr import commands as cmd
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
            cycle_id = app.execute(
                cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))
            ).id
            first, second = app.get_cycle(cycle_id), app.get_cycle(cycle_id)
            first.start_cycle()
            app.save(first)
            assert projector.process(100) == 2  # caught up: the next id would be 3
            second.start_cycle()
            with pytest.raises(IntegrityError):
                app.save(second)  # rolled back, but id 3 is spent
            app.execute(cmd.CloseCycle(cycle_id=cycle_id))
        ids = [n.id for n in app.recorder.select_notifications(1, 100)]
        assert ids == [1, 2, 4]
        projector.process(100)
        assert projector.load_positions() == dict.fromkeys(projector.positions, 4)
    finally:
        db.close()
        app.close()


@pytest.fixture
def topology_database(pg_database_url: str) -> Iterator[str]:
    """A database of its own: the processes use its public schema, as a deployment would."""
    with fresh_database(pg_database_url) as url:
        yield url


def test_topology_survives_sigkill_with_exactly_once_effects(
    topology_database: str, nats_url: str, tmp_path: Path
) -> None:
    """Two APIs, worker and relay as processes; SIGKILL API 2, worker and relay mid-load, restart:
    every accepted command is in the log once, views equal a rebuild, NATS got every event once."""
    config = topology.Config(
        throughput_commands=0,
        chaos_commands=200,
        concurrency=8,
        objectives=8,
        kill_relay=True,
        settle_timeout=60.0,
    )
    report = asyncio.run(topology.scenario(topology_database, nats_url, config, tmp_path))
    summary = json.dumps(report, indent=1, default=str)
    verify = report["verify"]
    assert report["chaos"]["killed"] == ["api2", "worker", "relay"], summary
    assert 0 < report["faults"]["killed_after_commands"] < config.chaos_commands, summary
    assert report["chaos"]["accepted"] + report["chaos"]["rejected"] == config.chaos_commands, summary
    assert report["chaos"]["accepted"] > 0, summary
    assert verify["accepted_exactly_once"], summary
    assert verify["rejected_absent"], summary
    assert verify["no_strays"], summary
    assert verify["views_at_head"], summary
    assert verify["views_equal_rebuild"], summary
    assert verify["nats_expected"] > config.chaos_commands, summary
    assert verify["nats_every_event_once"], summary
    assert verify["nats_in_log_order"], summary
    assert verify["clean_shutdown"], summary
    assert report["ok"], summary
