"""The production topology on one machine, as separate OS processes, under load and SIGKILL.

Starts (or uses the configured) PostgreSQL and NATS JetStream servers and runs the scenario of
tests/harness/topology.py against them: two APIs, one projection worker and one relay as
separate processes (like deploy/compose.yaml); throughput through one API then two; SIGKILLs
mid-load and restarts; exactly-once verification of the log, the views and NATS; lag figures.

Run:  .venv/bin/python -m bench.topology [--commands 1500] [--concurrency 16] [--kill-relay]
Servers: OKR_TEST_DATABASE_URL / OKR_TEST_NATS_URL when set (a fresh database and a private
stream are used and removed), else throwaway ones (tests/harness/servers.py). The last line is JSON.
A smaller run of the same scenario is tests/integration/test_topology.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.harness.servers import nats_server, postgres_server
from tests.harness.topology import Config, scenario


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    with postgres_server() as db_url, nats_server() as nats_url:
        yield db_url, nats_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1500, help="check-ins in the fault run")
    parser.add_argument("--throughput-commands", type=int, default=1000, help="check-ins per throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--objectives", type=int, default=16, help="objectives (one key result each)")
    parser.add_argument("--kill-relay", action="store_true", help="SIGKILL and restart the relay too")
    parser.add_argument(
        "--okr-python",
        default=sys.executable,
        help="interpreter of the okr processes, e.g. a venv with the project installed as the image does",
    )
    args = parser.parse_args()
    config = Config(
        throughput_commands=args.throughput_commands,
        chaos_commands=args.commands,
        concurrency=args.concurrency,
        objectives=args.objectives,
        kill_relay=args.kill_relay,
        python=args.okr_python,
    )
    with servers() as (db_url, nats_url), tempfile.TemporaryDirectory(prefix="okr-topology-") as tmp:
        print(f"PostgreSQL fresh database, NATS {nats_url}; {os.cpu_count()} cores; work dir {tmp}")
        report = asyncio.run(scenario(db_url, nats_url, config, Path(tmp)))
        if not report.get("ok"):
            for name in ("api1", "api2", "worker", "relay"):
                log = Path(tmp) / f"{name}.log"
                if log.exists():
                    print(f"--- {name}.log (tail)\n" + "\n".join(log.read_text().splitlines()[-15:]))
    t = report["throughput"]
    if t:
        print(
            f"throughput: one API {t['one_api_per_s']} check-ins/s (p50 {t['one_api_p50_ms']} ms),"
            f" two APIs {t['two_apis_per_s']}/s (p50 {t['two_apis_p50_ms']} ms): x{t['two_over_one']}"
        )
        print(
            f"CPU per unit of work: API {t['one_api_api_cpu_ms_per_command']}"
            f" / {t['two_apis_api_cpu_ms_per_command']}"
            f" ms per check-in (one / two APIs), worker {t['two_apis_worker_cpu_ms_per_event']} ms per event,"
            f" relay {t['two_apis_relay_cpu_ms_per_event']} ms per event,"
            f" {t['two_apis_events_per_command']} log events per check-in"
        )
    c = report["chaos"]
    print(
        f"faults: SIGKILL {', '.join(c['killed'])}"
        f" after {report['faults']['killed_after_commands']} commands,"
        f" API 2 back after {report['faults']['api2_back_after_s']} s; {c['accepted']} accepted,"
        f" {c['rejected']} rejected {c['rejected_codes']}, {c['retried_requests']} retried"
        f" ({c['replayed_after_retry']} answered as replays), {c['per_s']}/s"
    )
    lag = report["lag"]
    print(
        f"lag: views max {lag['views_max_lag_positions']} positions / {lag['views_max_lag_seconds']} s,"
        f" relay max {lag['relay_max_lag_positions']} / {lag['relay_max_lag_seconds']} s;"
        f" caught up after the last command: {report['catch_up_after_last_command_s']}"
    )
    v = report["verify"]
    print(
        f"verify: exactly once {v['accepted_exactly_once']}, rejected absent {v['rejected_absent']},"
        f" views = rebuild {v['views_equal_rebuild']}, NATS {v['nats_unique']}/{v['nats_expected']} unique"
        f" ({v['nats_duplicates']} duplicates) in order {v['nats_in_log_order']},"
        f" clean SIGTERM {v['clean_shutdown']} -> {'OK' if report['ok'] else 'FAILED'}"
    )
    print(json.dumps({"bench": "topology", **report}, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
