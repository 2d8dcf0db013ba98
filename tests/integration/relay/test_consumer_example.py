"""examples/consumer.py against a real nats-server: one org's key-result figures, durable resume."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from harness.servers import free_port
from harness.streams import delete_stream, relay_settings_for
from okr import commands as cmd
from okr.application import system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from relay.service import RelayService

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "consumer.py"


@pytest.fixture
def settings(sqlite_settings: Settings, nats_url: str) -> Iterator[Settings]:
    value = relay_settings_for(sqlite_settings, nats_url)
    yield value
    delete_stream(nats_url, value.nats_stream)


def publish_org(settings: Settings, org: str, value: float) -> dict[str, str]:
    """An objective with two KRs, check-ins and a task (non-KR events), all published."""
    app = build_application(settings)
    with request_context(system_context(org, "alice")):
        cycle = app.execute(
            cmd.ScheduleCycle(name="Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
        ).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
        mqls = app.execute(
            cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", start=0, target=400)
        ).id
        hours = app.execute(
            cmd.AddKeyResult(objective_id=objective, title="Hours", kind="NUMERIC", start=9, target=1)
        ).id
        app.execute(cmd.ActivateObjective(objective_id=objective))
        app.execute(cmd.CheckInKeyResult(key_result_id=mqls, value=100))
        app.execute(cmd.CheckInKeyResult(key_result_id=mqls, value=value))
        app.execute(cmd.CheckInKeyResult(key_result_id=hours, value=3))
        app.execute(cmd.CreateTask(title="Not a key-result event"))
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


def _readme_consumer_command() -> list[str]:
    """The consumer command exactly as the README shows it (in its bash block)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    (line,) = [
        ln.strip()
        for ln in readme.splitlines()
        if ln.strip().startswith(".venv/bin/python examples/consumer.py")
    ]
    return line.split()


def test_the_readme_consumer_command_follows_the_demo_org_until_sigterm(settings: Settings) -> None:
    """As written in the README (`.venv/bin/python`, `--org demo`, no `--idle-exit`): it applies
    the demo org's events, reports them on stderr, and stops cleanly with a summary on SIGTERM.
    Stream and prefix come from the environment (a unique pair per test run)."""
    ids = publish_org(settings, "demo", value=200)
    command = _readme_consumer_command()
    assert (
        command[0] == ".venv/bin/python"
        and "--org" in command
        and command[command.index("--org") + 1] == "demo"
    )
    assert "--idle-exit" not in command
    command[0] = sys.executable  # the venv's interpreter, wherever this checkout's venv is
    command[command.index("--nats") + 1] = settings.nats_url or ""
    durable = command.index("--durable") + 1
    command[durable] = f"{command[durable]}-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "OKR_NATS_STREAM": settings.nats_stream,
        "OKR_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
    }
    process = subprocess.Popen(
        command,
        cwd=EXAMPLE.parents[1],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while "applied" not in seen:
            assert time.monotonic() < deadline, seen
            line = process.stderr.readline()
            assert line or process.poll() is None, seen
            seen += line
        assert "following" in seen and "demo" in seen
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary["key_results"]) == set(ids.values())


def _run_failing(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_missing_stream_is_a_clear_message_and_exit_code_2(nats_url: str) -> None:
    stream = f"OKR_MISSING_{uuid.uuid4().hex[:8]}"
    result = _run_failing(["--nats", nats_url, "--org", "demo", "--durable", "d1", "--stream", stream])
    assert result.returncode == 2, result.stderr
    assert f"no stream {stream!r}" in result.stderr and "okr relay --once" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreachable_server_is_a_clear_message_and_exit_code_2() -> None:
    port = free_port()  # nothing listens there
    result = _run_failing(["--nats", f"nats://127.0.0.1:{port}", "--org", "demo", "--durable", "d1"])
    assert result.returncode == 2, result.stderr
    assert "cannot connect to NATS" in result.stderr and "Traceback" not in result.stderr
