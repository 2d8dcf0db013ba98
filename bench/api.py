"""GraphQL API throughput and latency against a real `okr serve` process, in one run.

1. framework floor: `{ __typename }` (auth, routing, GraphQL parse/validate/execute, JSON);
2. mutations: `checkInKeyResult` spread over 20 key results (a full write: command, aggregate,
   atomic save with the KR index, commit listeners), selecting `position errors { code }`;
3. dashboard: the `dashboard(cycleId)` query (counts by status and state, mean and expected
   progress, alignment ratios, outdated key results, policy warnings) on the demo org scaled to
   5 objectives x 4 key results x 50 tasks per key result (1,000 extra tasks;
   `okr demo --objectives 5 --key-results 4 --tasks 50`);
4. dashboard page: the same plus the cycle's objectives with their key results, team and cycle
   names (DataLoaders) — what a dashboard screen loads in one request (~600 fields).

Each phase sends a fixed number of requests with a bounded number in flight (an async httpx
client in this process, on the same cores as the server), after a warm-up. Prints requests/s,
p50 and p99 per phase and the ratios to the floor; the last line is one JSON object.
Goals (issue 4): mutations >= 0.7x and dashboard >= 0.5x the floor.

Before each phase the views are given time to catch up (/readyz lag 0), so phases do not overlap.

Run:  .venv/bin/python -m bench.api [--requests 2000] [--concurrency 16] [--store sqlite|postgres]
                                    [--topology embedded|split]
PostgreSQL: OKR_TEST_DATABASE_URL (else a throwaway cluster, tests/harness/servers.py). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.harness.servers import free_port, postgres_server, wait_port

from api.auth import JwtKeys, mint

SECRET = "bench-secret-" + "x" * 40
ORG = "bench"
FLOOR = "{ __typename }"
CHECK_IN = "mutation($i: CheckInKeyResultInput!) { checkInKeyResult(input: $i) { position errors { code } } }"
DASHBOARD = """query($c: ID!) {
  dashboard(cycleId: $c) {
    objectivesTotal meanProgress expectedProgress alignmentRatio objectivesAlignedRatio
    countsByStatus { status count } countsByState { state count } policyWarnings
    outdatedKeyResults { id title progress status }
  }
}"""
DASHBOARD_PAGE = """query($c: ID!) {
  dashboard(cycleId: $c) {
    objectivesTotal meanProgress expectedProgress alignmentRatio objectivesAlignedRatio
    countsByStatus { status count } policyWarnings
    outdatedKeyResults { id title objective { title } }
  }
  objectives(filter: {cycleId: $c}, first: 20) {
    totalCount
    edges { node {
      id title progress status outdated confidence grade warnings
      team { name } cycle { name }
      keyResults { id title current progress attainment status outdated tasksTotal tasksDone }
    } }
  }
}"""


@contextlib.contextmanager
def server(data_dir: Path, env: dict[str, str], topology: str) -> Iterator[str]:
    """`okr serve` (embedded: views in-process), or `okr serve --no-projections` + `okr project`."""
    port = free_port()
    log = (data_dir.parent / "server.log").open("w")
    split = topology == "split"
    command = [sys.executable, "-m", "okr.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--no-projections"] if split else command,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = (
        subprocess.Popen(
            [sys.executable, "-m", "okr.cli", "project"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if split
        else None
    )
    try:
        wait_port("127.0.0.1", port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        while httpx.get(f"{url}/readyz").status_code != 200:
            time.sleep(0.1)
        yield url
    finally:
        for proc in (process, worker):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        log.close()


def settle(url: str, timeout: float = 120.0) -> None:
    """Waits until the views have caught up with the log (so phases do not overlap)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checks = httpx.get(f"{url}/readyz").json().get("checks", {})
        if checks.get("views", {}).get("lag") == 0:
            return
        time.sleep(0.1)


