"""A real `okr project` worker process: SIGKILL mid catch-up, restart, SIGTERM clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from projections._db import Database
from projections.replay import digest, rebuild
from projections.runner import ensure_schema, read_positions
from projections.views import VIEW_NAMES, make_views

pytestmark = pytest.mark.integration

EVENTS = 6_000


def _env(settings: Settings, batch: int) -> dict[str, str]:
    env = dict(os.environ, OKR_DATA_DIR=str(settings.data_dir), OKR_PROJECTION_BATCH=str(batch))
    env.pop("OKR_DATABASE_URL", None)
    env.pop("OKR_DATABASE_SCHEMA", None)
    if settings.database_url:
        env["OKR_DATABASE_URL"] = settings.database_url
        env["OKR_DATABASE_SCHEMA"] = settings.database_schema or ""
    return env


def _worker(settings: Settings, batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "okr.cli", "project"],
        env=_env(settings, batch),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fill(app: OkrApplication, org: str) -> None:
    """Many events quickly: one objective, thousands of check-ins saved in a few writes."""
    with request_context(system_context(org, "alice")):
        c = app.execute(cmd.ScheduleCycle(name="Q", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=c))
        o = app.execute(cmd.DraftObjective(cycle_id=c, title="Load")).id
        kr = app.execute(cmd.AddKeyResult(objective_id=o, title="n", kind="NUMERIC", start=0, target=1e6)).id
        app.execute(cmd.ActivateObjective(objective_id=o))
        for chunk in range(EVENTS // 1000):
            objective = app.get_objective(o)
            for i in range(1000):
                objective.check_in(kr, float(chunk * 1000 + i))
            app.save(objective)
        app.execute(cmd.CreateTask(title="t", key_result_id=kr))


def _positions(db: Database) -> dict[str, tuple[int, int]]:
    with db.read() as tx:
        return read_positions(tx, list(VIEW_NAMES))


def test_sigkill_mid_catch_up_then_restart_applies_everything_once(
    store_settings: Settings, org: str
) -> None:
    """Killed with SIGKILL mid catch-up and restarted: views equal a clean rebuild, nothing doubled."""
    app = build_application(store_settings)
    _fill(app, org)
    top = app.max_position()
    db = Database(store_settings)
    ensure_schema(db, make_views())
    worker = _worker(store_settings, batch=25)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            low = min(p for p, _ in _positions(db).values())
            if low > 200:
                break
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed_at = _positions(db)
    assert 0 < min(p for p, _ in killed_at.values()) < top, killed_at
    assert all(p == a for p, a in killed_at.values())  # position and applied counter agree
    restarted = _worker(store_settings, batch=500)
    try:
        deadline = time.monotonic() + 60
        while min(p for p, _ in _positions(db).values()) < top:
            assert time.monotonic() < deadline, _positions(db)
            time.sleep(0.05)
        restarted.send_signal(signal.SIGTERM)
        out, err = restarted.communicate(timeout=20)
    finally:
        if restarted.poll() is None:
            restarted.kill()
    assert restarted.returncode == 0, err
    assert "stopped at" in out
    assert _positions(db) == dict.fromkeys(VIEW_NAMES, (top, top))  # every event applied exactly once
    with db.read() as tx:
        assert tx.fetchone("SELECT COUNT(*) FROM proj_check_ins") == (EVENTS,)
        audit_rows = tx.fetchone("SELECT COUNT(*), COUNT(DISTINCT position) FROM proj_audit")
    assert audit_rows is not None
    assert audit_rows[0] == audit_rows[1]
    views = make_views()
    live = digest(db, views)
    rebuild(db, app, views)
    assert digest(db, views) == live
    db.close()


def test_worker_rejects_unknown_view_names(sqlite_settings: Settings, tmp_path: Path) -> None:
    """`okr project --name nope` exits 2 with a clear message and writes nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "okr.cli", "project", "--name", "nope"],
        env=_env(sqlite_settings, 100),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown view" in proc.stderr
    assert not sqlite_settings.sqlite_path.exists()
    assert not sqlite_settings.views_sqlite_path.exists()
