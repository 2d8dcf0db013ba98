"""examples/consumer.py against a real nats-server: one org's key-result figures, durable resume."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from test_relay_publish import delete_stream, relay_settings_for

from okr.application import system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from projections.relay import RelayService

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer.py"


@pytest.fixture
def settings(sqlite_settings: Settings, nats_url: str) -> Iterator[Settings]:
    value = relay_settings_for(sqlite_settings, nats_url)
    yield value
    delete_stream(nats_url, value.nats_stream)


def publish_org(settings: Settings, org: str, value: float) -> dict[str, str]:
    """An objective with two KRs, check-ins and a task (non-KR events), all published."""
    app = build_application(settings)
    with request_context(system_context(org, "alice")):
        cycle = app.schedule_cycle(name="Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31)).id
        app.start_cycle(cycle)
        objective = app.draft_objective(cycle_id=cycle, title="Grow").id
        mqls = app.add_key_result(objective, title="MQLs", kind="NUMERIC", start=0, target=400).id
        hours = app.add_key_result(objective, title="Hours", kind="NUMERIC", start=9, target=1).id
        app.activate_objective(objective)
        app.check_in(mqls, value=100)
        app.check_in(mqls, value=value)
        app.check_in(hours, value=3)
        app.create_task(title="Not a key-result event")
    relay = RelayService(settings, app)
    assert asyncio.run(relay.run_async(once=True)) == 0
    app.close()
    return {"mqls": str(mqls), "hours": str(hours)}


def run_example(settings: Settings, org: str, durable: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--nats",
            settings.nats_url or "",
            "--org",
            org,
            "--durable",
            durable,
            "--stream",
            settings.nats_stream,
            "--prefix",
            settings.nats_subject_prefix,
            "--idle-exit",
            "1",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    summary: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return summary


async def _consumer_exists(url: str, stream: str, durable: str) -> bool:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().consumer_info(stream, durable)
        return True
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()


def test_example_consumer_keeps_one_orgs_key_result_figures(settings: Settings) -> None:
    """The example sees only its org's KR events, derives progress, acks, and resumes durably."""
    mine, other = (f"org-{uuid.uuid4().hex[:8]}" for _ in range(2))
    ids = publish_org(settings, mine, value=370)
    publish_org(settings, other, value=10)
    durable = f"kr-dashboard-{uuid.uuid4().hex[:6]}"

    first = run_example(settings, mine, durable)
    assert first["applied"] == 5  # 2 KeyResultAdded + 3 KeyResultCheckedIn, nothing of the other org
    assert first["duplicates"] == 0
    assert set(first["key_results"]) == set(ids.values())
    mqls = first["key_results"][ids["mqls"]]
    assert (mqls["current"], mqls["check_ins"], mqls["progress"]) == (370, 2, 0.925)
    assert first["key_results"][ids["hours"]]["progress"] == 0.75
    assert first["mean_progress"] == round((0.925 + 0.75) / 2, 4)

    again = run_example(settings, mine, durable)
    assert again["applied"] == 0, "acknowledged events were delivered again to the durable consumer"
    assert asyncio.run(_consumer_exists(settings.nats_url or "", settings.nats_stream, durable))
