"""Relay benchmark: throughput against raw nats-py publishing, and commit-to-ack lag under load.

1. Builds a log of >= 100,000 events (objectives with key results, mostly check-ins) in a
   SQLite file (or a PostgreSQL schema with --store postgres).
2. Relay throughput: `RelayService.run_async(once=True)` publishes the whole log into a fresh
   stream: events/s including reading the log, decoding, building CloudEvents, async publishing
   in acknowledged batches and storing the position.
3. Baseline in the same run: the same messages (subjects, bodies, Nats-Msg-Id headers), already
   encoded in memory, published with raw nats-py `publish_async` + `publish_async_completed()`
   into another fresh stream with the same settings on the same server.
4. Lag: the relay runs in its background thread while `check_in` commands arrive at a steady
   rate (default 200/s for 10 s); lag = JetStream ack time - commit time, per event (p50, p99).

Run:  .venv/bin/python -m bench.relay [--events 100000] [--rate 200] [--seconds 10]
      [--store sqlite|postgres] [--rounds 2] (raw and relay runs alternate; the best round of each
      is compared)
(uses OKR_TEST_NATS_URL / OKR_TEST_DATABASE_URL when set, else throwaway servers). Last line: JSON.
Goals (issue 5): relay >= 0.5x raw publishing; lag p99 <= 50 ms at 200 commands/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import nats
from tests.harness.servers import nats_server, postgres_server

from okr import commands as cmd
from okr import log as event_log
from okr.application import OkrApplication, system_context
from okr.domain import Objective, request_context
from okr.domain.key_result import KeyResultSpec
from okr.settings import Settings
from okr.wiring import build_application
from relay.contracts import CloudEventMessage, to_message
from relay.service import RelayService, stream_config

ORG = "bench"


def build_log(app: OkrApplication, events: int) -> int:
    """Objectives with two KRs each and ~250 check-ins; saved one objective per write."""
    per_objective = 250
    written = 0
    with request_context(system_context(ORG, "bench")):
        while written < events:
            objective = Objective.draft(cycle_id=uuid.uuid4(), team_id=None, owner="bench", title="Grow")
            krs = [
                objective.add_key_result(
                    KeyResultSpec.build(title=f"KR {i}", kind="NUMERIC", start=0, target=1000)
                )
                for i in range(2)
            ]
            objective.activate(strict_policies=False)
            for i in range(per_objective - 4):
                objective.check_in(krs[i % 2], value=float(i), confidence=0.8, note="weekly check-in")
            written += len(objective.pending_events)
            app.save(objective)
    return written


def messages_of(app: OkrApplication, prefix: str) -> list[CloudEventMessage]:
    result = []
    position = 0
    while True:
        events, last = event_log.read(app, position, 5000)
        if last == position:
            return result
        result.extend(m for e in events if (m := to_message(e, prefix=prefix)) is not None)
        position = last


async def raw_publish(url: str, settings: Settings, messages: Sequence[CloudEventMessage]) -> float:
    """Seconds to publish the messages with raw nats-py async publishing (acks awaited)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=4000)
        await js.add_stream(stream_config(settings))
        started = time.perf_counter()
        for m in messages:
            await js.publish_async(m.subject, m.body, headers={"Nats-Msg-Id": m.id})
        await js.publish_async_completed()
        return time.perf_counter() - started
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(settings.nats_stream)
        await nc.close()


async def delete_stream(url: str, name: str) -> None:
    nc = await nats.connect(url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_lag(settings: Settings, rate: float, seconds: float) -> dict[str, float]:
    """Relay in its thread; `rate` check-ins per second; lag = ack time - commit time."""
    app = build_application(settings)
    commits: dict[int, float] = {}
    acks: dict[int, float] = {}

    def on_acked(messages: Sequence[CloudEventMessage]) -> None:
        now = time.perf_counter()
        for m in messages:
            acks[m.position] = now

    app.add_commit_listener(lambda position: commits.__setitem__(position, time.perf_counter()))
    with request_context(system_context(ORG, "bench")):
        cycle = app.execute(
            cmd.ScheduleCycle(name="Q", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
        ).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Lag")).id
        kr = app.execute(
            cmd.AddKeyResult(objective_id=objective, title="KR", kind="NUMERIC", start=0, target=1e9)
        ).id
        app.execute(cmd.ActivateObjective(objective_id=objective))
    relay = RelayService(settings, app, batch_size=1000, on_acked=on_acked)
    relay.start()
    try:
        assert relay.wait_for(app.max_position(), 600), "the relay did not catch up before the lag run"
        first = app.max_position() + 1
        count = int(rate * seconds)
        interval = 1.0 / rate
        started = time.perf_counter()
        with request_context(system_context(ORG, "bench")):
            for i in range(count):
                target = started + i * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=float(i)))
        achieved = count / (time.perf_counter() - started)
        assert relay.wait_for(app.max_position(), 30), "the relay fell behind"
    finally:
        relay.stop()
        app.close()
    lags = [(acks[p] - commits[p]) * 1000 for p in commits if p >= first and p in acks]
    return {
        "commands": float(count),
        "achieved_rate": round(achieved, 1),
        "lag_p50_ms": round(percentile(lags, 0.50), 2),
        "lag_p99_ms": round(percentile(lags, 0.99), 2),
        "lag_max_ms": round(max(lags), 2),
        "measured": float(len(lags)),
    }


