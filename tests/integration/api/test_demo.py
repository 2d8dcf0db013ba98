"""`okr demo`: the example org loads with history, answers every kind of query, and a second run
changes nothing."""

from __future__ import annotations

import argparse
from uuid import UUID

import pytest

from api.demo import Scale, load_demo, run
from okr.settings import Settings
from okr.wiring import build_application
from projections.model import AuditFilter, ObjectiveFilter, TaskFilter
from projections.runtime import start_runners


def test_demo_loads_a_realistic_org(sqlite_settings: Settings) -> None:
    """Support and growth objectives, linked and unlinked tasks, check-ins spread over weeks."""
    app = build_application(sqlite_settings)
    try:
        ids = load_demo(app, "demo", Scale(objectives=1, key_results=2, tasks=3))
        with start_runners(sqlite_settings, app) as runners:
            model = runners.read_model
            model.wait_for(app.max_position(), timeout=30)
            cycle = UUID(ids["cycle"])
            titles = {
                o.title for o in model.objectives("demo", ObjectiveFilter(cycle_id=cycle), first=100).items
            }
            assert "Delight customers with fast, first-time-right support" in titles
            assert "Make marketing a growth engine" in titles
            support = model.objective("demo", UUID(ids["support"]))
            assert support is not None
            assert {kr.title for kr in support.key_results} == {
                "Median first-response time",
                "CSAT",
                "First-contact resolution",
            }
            frt = next(kr for kr in support.key_results if kr.title == "Median first-response time")
            assert (frt.start, frt.target, frt.direction) == (6.0, 1.0, "DECREASE")
            growth = model.objectives("demo", ObjectiveFilter(team_id=UUID(ids["growthTeam"])), first=100)
            assert len([o for o in growth.items if o.cycle_id == cycle]) == 3
            tasks = model.tasks("demo", TaskFilter(), first=100).items
            assert any(t.key_result_id is None for t in tasks)
            assert any(t.key_result_id is not None for t in tasks)
            assert {t.state for t in tasks} >= {"TODO", "IN_PROGRESS", "DONE", "CANCELLED"}
            check_ins = model.check_ins("demo", frt.id, first=100).items
            assert len(check_ins) >= 1
            days = {c.at.date() for c in model.check_ins("demo", UUID(ids["mqls"]), first=100).items}
            assert len(days) == len(model.check_ins("demo", UUID(ids["mqls"]), first=100).items)
            previous = model.objectives(
                "demo", ObjectiveFilter(cycle_id=UUID(ids["previousCycle"])), first=10
            )
            assert [o.state for o in previous.items] == ["CLOSED"]
            assert previous.items[0].carried_over_to == UUID(ids["carriedOver"])
            audit = model.audit_log("demo", AuditFilter(actor="ana"), first=5)
            assert audit.total_count > 0
            dashboard = model.dashboard("demo", cycle)
            assert dashboard.objectives_total >= 5
            assert 0 < dashboard.alignment_ratio < 1
        with pytest.raises(ValueError, match="already exists"):
            load_demo(app, "demo")
    finally:
        app.close()


def test_demo_command_is_idempotent(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`okr demo` twice: the second run says the org exists and appends nothing."""
    monkeypatch.setenv("OKR_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("OKR_JWT_SECRET", "x" * 40)
    args = argparse.Namespace(org="acme", objectives=0, key_results=4, tasks=0)
    assert run(args) == 0
    assert "Authorization: Bearer " in capsys.readouterr().out
    app = build_application(sqlite_settings)
    before = app.max_position()
    app.close()
    assert run(args) == 0
    assert "already exists" in capsys.readouterr().out
    app = build_application(sqlite_settings)
    assert app.max_position() == before
    app.close()