async def phase(
    url: str, token: str, name: str, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, Any]:
    """Sends every body once with at most `concurrency` in flight; latencies in ms."""
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:

        async def one(body: dict[str, Any]) -> None:
            nonlocal errors
            async with gate:
                started = time.perf_counter()
                response = await client.post("/graphql", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                result = response.json()
                payload = next(iter((result.get("data") or {}).values()), None)
                if (
                    response.status_code != 200
                    or result.get("errors")
                    or (isinstance(payload, dict) and payload.get("errors"))
                ):
                    errors += 1

        warm = bodies[: max(concurrency, len(bodies) // 20)]
        await asyncio.gather(*(one(b) for b in warm))
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "phase": name,
        "requests": len(bodies),
        "errors": errors,
        "rps": round(len(bodies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def prepare(data_dir: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "okr.cli", "demo", "--org", ORG, "--objectives", "5", "--key-results", "4",
         "--tasks", "50"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def run(args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="okr-bench-api-"))
    data = tmp / "data"
    env = {
        "OKR_DATA_DIR": str(data),
        "OKR_JWT_SECRET": SECRET,
        "OKR_ENVIRONMENT": "production",
        "OKR_LOG_LEVEL": "WARNING",
    }
    schema = None
    if database_url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        env.update(OKR_DATABASE_URL=database_url, OKR_DATABASE_SCHEMA=schema)
    try:
        started = time.perf_counter()
        prepare(data, env)
        load_s = time.perf_counter() - started
        token = mint(JwtKeys("HS256", SECRET, SECRET), org=ORG, user="bench", roles=["admin"])
        with server(data, env, args.topology) as url:
            headers = {"Authorization": f"Bearer {token}"}
            found = httpx.post(
                f"{url}/graphql",
                headers=headers,
                json={"query": "{ cycles { id state } }"},
            ).json()["data"]["cycles"]
            cycle = next(c["id"] for c in found if c["state"] == "ACTIVE")
            objectives = httpx.post(
                f"{url}/graphql",
                headers=headers,
                json={
                    "query": "query($c: ID!) { objectives(filter: {cycleId: $c}, first: 100) "
                    "{ edges { node { title keyResults { id title } } } } }",
                    "variables": {"c": cycle},
                },
            ).json()["data"]["objectives"]["edges"]
            krs = [
                kr["id"]
                for e in objectives
                if e["node"]["title"].startswith("Platform objective")
                for kr in e["node"]["keyResults"]
            ]
            n = args.requests
            floor_bodies = [{"query": FLOOR}] * n
            mutation_bodies = [
                {
                    "query": CHECK_IN,
                    "variables": {"i": {"keyResultId": krs[i % len(krs)], "value": float(i % 97)}},
                }
                for i in range(n)
            ]
            dashboard_bodies = [{"query": DASHBOARD, "variables": {"c": cycle}}] * n
            page_bodies = [{"query": DASHBOARD_PAGE, "variables": {"c": cycle}}] * max(50, n // 4)
            results = {}
            for name, bodies in (
                ("floor", floor_bodies),
                ("mutation", mutation_bodies),
                ("dashboard", dashboard_bodies),
                ("dashboard_page", page_bodies),
                ("floor_again", floor_bodies),
            ):
                settle(url)
                results[name] = asyncio.run(phase(url, token, name, bodies, args.concurrency))
                print(
                    f"{name:12} {results[name]['rps']:8.1f} req/s  p50 {results[name]['p50_ms']:7.2f} ms"
                    f"  p99 {results[name]['p99_ms']:7.2f} ms  errors {results[name]['errors']}",
                    flush=True,
                )
        floor = max(results["floor"]["rps"], results["floor_again"]["rps"])
        return {
            "store": "postgres" if database_url else "sqlite",
            "topology": args.topology,
            "demo_load_s": round(load_s, 2),
            "concurrency": args.concurrency,
            "key_results_written": len(krs),
            **dict(results.items()),
            "floor_rps": floor,
            "mutation_ratio": round(results["mutation"]["rps"] / floor, 3),
            "dashboard_ratio": round(results["dashboard"]["rps"] / floor, 3),
            "dashboard_page_ratio": round(results["dashboard_page"]["rps"] / floor, 3),
            "goals": {"mutation_ratio": 0.7, "dashboard_ratio": 0.5},
        }
    finally:
        if database_url and schema:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--topology",
        choices=["embedded", "split"],
        default="embedded",
        help="embedded: views run inside okr serve; split: okr serve --no-projections + okr project",
    )
    args = parser.parse_args()
    if args.store == "postgres":
        with postgres_server() as url:
            summary = run(args, url)
    else:
        summary = run(args, None)
    print(
        f"mutations {summary['mutation_ratio']:.2f}x and dashboard {summary['dashboard_ratio']:.2f}x"
        f" the floor of {summary['floor_rps']:.0f} req/s ({summary['store']}, {summary['topology']})"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