@contextlib.contextmanager
def store(kind: str) -> Iterator[Settings]:
    tmp = Path(tempfile.mkdtemp(prefix="okr-bench-relay-"))
    if kind == "sqlite":
        yield Settings(data_dir=tmp, aggregate_cache_size=10_000)
        return
    import psycopg

    with postgres_server() as url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        yield Settings(data_dir=tmp, database_url=url, database_schema=schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating raw/relay rounds (best counts)")
    args = parser.parse_args()

    with nats_server() as url, store(args.store) as base:
        tag = uuid.uuid4().hex[:8]
        settings = base.model_copy(
            update={
                "nats_url": url,
                "nats_stream": f"BENCH_RELAY_{tag}",
                "nats_subject_prefix": f"bench{tag}",
            }
        )
        app = build_application(settings)
        t0 = time.perf_counter()
        events = build_log(app, args.events)
        print(f"log: {events} events written in {time.perf_counter() - t0:.1f} s ({args.store})")

        messages = messages_of(app, f"benchraw{tag}")
        raw_rates: list[float] = []
        relay_rates: list[float] = []
        for round_no in range(1, args.rounds + 1):
            # Alternate raw and relay runs, each into a fresh stream (the machine is shared and
            # noisy: the best of the rounds is the comparable ceiling of each).
            raw_settings = settings.model_copy(
                update={"nats_stream": f"BENCH_RAW_{tag}_{round_no}", "nats_subject_prefix": f"benchraw{tag}"}
            )
            raw_seconds = asyncio.run(raw_publish(url, raw_settings, messages))
            raw_rates.append(len(messages) / raw_seconds)
            print(
                f"round {round_no}: raw nats-py publish_async: {len(messages)} messages"
                f" in {raw_seconds:.2f} s = {raw_rates[-1]:,.0f}/s"
            )
            run_settings = settings.model_copy(update={"nats_stream": f"BENCH_RELAY_{tag}_{round_no}"})
            relay = RelayService(run_settings, app, batch_size=args.batch_size)
            t0 = time.perf_counter()
            code = asyncio.run(relay.run_async(once=True))
            relay_seconds = time.perf_counter() - t0
            assert code == 0, "the relay failed"
            assert relay.published == len(messages), (relay.published, len(messages))
            relay_rates.append(relay.published / relay_seconds)
            print(
                f"round {round_no}: relay (read+decode+CloudEvent+publish+ack+position): {relay.published}"
                f" in {relay_seconds:.2f} s = {relay_rates[-1]:,.0f}/s"
            )
            asyncio.run(delete_stream(url, run_settings.nats_stream))
        raw_rate, relay_rate = max(raw_rates), max(relay_rates)
        ratio = relay_rate / raw_rate
        print(f"best: relay {relay_rate:,.0f}/s vs raw {raw_rate:,.0f}/s -> {ratio:.2f}x raw (goal >= 0.5x)")
        app.close()

        lag = measure_lag(settings, args.rate, args.seconds)
        print(
            f"lag at {lag['achieved_rate']:.0f} commands/s ({lag['measured']:.0f} events): "
            f"p50 {lag['lag_p50_ms']:.2f} ms, p99 {lag['lag_p99_ms']:.2f} ms, max {lag['lag_max_ms']:.2f} ms "
            "(goal p99 <= 50 ms)"
        )
        asyncio.run(delete_stream(url, settings.nats_stream))
        nc_version = "unknown"
        with contextlib.suppress(Exception):
            nc_version = asyncio.run(_server_version(url))
    print(
        json.dumps(
            {
                "bench": "relay",
                "store": args.store,
                "nats_server": nc_version,
                "events": events,
                "raw_publish_per_s": round(raw_rate),
                "relay_per_s": round(relay_rate),
                "relay_vs_raw": round(ratio, 3),
                "raw_rounds_per_s": [round(r) for r in raw_rates],
                "relay_rounds_per_s": [round(r) for r in relay_rates],
                "lag_rate_per_s": lag["achieved_rate"],
                "lag_p50_ms": lag["lag_p50_ms"],
                "lag_p99_ms": lag["lag_p99_ms"],
                "lag_max_ms": lag["lag_max_ms"],
                "goals_met": ratio >= 0.5 and lag["lag_p99_ms"] <= 50,
            }
        )
    )


async def _server_version(url: str) -> str:
    nc = await nats.connect(url)
    try:
        return str(nc.connected_server_version)
    finally:
        await nc.close()


if __name__ == "__main__":
    main()
