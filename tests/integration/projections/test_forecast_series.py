"""The forecasts' series (SqlReadModel.forecast_series) on SQLite and PostgreSQL, from the demo."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from api.demo import load_demo
from okr.domain import formulas as f
from okr.settings import Settings
from okr.wiring import build_application
from projections.model import SeriesRequest
from projections.runtime import start_runners

pytestmark = pytest.mark.integration


def test_series_are_batched_bounded_by_the_instant_and_the_cycle(store_settings: Settings) -> None:
    """Check-ins of several key results in one call, within [since, until] and up to a position;
    a task-driven key result's tallies come in log order."""
    app = build_application(store_settings)
    try:
        ids = load_demo(app, "demo")
        with start_runners(store_settings, app) as runners:
            model = runners.read_model
            model.wait_for(app.max_position(), timeout=60)
            cycle = model.cycle("demo", UUID(ids["cycle"]))
            assert cycle is not None
            start, _ = f.cycle_window(cycle.start, cycle.end)
            now = model.now()
            support = model.objective("demo", UUID(ids["support"]))
            dach = model.objective("demo", UUID(ids["dach"]))
            assert support is not None and dach is not None
            pages = next(kr for kr in dach.key_results if kr.source == "TASKS")
            requests = [
                SeriesRequest(kr.id, kr.objective_id, False, start, now) for kr in support.key_results
            ]
            requests.append(SeriesRequest(pages.id, pages.objective_id, True, start, now))
            series = model.forecast_series("demo", requests)
            for kr, got in zip(support.key_results, series[:-1], strict=True):
                assert len(got.check_ins) == kr.check_in_count > 0 and got.tallies == []
                assert [p.at for p in got.check_ins] == sorted(p.at for p in got.check_ins)
                assert got.check_ins[-1].value == kr.current
            tallies = series[-1].tallies
            assert {t.task_id for t in tallies} and tallies == sorted(tallies, key=lambda t: t.at)
            assert sum(1 for t in tallies if t.done) >= 1  # the demo completes landing pages
            # bounded by an earlier instant: the later check-ins are not there
            first = series[0].check_ins
            cut = first[1].at + timedelta(seconds=1)
            early = model.forecast_series(
                "demo", [SeriesRequest(requests[0].key_result_id, support.id, False, start, cut)]
            )
            assert [p.at for p in early[0].check_ins] == [p.at for p in first[:2]]
            # and by a log position: the demo's first position holds no check-in
            assert model.forecast_series("demo", requests[:1], until_position=1)[0].check_ins == []
            # another org's series are not visible
            assert model.forecast_series("other", requests[:1])[0].check_ins == []
    finally:
        app.close()
