"""Backtest of the key-result forecast (projections/forecast.py): band coverage and error.

Each case holds out an end value, forecasts it from the observations before a cut-off (40%, 60%
and 80% of the way to the end) and records whether the end value fell inside the 90% band
[low, high] and the absolute error of the forecast and of the naive "last value" forecast.

- generated series with known trends, a 91-day cycle with weekly check-ins (±1 day jitter):
  linear (slope 0.5/day, noise sd 2), damped (10 + 40·(1 − e^(−t/30)), sd 1.5), noisy (the line
  with sd 8), flat (50, sd 3); and a stress family that breaks the model's assumption of
  independent scatter around a trend, a random walk with drift (reported, not in the goal);
- the demo org (api.demo.load_demo in a temporary SQLite store): every key result with at
  least five check-ins, its last check-in held out as the end value, its series read through
  the read model (SqlReadModel.forecast_series) as the API reads it.

Goal: coverage within 80-95% for the nominal 90% band (pooled over the four known-trend
families) and a lower mean absolute error than "last value" on the trending ones (linear,
damped, noisy).

Run:  .venv/bin/python -m bench.forecast [--draws 300] [--seed 1]
Prints a table; the last line is one JSON object. Not a test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from api.demo import load_demo
from okr.domain import formulas as f
from okr.settings import Settings
from okr.wiring import build_application
from projections import forecast as fc
from projections.model import ObjectiveFilter, SeriesRequest
from projections.runtime import start_runners

CYCLE_DAYS = 91.0
CUTS = (0.4, 0.6, 0.8)
START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = fc.KeyResultTarget("NUMERIC", "INCREASE", 0, 100)
Trend = Callable[[np.ndarray], np.ndarray]

FAMILIES: dict[str, tuple[Trend, float]] = {
    "linear": (lambda t: 10 + 0.5 * t, 2.0),
    "damped": (lambda t: 10 + 40 * -np.expm1(-t / 30), 1.5),
    "noisy": (lambda t: 10 + 0.5 * t, 8.0),
    "flat": (lambda t: 50 + 0 * t, 3.0),
}
TRENDING = ("linear", "damped", "noisy")


@dataclass
class Tally:
    cases: int = 0
    inside: int = 0
    error: float = 0.0
    naive_error: float = 0.0
    widths: list[float] = field(default_factory=list)

    def add(self, result: fc.KeyResultForecast, end_value: float, last_value: float) -> None:
        self.cases += 1
        self.inside += result.low <= end_value <= result.high
        self.error += abs(result.value - end_value)
        self.naive_error += abs(last_value - end_value)
        self.widths.append(result.high - result.low)

    def row(self) -> dict[str, float | int]:
        n = max(1, self.cases)
        return {
            "cases": self.cases,
            "coverage": round(self.inside / n, 3),
            "mae": round(self.error / n, 3),
            "mae_last_value": round(self.naive_error / n, 3),
            "median_width": round(float(np.median(self.widths)) if self.widths else 0.0, 3),
        }

    def merge(self, other: Tally) -> None:
        self.cases += other.cases
        self.inside += other.inside
        self.error += other.error
        self.naive_error += other.naive_error
        self.widths.extend(other.widths)


def _at(days: float) -> datetime:
    return START + timedelta(days=float(days))


def generated(family: str, cut: float, draws: int, rng: np.random.Generator) -> Tally:
    tally = Tally()
    end = _at(CYCLE_DAYS)
    for _ in range(draws):
        weekly = np.arange(7.0, CYCLE_DAYS * cut, 7.0)
        days = weekly + rng.uniform(-1, 1, len(weekly))
        if family == "random walk":
            steps = np.diff(np.concatenate([[0.0], days, [CYCLE_DAYS]]))
            walk = 10 + np.cumsum(0.5 * steps + rng.normal(0, 1.5 * np.sqrt(steps)))
            values, end_value = walk[:-1], float(walk[-1])
        else:
            trend, sd = FAMILIES[family]
            values = trend(days) + rng.normal(0, sd, len(days))
            end_value = float(trend(np.array([CYCLE_DAYS]))[0] + rng.normal(0, sd))
        series = [fc.Point(_at(d), float(v)) for d, v in zip(days, values, strict=True)]
        result = fc.forecast_key_result(TARGET, series, START, end, _at(CYCLE_DAYS * cut))
        assert isinstance(result, fc.KeyResultForecast), result
        tally.add(result, end_value, series[-1].value)
    return tally


def demo(cut: float) -> Tally:
    """The demo org's key results with at least five check-ins, the last one held out."""
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        app = build_application(settings)
        try:
            load_demo(app, "demo")
            with start_runners(settings, app) as runners:
                model = runners.read_model
                model.wait_for(app.max_position(), timeout=60)
                requests = []
                targets = []
                for cycle in model.cycles("demo"):
                    start, end = f.cycle_window(cycle.start, cycle.end)
                    page = model.objectives("demo", ObjectiveFilter(cycle_id=cycle.id), first=100)
                    for objective in page.items:
                        for kr in objective.key_results:
                            if kr.source == "CHECK_INS" and kr.kind != "BOOLEAN" and kr.check_in_count >= 5:
                                requests.append(SeriesRequest(kr.id, objective.id, False, start, end))
                                targets.append(fc.KeyResultTarget(kr.kind, kr.direction, kr.start, kr.target))
                for request, target, series in zip(
                    requests, targets, model.forecast_series("demo", requests), strict=True
                ):
                    *history, held_out = series.check_ins
                    start = request.since
                    horizon = held_out.at
                    cut_at = start + (horizon - start) * cut
                    used = [p for p in history if p.at <= cut_at]
                    if len(used) < fc.MIN_POINTS:
                        continue
                    result = fc.forecast_key_result(target, used, start, horizon, cut_at)
                    assert isinstance(result, fc.KeyResultForecast), result
                    tally.add(result, held_out.value, used[-1].value)
        finally:
            app.close()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--draws", type=int, default=300, help="generated series per family and cut-off")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    began = time.perf_counter()
    rows: dict[str, dict[str, float | int]] = {}
    families: dict[str, Tally] = {}
    print(f"{'series':<14}{'cut':>5}{'cases':>7}{'coverage':>10}{'MAE':>10}{'MAE last':>10}{'width':>10}")
    for family in (*FAMILIES, "random walk", "demo"):
        families[family] = Tally()
        for cut in CUTS:
            tally = demo(cut) if family == "demo" else generated(family, cut, args.draws, rng)
            families[family].merge(tally)
            r = tally.row()
            rows[f"{family}@{cut}"] = r
            print(
                f"{family:<14}{cut:>5}{r['cases']:>7}{r['coverage']:>10.3f}{r['mae']:>10.3f}"
                f"{r['mae_last_value']:>10.3f}{r['median_width']:>10.3f}",
                flush=True,
            )
    pooled = Tally()
    for family in FAMILIES:
        pooled.merge(families[family])
    summary = {name: t.row() for name, t in families.items()}
    coverage = pooled.inside / pooled.cases
    beats_naive = {fam: summary[fam]["mae"] < summary[fam]["mae_last_value"] for fam in TRENDING}
    goal = 0.80 <= coverage <= 0.95 and all(beats_naive.values())
    print(f"{'-' * 66}")
    for name, r in summary.items():
        print(
            f"{name:<14}{'all':>5}{r['cases']:>7}{r['coverage']:>10.3f}{r['mae']:>10.3f}"
            f"{r['mae_last_value']:>10.3f}{r['median_width']:>10.3f}"
        )
    print(
        f"pooled coverage over {', '.join(FAMILIES)}: {coverage:.3f} (goal 0.80-0.95);"
        f" lower error than last value on {', '.join(f for f, ok in beats_naive.items() if ok) or 'none'}"
        f" of {', '.join(TRENDING)}; goal {'met' if goal else 'NOT met'}"
        f" ({time.perf_counter() - began:.0f}s)"
    )
    print(
        json.dumps(
            {
                "level": fc.LEVEL,
                "draws": args.draws,
                "pooled_coverage": round(coverage, 3),
                "beats_last_value": beats_naive,
                "goal_met": goal,
                "families": summary,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
