"""The relay under faults: SIGKILL mid-batch, and NATS going away while commands continue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import nats
import pytest

from harness.servers import NatsProcess
from harness.streams import delete_stream, public_events, read_subject, relay_settings_for
from okr.application import OkrApplication, system_context
from okr.domain import Team, request_context
from okr.settings import Settings
from okr.wiring import build_application
from relay.positions import SqlitePositionStore, open_position_store
from relay.service import RelayService

pytestmark = pytest.mark.integration


def create_teams(app: OkrApplication, org: str, count: int, chunk: int = 250) -> None:
    """`count` Team.Created events, saved `chunk` aggregates per atomic write (fast on both stores)."""
    with request_context(system_context(org, "alice")):
        for start in range(0, count, chunk):
            app.save(*(Team.create(f"Team {i}", None) for i in range(start, min(start + chunk, count))))


def relay_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKR_")}
    env.update(
        OKR_NATS_URL=settings.nats_url or "",
        OKR_NATS_STREAM=settings.nats_stream,
        OKR_NATS_SUBJECT_PREFIX=settings.nats_subject_prefix,
        OKR_DATA_DIR=str(settings.data_dir),
        OKR_LOG_LEVEL="WARNING",
    )
    if settings.database_url:
        env["OKR_DATABASE_URL"] = settings.database_url
        env["OKR_DATABASE_SCHEMA"] = settings.database_schema or ""
    return env


def stream_messages(nats_url: str, stream: str) -> int:
    async def count() -> int:
        nc = await nats.connect(nats_url)
        try:
            try:
                info = await nc.jetstream().stream_info(stream)
            except nats.js.errors.NotFoundError:
                return 0
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


async def kill_while_publishing(proc: subprocess.Popen[bytes], url: str, stream: str, total: int) -> None:
    """SIGKILLs the relay as soon as its first messages reach the stream (a batch is in flight)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the relay exited on its own"
            assert time.monotonic() < deadline, "the relay published nothing within 60 s"
            try:
                count = (await js.stream_info(stream)).state.messages
            except nats.js.errors.NotFoundError:
                count = 0
            assert count < total, "the relay finished before a batch was seen in flight"
            if count:  # the first batch is on its way: it cannot be acked and stored yet
                proc.send_signal(signal.SIGKILL)
                return
            await asyncio.sleep(0.001)
    finally:
        await nc.close()


@pytest.fixture
def relay_settings(store_settings: Settings, nats_url: str) -> Iterator[Settings]:
    settings = relay_settings_for(store_settings, nats_url)
    yield settings
    delete_stream(nats_url, settings.nats_stream)


def test_sigkill_mid_batch_then_restart_delivers_every_event_once_in_order(
    relay_settings: Settings, org: str
) -> None:
    """`okr relay` killed with SIGKILL mid-batch and restarted: all events, in order, none doubled."""
    settings = relay_settings
    url = settings.nats_url or ""
    total, batch = 5000, 2000
    app = build_application(settings)
    create_teams(app, org, total)
    command = [sys.executable, "-m", "okr.cli", "relay", "--batch-size", str(batch)]
    proc = subprocess.Popen(command, env=relay_env(settings), stderr=subprocess.DEVNULL)
    try:
        asyncio.run(kill_while_publishing(proc, url, settings.nats_stream, total))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    published_before = stream_messages(url, settings.nats_stream)
    store = open_position_store(settings)
    stored = store.load()
    store.close()
    assert proc.returncode == -signal.SIGKILL
    assert 0 < published_before < total, "the kill did not land while the relay was publishing"
    assert stored < published_before, "the last batch was published but not yet recorded"

    restarted = subprocess.run(
        [*command, "--once"], env=relay_env(settings), capture_output=True, timeout=120, check=False
    )
    assert restarted.returncode == 0, restarted.stderr.decode()
    messages = read_subject(url, settings.nats_stream, ">", expect=total, timeout=10)
    bodies = [json.loads(m.data) for m in messages]
    expected = public_events(app)
    app.close()
    assert len(messages) == total, "JetStream stored a duplicate"
    assert len({b["id"] for b in bodies}) == total
    assert [b["position"] for b in bodies] == [n.id for n in expected]


def test_nats_outage_commands_continue_and_every_event_arrives(sqlite_settings: Settings, org: str) -> None:
    """NATS stopped for a few seconds: commands succeed, the relay lags, then catches up in order."""
    server = NatsProcess().start()
    settings = relay_settings_for(sqlite_settings, server.url)
    app = build_application(settings)
    relay = RelayService(settings, app, batch_size=50, max_backoff=0.5)
    relay.start()
    try:
        create_teams(app, org, 20, chunk=1)
        assert relay.wait_for(app.max_position(), timeout=10)
        server.stop()
        outage_end = time.monotonic() + 3.0
        during = 0
        while time.monotonic() < outage_end:
            create_teams(app, org, 5, chunk=1)
            during += 5
            time.sleep(0.1)
        lag = relay.lag()
        assert lag.positions >= during - 5
        assert not lag.connected
        assert lag.last_error is not None
        server.start()
        create_teams(app, org, 10, chunk=1)
        assert relay.wait_for(app.max_position(), timeout=20), relay.lag()
        assert relay.lag().positions == 0
    finally:
        relay.stop()
    expected = public_events(app)
    app.close()
    try:
        messages = read_subject(server.url, settings.nats_stream, ">", expect=len(expected))
    finally:
        server.close()
    bodies = [json.loads(m.data) for m in messages]
    assert len(expected) == 30 + during
    assert [b["position"] for b in bodies] == [n.id for n in expected]


def test_sigterm_stops_the_worker_cleanly_with_its_position_stored(
    sqlite_settings: Settings, nats_url: str, org: str
) -> None:
    """`okr relay` on SIGTERM finishes its batch, stores the position and exits 0."""
    settings = relay_settings_for(sqlite_settings, nats_url)
    app = build_application(settings)
    create_teams(app, org, 300)
    proc = subprocess.Popen(
        [sys.executable, "-m", "okr.cli", "relay", "--batch-size", "100"],
        env=relay_env(settings),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while stream_messages(nats_url, settings.nats_stream) < 300:
            assert time.monotonic() < deadline, "the worker did not publish the log"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        delete_stream(nats_url, settings.nats_stream)
    store = open_position_store(settings)
    try:
        assert proc.returncode == 0, stderr.decode()
        assert store.load() == app.max_position() == 300
    finally:
        store.close()
        app.close()


def test_position_write_waits_out_a_held_sqlite_lock(sqlite_settings: Settings) -> None:
    """A position write while another connection holds the write lock retries, then succeeds."""
    sqlite_settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = str(sqlite_settings.sqlite_path)
    store = SqlitePositionStore(path, "OKR_EVENTS")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, lambda: blocker.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        store.save(42)
        waited = time.monotonic() - started
    finally:
        release.join()
        blocker.close()
    assert waited >= 0.15, "the write did not wait for the lock"
    assert store.load() == 42
    store.save(41)  # positions never go backwards
    assert store.load() == 42
    store.close()
